import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { FileArtifact } from "../artifacts/types";
import { removeEmptyFoldersScript } from "./commands";
import { hostCommand, type HostRef } from "./hostCommand";
import { artifactResourceName, hostFile } from "./hostFile";

export interface HostAgentArgs {
  readonly host: HostRef;
  /** The agent's files and its settings file, from the service's artifacts. */
  readonly files: readonly FileArtifact[];
}

/** drkit's agent on one host: its library and verbs, verbatim, and the settings file they read. */
export class HostAgent extends pulumi.ComponentResource {
  readonly paths: pulumi.Output<string[]>;

  constructor(name: string, args: HostAgentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drkit:host:Agent", name, {}, opts);
    if (args.files.length === 0) throw new Error(`HostAgent ${name}: files must not be empty`);
    const bad = args.files.filter((f) => f.role !== "agent" && f.role !== "settings");
    if (bad.length)
      throw new Error(`HostAgent ${name}: ${bad.map((f) => f.id).join(", ")} are not agent or settings files`);
    // The agent's folders go on destroy, after their files, when nothing else is left in them.
    const folders = [...new Set(args.files.map((f) => path.posix.dirname(f.path)))];
    const folder = hostCommand(
      `${name}-folders`,
      args.host,
      { create: "true", delete: removeEmptyFoldersScript(folders) },
      { parent: this },
    );
    // Named by the part of the id after its last ":": "archive-wal", "lib.sh", "settings".
    for (const f of args.files)
      hostFile(artifactResourceName(name, f.id.slice(f.id.lastIndexOf(":") + 1)), args.host, f, {
        parent: this,
        dependsOn: [folder],
      });
    this.paths = pulumi.output(args.files.map((f) => f.path));
    this.registerOutputs({ paths: this.paths });
  }
}
