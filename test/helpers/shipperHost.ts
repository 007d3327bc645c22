import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { AGENT_LIBRARY, agentDirectory, agentFileNames } from "../../components/agent/agentFiles";
import { renderServiceEnv, serviceEnvPath } from "../../components/agent/serviceEnv";
import { credentialsFileContent } from "../../components/objectstore/mcHost";
import { buildPlan, type ServicePlan } from "../../components/plan/plan";
import { mcBinary, type MinioServer } from "./minio";
import { tempRoot } from "./sandbox";

/**
 * The shipping side of a host, without PostgreSQL: one service whose only object store is a given MinIO, with
 * drkit's files placed as on a host (the agent verbatim, the rendered drkit.env, the store's 0600 credentials file
 * owned by the PostgreSQL OS user, a copy of mc, the archive and marker directories), under a temp root. The
 * shipper runs as the PostgreSQL OS user, as its unit does.
 */
export interface ShipperHost {
  readonly plan: ServicePlan;
  readonly root: string;
  readonly walDir: string;
  readonly envFile: string;
  /** The store's name in the stack config (its queue is $OFFSITE_MARKS/<store>/wal-queue). */
  readonly store: string;
  readonly bucket: string;
  /** `<bucket>/<prefix>` of the service, as mc addresses it under the MinIO's alias. */
  readonly location: string;
  /** Writes a file into the local archive and its queue entry, as archive-wal leaves them. */
  archive(name: string, content: Buffer | string): void;
  /** A queue entry for a file already in the archive. */
  queue(name: string): void;
  /** Queue entries not yet confirmed: the archive-side entries and the store's queue, names only, sorted. */
  pending(): string[];
  /** `runuser -u <PostgreSQL OS user> -- <scriptsDir>/shipper <verb>`, as [command, args]. */
  shipperCommand(verb: string): [string, string[]];
  /** The environment the shipper needs beyond the caller's (its settings file). */
  readonly env: Record<string, string>;
  /** Removes the temp root. */
  destroy(): void;
}

export interface ShipperHostOptions {
  readonly label: string;
  /** The service's `offsite` section beyond its target (retry, callTimeout, parallel, ...). */
  readonly offsite?: Record<string, unknown>;
  readonly bucket?: string;
  /** The directory its temp root is made in (mode 0755); os.tmpdir() by default. */
  readonly parent?: string;
  /** The CA (PEM) of a store that serves HTTPS: the store's caCertificate, placed where the agent reads it. */
  readonly caCertificate?: string;
}

const idOf = (flag: "-u" | "-g", user: string) => Number(execFileSync("id", [flag, user], { encoding: "utf8" }).trim());

/** Places the files; the bucket is created on the server. Fails (and removes what it placed) on any error. */
export async function shipperHost(server: MinioServer, options: ShipperHostOptions): Promise<ShipperHost> {
  const root = options.parent
    ? fs.mkdtempSync(path.join(options.parent, `${options.label}-`))
    : tempRoot(options.label);
  fs.chmodSync(root, 0o755);
  try {
    const store = "site";
    const bucket = options.bucket ?? "drkit-wal";
    const plan = buildPlan(
      {
        hosts: { h: { connection: { type: "local", rootPrefix: root } } },
        services: {
          svc: {
            host: "h",
            postgres: { version: 15, databases: ["app"] },
            offsite: { ...options.offsite, targets: [store] },
          },
        },
        objectStores: {
          [store]: {
            type: "minio",
            endpoint: server.endpoint,
            bucket,
            accessKey: server.accessKey,
            secretKey: server.secretKey,
            ...(options.caCertificate ? { caCertificate: options.caCertificate } : {}),
          },
        },
      },
      { baseDir: root },
    ).services[0];
    const offsite = plan.offsite!;
    const target = offsite.targets[0];
    const user = plan.postgres.osUser;
    const [uid, gid] = [idOf("-u", user), idOf("-g", user)];
    const ownedDir = (dir: string, mode: number) => {
      fs.mkdirSync(dir, { recursive: true });
      fs.chmodSync(dir, mode);
      fs.chownSync(dir, uid, gid);
    };
    ownedDir(plan.paths.walDir, 0o750);
    ownedDir(offsite.markerDir, 0o750);
    ownedDir(plan.paths.lockDir, 0o770);

    fs.mkdirSync(plan.paths.scriptsDir, { recursive: true });
    for (const name of agentFileNames())
      fs.copyFileSync(path.join(agentDirectory(), name), path.join(plan.paths.scriptsDir, name));
    for (const name of agentFileNames())
      fs.chmodSync(path.join(plan.paths.scriptsDir, name), name === AGENT_LIBRARY ? 0o644 : 0o755);
    const envFile = serviceEnvPath(plan);
    fs.writeFileSync(envFile, renderServiceEnv(plan), { mode: 0o644 });

    fs.mkdirSync(path.dirname(target.credentialsFile), { recursive: true });
    fs.writeFileSync(
      target.credentialsFile,
      credentialsFileContent(store, target.alias, target.endpoint, server.accessKey, server.secretKey),
      { mode: 0o600 },
    );
    fs.chownSync(target.credentialsFile, uid, gid);
    if (target.ca) {
      fs.mkdirSync(path.dirname(target.ca.file), { recursive: true });
      fs.writeFileSync(target.ca.file, target.ca.pem, { mode: 0o644 });
    }
    fs.mkdirSync(path.dirname(offsite.mc), { recursive: true });
    fs.copyFileSync(mcBinary(), offsite.mc);
    fs.chmodSync(offsite.mc, 0o755);

    const made = await server.mc(["mb", "--ignore-existing", `${server.name}/${bucket}`]);
    if (made.status !== 0) throw new Error(`mc mb ${bucket} failed: ${made.stderr}`);

    const walDir = plan.paths.walDir;
    const queue = (name: string) => {
      const entry = path.join(walDir, `.to-ship.${name}`);
      fs.writeFileSync(entry, "");
      fs.chownSync(entry, uid, gid);
    };
    const list = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);
    return {
      plan,
      root,
      walDir,
      envFile,
      store,
      bucket,
      location: `${bucket}/${target.prefix}`,
      archive(name, content) {
        const file = path.join(walDir, name);
        fs.writeFileSync(file, content, { mode: 0o600 });
        fs.chownSync(file, uid, gid);
        queue(name);
      },
      queue,
      pending: () =>
        [
          ...list(walDir)
            .filter((f) => f.startsWith(".to-ship."))
            .map((f) => f.slice(".to-ship.".length)),
          ...list(path.join(offsite.markerDir, store, "wal-queue")),
        ].sort(),
      shipperCommand: (verb) => ["runuser", ["-u", user, "--", path.join(plan.paths.scriptsDir, "shipper"), verb]],
      env: { DRKIT_ENV: envFile },
      destroy: () => fs.rmSync(root, { recursive: true, force: true }),
    };
  } catch (error) {
    fs.rmSync(root, { recursive: true, force: true });
    throw error;
  }
}
