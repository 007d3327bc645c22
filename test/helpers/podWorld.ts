import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { agentDirectory } from "../../components/agent/agentFiles";
import { renderPodSettings, type PodPaths } from "../../components/kubernetes/agentSettings";
import type { PostgresClusterArgs } from "../../components/kubernetes/args";
import { LAYOUT, SECRET_KEYS, TLS_FILES } from "../../components/kubernetes/layout";
import { POSTGRES_PORT } from "../../components/kubernetes/names";
import { renderDrSettings, renderPgHba, renderPostgresqlConf } from "../../components/kubernetes/settings";
import { resolveCluster, type ClusterSpec } from "../../components/kubernetes/spec";
import { credentialsFileContent } from "../../components/objectstore/mcHost";
import { mcBinary } from "./minio";
import { freePort, psqlAt, runAsync, tempRoot, waitFor, type RunResult } from "./sandbox";

/**
 * A pod's world, run locally: the agent verbatim, its settings rendered from a ClusterSpec with the paths moved
 * to temp directories, its PostgreSQL started by pod-primary, every pod command run as the postgres user (uid 999
 * in the image).
 */
const AGENT = agentDirectory();
const PG_BIN = "/usr/lib/postgresql/15/bin";

const password = () =>
  Array.from(
    { length: 24 },
    () => "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"[Math.floor(Math.random() * 56)],
  ).join("");
export const chownPostgres = (p: string) => spawnSync("chown", ["-R", "postgres:postgres", p]);
const asPostgres = ["--reuid=postgres", "--regid=postgres", "--init-groups", "--"];

export type PodRoleFile = "server" | "backup" | "restore";

export interface PodWorld {
  readonly spec: ClusterSpec;
  readonly root: string;
  readonly paths: Required<
    Pick<PodPaths, "dataMount" | "socketDir" | "configDir" | "secretsDir" | "runDir" | "backupRoot" | "scratch">
  >;
  readonly port: number;
  readonly env: Record<PodRoleFile, string>;
  server?: ChildProcess;
  sql(query: string, db?: string): string;
  /** Runs an agent verb as the postgres user with one role's settings file. */
  run(verb: string, role: PodRoleFile, args?: string[], env?: Record<string, string>): Promise<RunResult>;
  startPrimary(): Promise<void>;
  stopPrimary(): Promise<void>;
  /** Stops the server, a server a failed restore left running, and removes the world. */
  destroy(): Promise<void>;
}

export interface PodWorldOptions {
  /** An S3 store the backup role ships to (its mc from the toolchain). */
  readonly store?: { readonly endpoint: string; readonly accessKey: string; readonly secretKey: string };
  /** With args.replicationTls: the primary's key, placed in the Secret's folder as the secrets volume holds it. */
  readonly tlsKey?: string;
  /** Lines appended to a role's settings file (after the moved port). */
  readonly overrides?: Partial<Record<PodRoleFile, string>>;
}

