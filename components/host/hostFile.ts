import * as pulumi from "@pulumi/pulumi";
import type { RenderedFile } from "../render/types";
import { placeFileScript, removeFileScript } from "./commands";
import { hostCommand, type HostRef } from "./hostCommand";

/**
 * One rendered file on a host (`content`, when given, replaces the rendered text, e.g. with a secret Output). The content goes through stdin (a Pulumi secret when the file holds
 * secrets); a content change updates the file in place, and the file is removed on destroy.
 */
export function hostFile(name: string, host: HostRef, file: RenderedFile, opts: pulumi.CustomResourceOptions, content?: pulumi.Input<string>) {
  return hostCommand(
    name,
    host,
    {
      create: placeFileScript(file),
      update: placeFileScript(file),
      delete: removeFileScript(file.path),
      stdin: file.secret ? pulumi.secret(content ?? file.content) : (content ?? file.content),
    },
    { deleteBeforeReplace: true, ...opts },
  );
}

/** A resource name for a file: the component's name and the file's base name. */
export const fileResourceName = (component: string, path: string) => `${component}-${path.split("/").pop()!.replace(/\./g, "-")}`;
