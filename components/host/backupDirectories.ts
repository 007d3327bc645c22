import * as pulumi from "@pulumi/pulumi";
import type { DirectoryArtifact } from "../artifacts/types";
import { makeDirectoriesScript, removeEmptyDirectoriesScript } from "./commands";
import { hostCommand, type HostRef } from "./hostCommand";

export interface BackupDirectoriesArgs {
  readonly host: HostRef;
  readonly directories: readonly DirectoryArtifact[];
}

/** The backup directories of a service, with owner and mode. Destroy removes only empty ones. */
export class BackupDirectories extends pulumi.ComponentResource {
  readonly paths: pulumi.Output<string[]>;

  constructor(name: string, args: BackupDirectoriesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drkit:host:BackupDirectories", name, {}, opts);
    if (args.directories.length === 0) throw new Error(`BackupDirectories ${name}: directories must not be empty`);
    const command = hostCommand(
      `${name}-mkdir`,
      args.host,
      {
        create: makeDirectoriesScript(args.directories),
        update: makeDirectoriesScript(args.directories),
        delete: removeEmptyDirectoriesScript(args.directories),
      },
      { parent: this },
    );
    this.paths = command.create.apply(() => args.directories.map((d) => d.path));
    this.registerOutputs({ paths: this.paths });
  }
}
