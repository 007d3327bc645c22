import * as path from "node:path";
import { agentFile, agentFileNames, AGENT_LIBRARY } from "../agent/agentFiles";
import {
  renderServiceEnv,
  renderStandbyEnv,
  serviceEnvPath,
  standbyAgentDir,
  standbyEnvPath,
} from "../agent/serviceEnv";
import {
  disableDaemonScript,
  disableTimerScript,
  enableDaemonScript,
  enableTimerScript,
  installMcCommand,
} from "../host/commands";
import { shq } from "../agent/envFile";
import type { HostPlan, ReplicationPlan, ServicePlan, StandbyPlan } from "../plan/plan";
import { archiveDropInPath, renderArchiveDropIn, renderReplicationDropIn, replicationDropInPath } from "./postgresConf";
import { renderRedisDropIn } from "./redisConf";
import {
  EXPORTER_ROLE_SQL,
  nodeExporterDropInPath,
  postgresExporterDropInPath,
  renderNodeExporterDropIn,
  renderPostgresExporterDropIn,
} from "../monitoring/exporters";
import { objectivesPath, renderObjectives } from "../monitoring/objectives";
import { renderAlertRules } from "../monitoring/rules";
import type { Artifact, DirectoryArtifact, FileArtifact, SecretSource, StepArtifact } from "./types";
import {
  primaryGuardDropInPath,
  renderPrimaryGuardDropIn,
  renderServiceUnit,
  renderTimerUnit,
  serviceUnitPath,
  timerUnitPath,
} from "./units";

/** An agent verb's path on the service's host. */
export const agentPath = (plan: ServicePlan, verb: string) => `${plan.paths.scriptsDir}/${verb}`;
const standbyAgentPath = (plan: ServicePlan, standby: StandbyPlan, verb: string) =>
  `${standbyAgentDir(plan, standby)}/${verb}`;

/** Text of a secret file before the engine (or `drkit apply`) fills it in: never the secret itself. */
const SECRET_PLACEHOLDER = "# secret: filled in at deployment\n";

/** A 0600 file of one user whose content is a secret, filled in at deployment. */
const secretFile = (host: HostPlan, id: string, path: string, owner: string, secret: SecretSource): FileArtifact => ({
  kind: "file",
  id,
  host,
  path,
  content: SECRET_PLACEHOLDER,
  mode: "0600",
  owner,
  group: owner,
  role: "secret",
  secret,
});

/** Certificates as placed: the PEM blocks, one final newline. */
const pemText = (pem: string) => pem.trim() + "\n";

/** Every artifact of a service, by id; `get` fails loudly for an id the service does not have. */
export class ServiceArtifacts {
  private readonly byId = new Map<string, Artifact>();
  constructor(
    readonly plan: ServicePlan,
    readonly all: readonly Artifact[],
  ) {
    for (const a of all) {
      if (this.byId.has(a.id)) throw new Error(`service ${plan.name}: two artifacts have the id ${a.id}`);
      this.byId.set(a.id, a);
    }
  }
  has(id: string): boolean {
    return this.byId.has(id);
  }
  private pick<K extends Artifact["kind"]>(id: string, kind: K): Extract<Artifact, { kind: K }> {
    const a = this.byId.get(id);
    if (!a) throw new Error(`service ${this.plan.name} has no artifact ${id}`);
    if (a.kind !== kind) throw new Error(`artifact ${id} of service ${this.plan.name} is a ${a.kind}, not a ${kind}`);
    return a as Extract<Artifact, { kind: K }>;
  }
  file = (id: string): FileArtifact => this.pick(id, "file");
  step = (id: string): StepArtifact => this.pick(id, "step");
  /** Every artifact whose id starts with the prefix, in list order. */
  matching<K extends Artifact["kind"]>(prefix: string, kind: K): Array<Extract<Artifact, { kind: K }>> {
    return this.all.filter((a): a is Extract<Artifact, { kind: K }> => a.kind === kind && a.id.startsWith(prefix));
  }
  directories = (): DirectoryArtifact[] => this.all.filter((a): a is DirectoryArtifact => a.kind === "directory");
}