/** A pod's world in a temp directory: volumes, the ConfigMap's files and the Secret's, owned by the postgres user. */
export async function podWorld(
  label: string,
  args: PostgresClusterArgs,
  opts: PodWorldOptions = {},
): Promise<PodWorld> {
  const root = tempRoot(label);
  const paths = {
    dataMount: path.join(root, "data"),
    socketDir: path.join(root, "socket"),
    configDir: path.join(root, "config"),
    secretsDir: path.join(root, "secrets"),
    runDir: path.join(root, "run"),
    backupRoot: path.join(root, "backups"),
    scratch: path.join(root, "scratch"),
  };
  for (const d of Object.values(paths)) fs.mkdirSync(d, { recursive: true });
  const spec = resolveCluster(args);
  const podPaths: Partial<PodPaths> = { ...paths, pgOsUser: "postgres", pgBin: PG_BIN };
  if (opts.store) {
    const tools = path.join(root, "tools");
    fs.mkdirSync(tools);
    fs.copyFileSync(mcBinary(), path.join(tools, "mc"));
    fs.chmodSync(path.join(tools, "mc"), 0o755);
    const offsiteCredentials = path.join(root, "offsite-credentials");
    const { endpoint, accessKey, secretKey } = opts.store;
    fs.writeFileSync(offsiteCredentials, credentialsFileContent("offsite", "offsite", endpoint, accessKey, secretKey), {
      mode: 0o600,
    });
    Object.assign(podPaths, { offsiteCredentials, mc: path.join(tools, "mc") });
  }
  fs.writeFileSync(path.join(paths.secretsDir, "superuser-password"), password());
  fs.writeFileSync(path.join(paths.secretsDir, "replication-password"), password());
  const port = await freePort();
  // The port is fixed in pods (5432); here it is a free one. The backup job reaches the primary over TCP as
  // the replication role (in a pod: the -rw service; here: 127.0.0.1).
  const envFile = (role: PodRoleFile, overrides: string) => {
    const file = path.join(paths.configDir, `${role}.env`);
    fs.writeFileSync(
      file,
      `${renderPodSettings(spec, role, podPaths)}\n# moved for a local test\nPGPORT=${port}\n${overrides}` +
        (opts.overrides?.[role] ?? ""),
    );
    return file;
  };
  const env = {
    server: envFile("server", ""),
    backup: envFile("backup", "PGHOST=127.0.0.1\n"),
    restore: envFile("restore", ""),
  };
  // The server's configuration as the ConfigMap holds it, its paths moved the same way.
  const moved = (text: string) =>
    text
      .replaceAll(LAYOUT.agentDir, AGENT)
      .replaceAll(LAYOUT.configDir, paths.configDir)
      .replaceAll(LAYOUT.secretsDir, paths.secretsDir)
      .replaceAll(LAYOUT.socketDir, paths.socketDir)
      .replace(`port = ${POSTGRES_PORT}`, `port = ${port}`)
      .replace("listen_addresses = '*'", "listen_addresses = '127.0.0.1'");
  fs.writeFileSync(path.join(paths.configDir, "postgresql.conf"), moved(renderPostgresqlConf(spec)));
  fs.writeFileSync(path.join(paths.configDir, "drkit.conf"), moved(renderDrSettings(spec)));
  fs.writeFileSync(path.join(paths.configDir, "pg_hba.conf"), renderPgHba(spec));
  if (spec.replicationTls) {
    fs.writeFileSync(path.join(paths.configDir, TLS_FILES.ca), spec.replicationTls.ca);
    fs.writeFileSync(path.join(paths.configDir, TLS_FILES.certificate), spec.replicationTls.certificate);
  }
  chownPostgres(root);
  if (spec.replicationTls) {
    if (!opts.tlsKey) throw new Error(`pod world ${label}: replicationTls needs opts.tlsKey`);
    // As the secrets volume mounts it: root's, 0440, the postgres group's (fsGroup).
    const keyFile = path.join(paths.secretsDir, SECRET_KEYS.tlsKey);
    fs.writeFileSync(keyFile, opts.tlsKey, { mode: 0o440 });
    spawnSync("chown", ["root:postgres", keyFile]);
  }
  const logFile = path.join(root, "primary.log");
  const world: PodWorld = {
    spec,
    root,
    paths,
    port,
    env,
    sql: (query, db = "app") => psqlAt(paths.socketDir, port, query, db),
    run: (verb, role, args = [], extraEnv = {}) =>
      runAsync(
        "setpriv",
        [...asPostgres, path.join(AGENT, verb), ...args],
        { DRKIT_ENV: env[role], TMPDIR: paths.runDir, HOME: paths.runDir, ...extraEnv },
        240_000,
      ),
    async startPrimary() {
      const log = fs.openSync(logFile, "a");
      // setpriv and bash exec: the child's pid becomes postgres's.
      const child = spawn("setpriv", [...asPostgres, path.join(AGENT, "pod-primary")], {
        env: { ...process.env, DRKIT_ENV: env.server, TMPDIR: paths.runDir, HOME: paths.runDir },
        stdio: ["ignore", log, log],
      });
      fs.closeSync(log);
      world.server = child;
      await waitFor(
        `pod-primary to exec postgres (log ${logFile})`,
        () => {
          if (child.exitCode !== null)
            throw new Error(`pod-primary exited ${child.exitCode}:\n${fs.readFileSync(logFile, "utf8")}`);
          const comm = fs.existsSync(`/proc/${child.pid}/comm`)
            ? fs.readFileSync(`/proc/${child.pid}/comm`, "utf8").trim()
            : "";
          if (comm !== "postgres") return undefined;
          try {
            return psqlAt(paths.socketDir, port, "SELECT 1", "app") === "1" ? true : undefined;
          } catch {
            return undefined;
          }
        },
        120,
      ).catch((error) => {
        throw new Error(`${error}\n${fs.readFileSync(logFile, "utf8").slice(-3000)}`);
      });
    },
    async stopPrimary() {
      const child = world.server;
      world.server = undefined;
      if (!child || child.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGINT");
        setTimeout(() => child.kill("SIGQUIT"), 30_000).unref();
      });
    },
    async destroy() {
      await world.stopPrimary().catch(() => undefined);
      if (opts.store) await world.run("shipper", "backup", ["stop"]).catch(() => undefined);
      // A server a failed restore left running on the pod's volume.
      const pidFile = path.join(paths.dataMount, "pgdata", "postmaster.pid");
      if (fs.existsSync(pidFile)) {
        const pid = Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]);
        if (pid > 0) spawnSync("kill", ["-QUIT", String(pid)]);
      }
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  return world;
}
