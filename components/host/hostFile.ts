import * as pulumi from "@pulumi/pulumi";
import type { FileArtifact } from "../artifacts/types";
import { placeFileScript, removeFileScript } from "./commands";
import { hostCommand, type HostRef } from "./hostCommand";

/**
 * One file artifact on a host (`content`, when given, replaces the artifact's text, e.g. with a secret Output).
 * The content goes through stdin (a Pulumi secret when the file holds secrets); a content change updates the
 * file in place, and the file is removed on destroy.
 */
export function hostFile(
  name: string,
  host: HostRef,
  file: FileArtifact,
  opts: pulumi.CustomResourceOptions,
  content?: pulumi.Input<string>,
) {
  if (file.secret && content === undefined) throw new Error(`${name}: ${file.path} holds a secret; give its content`);
  return hostCommand(
    name,
    host,
    {
      create: placeFileScript(file),
      update: placeFileScript(file),
      delete: removeFileScript(file.path),
      stdin: file.secret ? pulumi.secret(content!) : (content ?? file.content),
    },
    { deleteBeforeReplace: true, ...opts },
  );
}

/** A resource name for an artifact: the component's name and the artifact's id. */
export const artifactResourceName = (component: string, id: string) =>
  `${component}-${id.replace(/[^A-Za-z0-9-]+/g, "-")}`;