/** The backup directories of a service with owner and mode. */
function directories(plan: ServicePlan): DirectoryArtifact[] {
  const owner = plan.postgres.osUser;
  const p = plan.paths;
  const dir = (id: string, path: string, mode: string, o = owner, groupOf?: string): DirectoryArtifact => ({
    kind: "directory",
    id: `dir:${id}`,
    host: plan.host,
    path,
    mode,
    owner: o,
    ...(groupOf ? { groupOf } : {}),
  });
  // The off-site catch-up runs as the PostgreSQL user and reads the Redis snapshots through their group; the
  // Redis job reads the confirmation markers through theirs. Neither is a member of the other's group.
  const readByGroupOf = (id: string, path: string, o: string, reader?: string): DirectoryArtifact =>
    reader ? { ...dir(id, path, "0750", o, reader), groupReadsTree: true } : dir(id, path, "0750", o);
  const redis = plan.redis;
  // A later archive epoch has a folder of its own under the backup root (epoch 1's is the backup root itself).
  const epoch = plan.archive.epoch > 1 ? plan.archive.current.root : undefined;
  return [
    // The Redis/Valkey user's group may only pass through the root to its own folder, not list it.
    redis ? dir("root", p.backupRoot, "0710", owner, redis.osUser) : dir("root", p.backupRoot, "0750"),
    dir("postgresql", `${p.backupRoot}/postgresql`, "0750"),
    ...(epoch ? [dir("archive", epoch, "0750"), dir("archive-postgresql", `${epoch}/postgresql`, "0750")] : []),
    dir("base", p.baseDir, "0750"),
    dir("logical", p.logicalDir, "0750"),
    dir("wal", p.walDir, "0750"),
    dir("config", p.configDir, "0700", "root"),
    dir("locks", p.lockDir, "0770"),
    dir("verify", p.verifyDir, "0750"),
    ...(redis ? [readByGroupOf("valkey", redis.backupDir, redis.osUser, plan.offsite ? owner : undefined)] : []),
    ...(plan.offsite ? [readByGroupOf("offsite-marks", plan.offsite.markerDir, owner, redis?.osUser)] : []),
  ];
}

/** The agent (verbatim) in a directory of a host; `idPrefix` keeps a standby host's copy apart. */
function agentFiles(host: HostPlan, dir: string, idPrefix: string): FileArtifact[] {
  return agentFileNames().map((name) => ({
    kind: "file",
    id: `${idPrefix}agent:${name}`,
    host,
    path: `${dir}/${name}`,
    content: agentFile(name),
    mode: name === AGENT_LIBRARY ? "0644" : "0755",
    owner: "root",
    group: "root",
    role: "agent",
  }));
}

const rootFile = (
  host: HostPlan,
  id: string,
  path: string,
  content: string,
  role: FileArtifact["role"],
  mode = "0644",
): FileArtifact => ({
  kind: "file",
  id,
  host,
  path,
  content,
  mode,
  owner: "root",
  group: "root",
  role,
});

const step = (host: HostPlan, id: string, description: string, run: string, undo?: string): StepArtifact => ({
  kind: "step",
  id,
  host,
  description,
  run,
  ...(undo ? { undo } : {}),
});

function jobArtifacts(plan: ServicePlan): Artifact[] {
  return plan.jobs.flatMap((job) => {
    const timer = job.calendar ? `${job.unit}.timer` : undefined;
    const target = { rootPrefix: plan.rootPrefix, timer };
    const daemon = { rootPrefix: plan.rootPrefix, unit: job.unit, script: job.script };
    return [
      rootFile(plan.host, `unit:${job.id}.service`, serviceUnitPath(plan, job), renderServiceUnit(plan, job), "unit"),
      ...(job.calendar
        ? [rootFile(plan.host, `unit:${job.id}.timer`, timerUnitPath(plan, job), renderTimerUnit(plan, job), "unit")]
        : []),
      job.daemon
        ? step(
            plan.host,
            `step:enable:${job.id}`,
            `start ${job.unit}.service`,
            enableDaemonScript(daemon),
            disableDaemonScript(daemon),
          )
        : step(
            plan.host,
            `step:enable:${job.id}`,
            `enable ${timer ?? `${job.unit}.service`}`,
            enableTimerScript(target),
            disableTimerScript(target),
          ),
    ];
  });
}

