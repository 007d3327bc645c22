import type { HostPlan } from "../plan/plan";

/** What a placed file is for: components and `drkit apply` treat secrets and drop-ins specially. */
export type FileRole = "agent" | "settings" | "unit" | "postgres-conf" | "redis-conf" | "secret" | "monitoring";

/** Where a secret file's content comes from; the artifact's own `content` is then a placeholder. */
export type SecretSource =
  | { readonly of: "offsite-credentials"; readonly store: string }
  | { readonly of: "replication-pgpass" }
  | { readonly of: "replication-tls-key" }
  | { readonly of: "redis-auth" }
  | { readonly of: "redis-tls-key" };

interface ArtifactBase {
  /** Stable within a service, e.g. "agent:backup-base", "unit:base.timer", "step:apply-settings". */
  readonly id: string;
  readonly host: HostPlan;
}

export interface DirectoryArtifact extends ArtifactBase {
  readonly kind: "directory";
  readonly path: string;
  readonly mode: string;
  readonly owner: string;
  /** The user whose primary group owns the directory (default: the owner's). */
  readonly groupOf?: string;
  /** See DirectorySpec.groupReadsTree. */
  readonly groupReadsTree?: boolean;
}

export interface FileArtifact extends ArtifactBase {
  readonly kind: "file";
  /** Includes the host's sandbox root prefix, if any. */
  readonly path: string;
  readonly content: string;
  readonly mode: string;
  readonly owner: string;
  readonly group: string;
  readonly role: FileRole;
  /** Set when the content is a secret (kept a Pulumi secret, never logged); `content` is then a placeholder. */
  readonly secret?: SecretSource;
}

/** A command run on the host (as root) once the files before it are in place; `undo` on destroy. */
export interface StepArtifact extends ArtifactBase {
  readonly kind: "step";
  readonly description: string;
  readonly run: string;
  readonly undo?: string;
}

export type Artifact = DirectoryArtifact | FileArtifact | StepArtifact;
