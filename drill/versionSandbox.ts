import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { buildPlan, type DrPlan, type ServicePlan } from "../components/plan/plan";
import { SUPPORTED_POSTGRES_VERSIONS } from "../components/plan/postgresVersion";
import { readStackConfig } from "../components/plan/stackFile";
import { programMajor, type VersionProbe } from "./clientTools";
import { drillService } from "./run";

/** The server programs a sandbox starts PostgreSQL with. */
const SERVER_PROGRAMS = ["initdb", "pg_ctl", "postgres", "psql"];

export interface VersionSandbox {
  readonly plan: DrPlan;
  /** What differs from the stack's own sandbox, for the report. */
  readonly note: string;
}

/** `--pg-version`: a major version drkit supports. */
export function parsePgVersion(value: string): number {
  const version = Number(value);
  if (!SUPPORTED_POSTGRES_VERSIONS.includes(version))
    throw new Error(`--pg-version must be one of ${SUPPORTED_POSTGRES_VERSIONS.join(", ")}, got '${value}'`);
  return version;
}

/** The server programs of `version` in `binDirectory`, or an error naming what is missing or of another major. */
function checkServerPrograms(binDirectory: string, version: number, probe: VersionProbe): void {
  const missing = SERVER_PROGRAMS.filter((p) => !fs.existsSync(path.join(binDirectory, p)));
  if (missing.length)
    throw new Error(
      `--pg-bin ${binDirectory} has no ${missing.join(", ")} (a PostgreSQL ${version} server needs ` +
        `${SERVER_PROGRAMS.join(", ")})`,
    );
  const found = probe(path.join(binDirectory, "postgres"));
  if (found !== version) {
    const what = found === undefined ? "of no version it reports" : `PostgreSQL ${found}`;
    throw new Error(`--pg-bin ${binDirectory}: its postgres is ${what}, not ${version}`);
  }
}

/**
 * The stack's drill service on another PostgreSQL major, in a sandbox of its own: the host's root prefix gets
 * `-pg<version>` (its data, backups, scripts and units apart from the stack's sandbox); it ships nothing off-site,
 * since applying its stores would rewrite the buckets the stack's own sandbox uses (their lifecycle rules); its
 * standbys stay only when `pg_basebackup` there can clone that version. The stack's config file and its Pulumi
 * state are not touched.
 */
export function versionSandbox(
  projectDir: string,
  stack: string,
  version: number,
  binDirectory: string,
  probe: VersionProbe = programMajor,
): VersionSandbox {
  checkServerPrograms(binDirectory, version, probe);
  const raw = structuredClone(readStackConfig(projectDir, stack)) as {
    hosts: Record<string, { connection: { rootPrefix: string } }>;
    services: Record<string, Record<string, unknown>>;
  };
  const service = drillService(buildPlan(raw, { baseDir: projectDir }));
  const host = raw.hosts[service.host.name];
  const config = raw.services[service.name];
  const postgres = config.postgres as Record<string, unknown>;
  const notes = [`PostgreSQL ${version} from ${binDirectory}, in a sandbox of its own`];
  const clonerMajor = probe(path.join(binDirectory, "pg_basebackup"));
  if (Array.isArray(config.standbys) && config.standbys.length && (clonerMajor ?? 0) < version) {
    delete config.standbys;
    notes.push(
      `no standbys: ${clonerMajor === undefined ? "no pg_basebackup" : `pg_basebackup of PostgreSQL ${clonerMajor}`} ` +
        `cannot clone ${version}`,
    );
  }
  if (config.offsite !== undefined) {
    delete config.offsite;
    notes.push("no off-site copies: the stack's object stores stay the stack's own sandbox's");
  }
  const rootPrefix = `${host.connection.rootPrefix}-pg${version}`;
  host.connection.rootPrefix = rootPrefix;
  config.postgres = { ...postgres, version, binDirectory };
  const plan = buildPlan(
    { hosts: { [service.host.name]: host }, services: { [service.name]: config } },
    { baseDir: projectDir },
  );
  notes.push(`root ${rootPrefix}; the stack's own sandbox and state are untouched`);
  return { plan, note: notes.join("; ") };
}

/**
 * Fails naming the port when something listens on one the sandbox's servers take (the stack's own sandbox, most
 * likely: the version's sandbox takes the same ports).
 */
export async function requireFreePorts(service: ServicePlan): Promise<void> {
  const ports = [
    { port: service.postgres.port, what: "PostgreSQL" },
    ...(service.replication?.standbys ?? []).map((s) => ({ port: s.port, what: `standby ${s.name}` })),
    ...(service.redis?.provision ? [{ port: service.redis.port, what: "Redis" }] : []),
  ];
  for (const { port, what } of ports) {
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (!free)
      throw new Error(
        `port ${port} (${what}) is in use, by the stack's own sandbox perhaps: the sandbox of another PostgreSQL ` +
          `version takes the same ports, so stop that one first`,
      );
  }
}