function offsiteArtifacts(plan: ServicePlan): Artifact[] {
  const o = plan.offsite;
  if (!o) return [];
  const credentials = o.targets.map((t) =>
    secretFile(plan.host, `credentials:${t.store}`, t.credentialsFile, plan.postgres.osUser, {
      of: "offsite-credentials",
      store: t.store,
    }),
  );
  // Public certificates, readable by every job's user (the catch-up, the shipper, backup-redis's restore).
  const cas: FileArtifact[] = o.targets.flatMap((t) =>
    t.ca
      ? [
          {
            kind: "file" as const,
            id: `ca:${t.store}`,
            host: plan.host,
            path: t.ca.file,
            content: pemText(t.ca.pem),
            mode: "0644",
            owner: "root",
            group: "root",
            role: "settings" as const,
          },
        ]
      : [],
  );
  const mc =
    plan.rootPrefix && plan.host.connection.type === "local"
      ? [step(plan.host, "step:install-mc", "copy mc into the sandbox", installMcCommand(plan))]
      : [];
  // Public keys only: the identity that opens the objects never reaches a host.
  const recipients = o.encryption
    ? [
        rootFile(
          plan.host,
          "offsite:recipients",
          o.encryption.recipientsFile,
          o.encryption.recipients.map((r) => `${r}\n`).join(""),
          "settings",
        ),
      ]
    : [];
  return [...credentials, ...cas, ...recipients, ...mc];
}

const pgpass = (plan: ServicePlan, host: HostPlan, id: string, path: string): FileArtifact =>
  secretFile(host, id, path, plan.postgres.osUser, { of: "replication-pgpass" });

/** Removing a standby from the stack stops it, unless it was promoted: then it is the service's primary. */
const stopStandby = (plan: ServicePlan, s: StandbyPlan) => {
  const pgCtl =
    `runuser -u ${shq(plan.postgres.osUser)} -- ${shq(`${plan.postgres.binDirectory}/pg_ctl`)} ` +
    `-D ${shq(s.dataDirectory)}`;
  const promoted = `echo ${shq(`standby ${s.name} was promoted (no standby.signal): it keeps running`)} >&2`;
  const file = (name: string) => shq(`${s.dataDirectory}/${name}`);
  const keep = `if test -e ${file("PG_VERSION")} && ! test -e ${file("standby.signal")}; then ${promoted}`;
  return s.manager.type === "systemd"
    ? `${keep}; else systemctl stop ${shq(s.manager.unit)}; fi`
    : `${keep}; elif ${pgCtl} status >/dev/null 2>&1; then ${pgCtl} -m fast -w stop >&2; fi`;
};

