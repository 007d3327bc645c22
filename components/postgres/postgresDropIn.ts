import type * as pulumi from "@pulumi/pulumi";
import type { FileArtifact } from "../artifacts/types";
import { applyDropInScript, removeDropInScript } from "../host/commands";
import { hostCommand, type HostRef } from "../host/hostCommand";

/**
 * A PostgreSQL conf.d drop-in: placed, then loaded by the agent's apply-settings (reload, restart only when a
 * changed setting needs it); on delete removed and unloaded the same way.
 */
export function postgresDropIn(
  name: string,
  host: HostRef,
  dropIn: FileArtifact,
  applySettings: string,
  opts: pulumi.CustomResourceOptions,
) {
  return hostCommand(
    name,
    host,
    {
      create: applyDropInScript(dropIn, applySettings),
      update: applyDropInScript(dropIn, applySettings),
      delete: removeDropInScript(dropIn.path, applySettings),
      stdin: dropIn.content,
    },
    { deleteBeforeReplace: true, ...opts },
  );
}
