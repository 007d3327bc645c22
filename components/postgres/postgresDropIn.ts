import type * as pulumi from "@pulumi/pulumi";
import { applyDropInScript, removeDropInScript } from "../host/commands";
import { hostCommand, type HostRef } from "../host/hostCommand";
import type { ServicePlan } from "../plan/plan";
import { applySettingsScriptPath } from "../render/archiving";
import type { RenderedFile } from "../render/types";

/**
 * A PostgreSQL conf.d drop-in: placed, then loaded by apply-settings (reload, restart only when a
 * changed setting needs it); on delete removed and unloaded the same way.
 */
export function postgresDropIn(name: string, host: HostRef, plan: ServicePlan, dropIn: RenderedFile, opts: pulumi.CustomResourceOptions) {
  const apply = applySettingsScriptPath(plan);
  return hostCommand(
    name,
    host,
    { create: applyDropInScript(dropIn, apply), update: applyDropInScript(dropIn, apply), delete: removeDropInScript(dropIn.path, apply), stdin: dropIn.content },
    { deleteBeforeReplace: true, ...opts },
  );
}