function replicationArtifacts(plan: ServicePlan): Artifact[] {
  const r = plan.replication;
  if (!r) return [];
  const pgFile = (id: string, path: string, content: string): FileArtifact => ({
    ...rootFile(plan.host, id, path, content, "postgres-conf"),
    owner: plan.postgres.osUser,
    group: plan.postgres.osUser,
  });
  const primaryAgentDir = plan.paths.scriptsDir;
  return [
    pgpass(plan, plan.host, "pgpass:primary", r.passFile),
    ...replicationTlsArtifacts(plan, r),
    pgFile("dropin:replication", replicationDropInPath(plan), renderReplicationDropIn(plan)),
    step(
      plan.host,
      "step:apply-replication-settings",
      "make PostgreSQL load the replication settings",
      `${shq(agentPath(plan, "apply-settings"))} >&2`,
    ),
    step(
      plan.host,
      "step:setup-replication",
      "replication role, slots and pg_hba entries",
      `${shq(agentPath(plan, "setup-replication"))} >&2`,
    ),
    ...r.standbys.flatMap((s): Artifact[] => {
      const dir = standbyAgentDir(plan, s);
      // A standby on the primary's host shares the primary's agent when it lives in the same folder.
      const sameAgent = s.host.name === plan.host.name && dir === primaryAgentDir;
      return [
        ...(sameAgent ? [] : agentFiles(s.host, dir, `standby:${s.name}:`)),
        ...(s.passFile === r.passFile && s.host.name === plan.host.name
          ? []
          : [pgpass(plan, s.host, `pgpass:${s.name}`, s.passFile)]),
        ...(r.tls && s.tlsCaFile && s.host.name !== plan.host.name
          ? [rootFile(s.host, `standby:${s.name}:tls-ca`, s.tlsCaFile, pemText(r.tls.ca!), "settings")]
          : []),
        // Once promoted it serves the former primary: the replication certificate (which names it) and its key.
        ...(r.tls?.certificate && s.serverTls
          ? [
              rootFile(
                s.host,
                `standby:${s.name}:tls-certificate`,
                s.serverTls.certFile,
                pemText(r.tls.certificate),
                "settings",
              ),
              secretFile(s.host, `standby:${s.name}:tls-key`, s.serverTls.keyFile, plan.postgres.osUser, {
                of: "replication-tls-key",
              }),
            ]
          : []),
        rootFile(s.host, `standby:${s.name}:settings`, standbyEnvPath(plan, s), renderStandbyEnv(plan, s), "settings"),
        // A standby shares its primary's cluster: it never claims, but an existing data directory of another
        // cluster (left alone by clone-standby) is refused. Only where the primary's archive is readable.
        ...(s.host.name === plan.host.name
          ? [
              step(
                plan.host,
                `step:check-archive:${s.name}`,
                `check that standby ${s.name}'s cluster is the archive's`,
                `${shq(agentPath(plan, "claim-archive"))} --check --pgdata ${shq(s.dataDirectory)} >&2`,
              ),
            ]
          : []),
        step(
          s.host,
          `step:clone:${s.name}`,
          `clone standby ${s.name} and start it`,
          `${shq(standbyAgentPath(plan, s, "clone-standby"))} ${shq(s.name)} >&2`,
          stopStandby(plan, s),
        ),
      ];
    }),
    ...primaryGuardArtifacts(plan),
  ];
}

/**
 * With a standby on another host, the primary's systemd unit runs guard-primary before every start: the drop-in,
 * and systemd told of it. Removing it tells systemd at once, before the agent it names goes.
 */
function primaryGuardArtifacts(plan: ServicePlan): Artifact[] {
  const pg = plan.postgres;
  const remote = plan.replication!.standbys.some((s) => s.host.name !== plan.host.name);
  if (pg.manager.type !== "systemd" || !remote) return [];
  const dropIn = primaryGuardDropInPath(pg.manager.unit);
  return [
    rootFile(
      plan.host,
      "unit:primary-guard",
      dropIn,
      renderPrimaryGuardDropIn(plan, agentPath(plan, "guard-primary")),
      "unit",
    ),
    step(
      plan.host,
      "step:primary-guard",
      `run guard-primary before ${pg.manager.unit} starts`,
      "systemctl daemon-reload",
      `rm -f -- ${shq(dropIn)}\nsystemctl daemon-reload`,
    ),
  ];
}

/**
 * The primary's TLS files for replication: made on its host (generate: the CA key never leaves it), or placed
 * from the stack config (the key as a secret file of the PostgreSQL user, which the server requires).
 */
function replicationTlsArtifacts(plan: ServicePlan, r: ReplicationPlan): Artifact[] {
  const tls = r.tls;
  if (!tls) return [];
  if (tls.generate)
    return [
      step(
        plan.host,
        "step:replication-tls",
        "the replication CA and the primary's certificate",
        `${shq(agentPath(plan, "make-replication-tls"))} >&2`,
        // Made by drkit, so drkit's to remove (after the drop-in that names them).
        `rm -rf -- ${shq(path.posix.dirname(tls.certFile))}`,
      ),
    ];
  return [
    rootFile(plan.host, "tls:ca", tls.caFile, pemText(tls.ca!), "settings"),
    rootFile(plan.host, "tls:certificate", tls.certFile, pemText(tls.certificate!), "settings"),
    secretFile(plan.host, "tls:key", tls.keyFile, plan.postgres.osUser, { of: "replication-tls-key" }),
  ];
}

