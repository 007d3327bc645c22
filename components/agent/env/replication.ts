import type { ServicePlan, StandbyPlan } from "../../plan/plan";
import type { Settings } from "../envFile";

const cidr = (address: string) => `${address}/${address.includes(":") ? 128 : 32}`;

/** The primary's side of streaming replication, and the standbys on its host for failover and rejoin. */
export function replicationSettings(plan: ServicePlan): Settings {
  const r = plan.replication;
  if (!r) return {};
  const local = r.standbys.filter((s) => s.host.name === plan.host.name);
  const remote = r.standbys.filter((s) => s.host.name !== plan.host.name);
  return {
    REPL_ROLE: r.role,
    REWIND_ROLE: r.rewindRole,
    REPL_PASS_FILE: r.passFile,
    REPL_HBA_FILE: r.hbaFile,
    REPL_SLOTS: r.standbys.map((s) => s.slot),
    REPL_STANDBY_NAMES: r.standbys.map((s) => s.name),
    // With TLS the role never replicates over plain TCP, whatever later lines (initdb's among them) allow.
    // A former primary rewinds from here over an ordinary connection to the postgres database as the rewind role.
    REPL_HBA_LINES: [
      ...r.standbys.flatMap((s) => [
        `${r.tls ? "hostssl" : "host"} replication ${r.role} ${cidr(s.address)} scram-sha-256`,
        `${r.tls ? "hostssl" : "host"} postgres ${r.rewindRole} ${cidr(s.address)} scram-sha-256`,
      ]),
      ...(r.tls ? [`hostnossl replication ${r.role} all reject`, `hostnossl all ${r.rewindRole} all reject`] : []),
    ],
    // Failover and rejoin point standbys on this host at a primary here: they verify it with the same CA.
    REPL_TLS_CA: r.tls?.caFile ?? "",
    REPL_TLS_CERT: r.tls?.certFile ?? "",
    REPL_TLS_KEY: r.tls?.keyFile ?? "",
    REPL_TLS_GENERATE: r.tls?.generate ? "yes" : "no",
    REPL_PRIMARY_ADDRESS: r.primaryAddress,
    REPL_PRIMARY_PORT: r.primaryPort,
    STANDBY_NAMES: local.map((s) => s.name),
    STANDBY_PORTS: local.map((s) => String(s.port)),
    STANDBY_DATA_DIRS: local.map((s) => s.dataDirectory),
    STANDBY_SLOTS: local.map((s) => s.slot),
    STANDBY_SYNC: local.map((s) => (s.synchronous ? "yes" : "no")),
    FAILOVER_ORDER: r.failoverOrder.filter((n) => local.some((s) => s.name === n)),
    // guard-primary asks these, before the primary starts, whether one of them was promoted meanwhile.
    GUARD_STANDBYS: remote.map((s) => s.name),
    GUARD_ADDRESSES: remote.map((s) => s.address),
    GUARD_PORTS: remote.map((s) => String(s.port)),
    FORMER_PRIMARY_SLOT: `drkit_${plan.name.replace(/-/g, "_")}_former_primary`,
  };
}

/** One standby's own settings file, on the standby's host: what clone-standby needs. */
export function standbySettings(plan: ServicePlan, standby: StandbyPlan): Settings {
  const r = plan.replication!;
  const pg = plan.postgres;
  return {
    SERVICE: plan.name,
    PG_VERSION: pg.version,
    PG_BIN: pg.binDirectory,
    PG_OS_USER: pg.osUser,
    PGHOST: standby.socketDirectory,
    PGPORT: standby.port,
    PGUSER: pg.role,
    PGDATA_DIR: standby.dataDirectory,
    PG_MANAGER: standby.manager.type,
    PG_UNIT: standby.manager.type === "systemd" ? standby.manager.unit : "",
    PG_LOG: standby.manager.type === "pg_ctl" ? standby.manager.logFile : "",
    LOCK_DIR: `${standby.rootPrefix}/run/drkit/${plan.name}`,
    STANDBY: standby.name,
    STANDBY_SLOT: standby.slot,
    STANDBY_PASS_FILE: standby.passFile,
    STANDBY_SYNCHRONOUS: standby.synchronous ? "yes" : "no",
    REPL_ROLE: r.role,
    REWIND_ROLE: r.rewindRole,
    REPL_PRIMARY_ADDRESS: r.primaryAddress,
    REPL_PRIMARY_PORT: r.primaryPort,
    REPL_TLS_CA: standby.tlsCaFile ?? "",
    // Served once promoted, so that the former primary rewinds and streams from here over verified TLS.
    STANDBY_TLS_CERT: standby.serverTls?.certFile ?? "",
    STANDBY_TLS_KEY: standby.serverTls?.keyFile ?? "",
    // guard-primary on the primary's host asks a standby on another host at this address (an IP, checked).
    STANDBY_LISTEN_ADDRESS: standby.host.name === plan.host.name ? "" : standby.address,
    // The archive is a fallback source of WAL only where this host can read it.
    STANDBY_RESTORE_COMMAND: standby.host.name === plan.host.name ? `cp ${plan.paths.walDir}/%f %p` : "",
    // A former primary on this host rewinds with the WAL it archived itself, where that folder is still here.
    STANDBY_REWIND_WAL_DIR: plan.paths.walDir,
  };
}
