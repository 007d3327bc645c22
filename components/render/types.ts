/** A file drkit places on a host. `path` includes the host's sandbox root prefix, if any. */
export interface RenderedFile {
  readonly path: string;
  readonly content: string;
  readonly mode: string;
  readonly owner: string;
  readonly group: string;
  readonly kind: "script" | "unit" | "postgres-conf" | "redis-conf" | "secret";
  /** True when the content holds secrets (keep it a Pulumi secret, never log it). */
  readonly secret?: boolean;
}