/** The jobs' redis-cli over TLS: the CA it trusts and, for a server that asks for one, its client certificate. */
function redisTlsArtifacts(plan: ServicePlan): Artifact[] {
  const r = plan.redis!;
  const tls = r.tls;
  if (!tls) return [];
  return [
    rootFile(plan.host, "redis-tls:ca", tls.caFile, pemText(tls.ca), "settings"),
    ...(tls.client
      ? [
          rootFile(
            plan.host,
            "redis-tls:certificate",
            tls.client.certFile,
            pemText(tls.client.certificate),
            "settings",
          ),
          secretFile(plan.host, "redis-tls:key", tls.client.keyFile, r.osUser, { of: "redis-tls-key" }),
        ]
      : []),
  ];
}

function redisArtifacts(plan: ServicePlan): Artifact[] {
  const r = plan.redis;
  if (!r) return [];
  const sandbox = agentPath(plan, "sandbox-redis");
  return [
    {
      ...rootFile(plan.host, "dropin:redis", r.dropIn, renderRedisDropIn(plan), "redis-conf", "0640"),
      group: r.osUser,
    },
    // Read by the jobs (as the Redis user, or root) before they talk to the server; never by the server.
    ...(r.auth ? [secretFile(plan.host, "credentials:redis", r.auth.file, r.osUser, { of: "redis-auth" })] : []),
    ...redisTlsArtifacts(plan),
    ...(r.provision
      ? [
          step(
            plan.host,
            "step:sandbox-redis",
            "start the sandbox Redis",
            `${shq(sandbox)} start >&2`,
            `${shq(sandbox)} stop >&2`,
          ),
        ]
      : []),
    step(
      plan.host,
      "step:apply-redis-settings",
      "apply the persistence settings with CONFIG SET",
      `${shq(agentPath(plan, "apply-redis-settings"))} >&2`,
    ),
  ];
}

/**
 * Metrics and alerts: the textfile directory, writable by the group every job's user is in (the jobs run as
 * different users: PostgreSQL's, Redis's, root), the objectives beside the jobs' metrics, and the alert rules.
 */
function monitoringArtifacts(plan: ServicePlan): Artifact[] {
  const m = plan.monitoring;
  if (!m) return [];
  const users = [plan.postgres.osUser, ...(plan.redis ? [plan.redis.osUser] : [])];
  const group = shq(m.group);
  const run = [
    "set -euo pipefail",
    `getent group ${group} >/dev/null || groupadd --system ${group}`,
    ...[...new Set(users)].map(
      (u) => `id -nG ${shq(u)} | tr ' ' '\\n' | grep -qx ${group} || usermod -a -G ${group} ${shq(u)}`,
    ),
    `install -d -m 2775 -o root -g ${group} -- ${shq(m.textfileDirectory)}`,
  ].join("\n");
  return [
    step(
      plan.host,
      "step:metrics-directory",
      `the metrics directory ${m.textfileDirectory}, writable by group ${m.group}`,
      run,
    ),
    rootFile(plan.host, "metrics:objectives", objectivesPath(plan), renderObjectives(plan), "monitoring"),
    rootFile(plan.host, "metrics:rules", m.rulesFile, renderAlertRules(plan), "monitoring"),
    ...exporterArtifacts(plan),
  ];
}

/** Debian's exporters on the service's host, when asked for: a drop-in each, restarted; postgres_exporter's role. */
function exporterArtifacts(plan: ServicePlan): Artifact[] {
  const m = plan.monitoring!;
  const restart = (unit: string) =>
    ["set -euo pipefail", "systemctl daemon-reload", `systemctl enable ${unit}`, `systemctl restart ${unit}`].join(
      "\n",
    );
  const reload = (unit: string) => `systemctl daemon-reload\nsystemctl try-restart ${unit} || true`;
  const pg = plan.postgres;
  const psql =
    `runuser -u ${shq(pg.osUser)} -- ${shq(`${pg.binDirectory}/psql`)} -X -q -v ON_ERROR_STOP=1 ` +
    `-h ${shq(pg.socketDirectory)} -p ${pg.port} -d postgres -c ${shq(EXPORTER_ROLE_SQL)}`;
  const node = m.exporters.node
    ? [
        rootFile(plan.host, "exporter:node", nodeExporterDropInPath(), renderNodeExporterDropIn(plan), "unit"),
        step(
          plan.host,
          "step:exporter:node",
          "restart node_exporter with the textfile directory",
          restart("prometheus-node-exporter.service"),
          reload("prometheus-node-exporter.service"),
        ),
      ]
    : [];
  const postgres = m.exporters.postgres
    ? [
        step(plan.host, "step:exporter:postgres-role", "the role postgres_exporter logs in as (pg_monitor)", psql),
        rootFile(
          plan.host,
          "exporter:postgres",
          postgresExporterDropInPath(plan),
          renderPostgresExporterDropIn(plan),
          "unit",
        ),
        step(
          plan.host,
          "step:exporter:postgres",
          "restart postgres_exporter connected to the service's server",
          restart("prometheus-postgres-exporter.service"),
          reload("prometheus-postgres-exporter.service"),
        ),
      ]
    : [];
  return [...node, ...postgres];
}

/**
 * The archive locations (local archive, each store's prefix) must belong to this cluster: claimed on first use,
 * refused when another cluster's archive is there. Runs once PostgreSQL's data directory exists and before
 * archive_command points at the archive, so a refused location never receives a single segment.
 */
const claimArchiveStep = (plan: ServicePlan): StepArtifact =>
  step(
    plan.host,
    "step:claim-archive",
    "check that the archive locations belong to this cluster, and claim them on first use",
    `${shq(agentPath(plan, "claim-archive"))} >&2`,
  );

/**
 * Everything one service puts on its hosts, in the order `drkit apply` places it: directories, the agent and
 * its settings file, secrets, the sandbox server, the archive's claim, WAL archiving, the jobs, replication,
 * Redis/Valkey. The
 * components pick from this list by id and order with dependsOn; `drkit render` writes it whole.
 */
export function serviceArtifacts(plan: ServicePlan): ServiceArtifacts {
  const sandbox = agentPath(plan, "sandbox-postgres");
  const apply = agentPath(plan, "apply-settings");
  const pgConf = { owner: plan.postgres.osUser, group: plan.postgres.osUser };
  const list: Artifact[] = [
    ...directories(plan),
    ...agentFiles(plan.host, plan.paths.scriptsDir, ""),
    rootFile(plan.host, "settings", serviceEnvPath(plan), renderServiceEnv(plan), "settings"),
    ...offsiteArtifacts(plan),
    ...monitoringArtifacts(plan),
    ...(plan.postgres.provision
      ? [
          step(
            plan.host,
            "step:sandbox-postgres",
            "start the sandbox PostgreSQL",
            `${shq(sandbox)} start >&2`,
            `${shq(sandbox)} stop >&2`,
          ),
        ]
      : []),
    claimArchiveStep(plan),
    {
      ...rootFile(plan.host, "dropin:archiving", archiveDropInPath(plan), renderArchiveDropIn(plan), "postgres-conf"),
      ...pgConf,
    },
    step(
      plan.host,
      "step:apply-settings",
      "make PostgreSQL load drkit's settings",
      `${shq(apply)} >&2`,
      `if [[ -x ${shq(apply)} ]]; then ${shq(apply)} --removed >&2; fi`,
    ),
    ...jobArtifacts(plan),
    ...replicationArtifacts(plan),
    ...redisArtifacts(plan),
  ];
  return new ServiceArtifacts(plan, list);
}
