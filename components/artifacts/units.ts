import type { JobPlan, ServicePlan } from "../plan/plan";

export const serviceUnitPath = (plan: ServicePlan, job: JobPlan) => `${plan.paths.unitsDir}/${job.unit}.service`;
export const timerUnitPath = (plan: ServicePlan, job: JobPlan) => `${plan.paths.unitsDir}/${job.unit}.timer`;

/** The unit PostgreSQL runs under, for ordering; a sandbox started by pg_ctl has none of its own. */
const postgresUnit = (plan: ServicePlan) =>
  plan.postgres.manager.type === "systemd" ? plan.postgres.manager.unit : "postgresql.service";

/**
 * A oneshot service for one job. Hardened so the job can write only its own directories, without
 * breaking it: connecting to PostgreSQL's socket and starting a scratch instance still work.
 */
export function renderServiceUnit(plan: ServicePlan, job: JobPlan): string {
  const pgUnit = postgresUnit(plan);
  const execStart = `ExecStart=${[job.script, ...(job.args ?? [])].join(" ")}`;
  const kind = job.daemon
    ? ["Type=exec", execStart, "Restart=always", "RestartSec=5"]
    : ["Type=oneshot", execStart, `TimeoutStartSec=${plan.jobTimeoutSeconds}`];
  const lines = [
    "[Unit]",
    `Description=${job.description}`,
    "Documentation=https://www.postgresql.org/docs/current/continuous-archiving.html",
    `After=network-online.target ${pgUnit}`,
    "Wants=network-online.target",
    ...(job.onSuccess ? [`OnSuccess=${job.onSuccess}`] : []),
    "",
    "[Service]",
    ...kind,
    `User=${job.runAs}`,
    `SyslogIdentifier=${job.unit}`,
    "Nice=10",
    "IOSchedulingClass=best-effort",
    "IOSchedulingPriority=7",
    "UMask=0077",
    "NoNewPrivileges=yes",
    "PrivateTmp=yes",
    "ProtectSystem=strict",
    `ReadWritePaths=${job.readWritePaths.join(" ")}`,
    `ProtectHome=${job.runAs === "root" ? "read-only" : "yes"}`,
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectControlGroups=yes",
    "RestrictSUIDSGID=yes",
    "RestrictRealtime=yes",
    "LockPersonality=yes",
    ...(job.daemon ? ["", "[Install]", "WantedBy=multi-user.target"] : []),
    "",
  ];
  return lines.join("\n");
}

export function renderTimerUnit(plan: ServicePlan, job: JobPlan): string {
  if (!job.calendar) throw new Error(`job ${job.unit} has no schedule, so it has no timer`);
  return [
    "[Unit]",
    `Description=Schedule: ${job.description}`,
    "",
    "[Timer]",
    `OnCalendar=${job.calendar}`,
    `RandomizedDelaySec=${plan.randomizedDelaySeconds}`,
    "Persistent=true",
    "AccuracySec=1min",
    `Unit=${job.unit}.service`,
    "",
    "[Install]",
    "WantedBy=timers.target",
    "",
  ].join("\n");
}

/** The drop-in that makes the primary's own systemd unit run guard-primary before every start. */
export const primaryGuardDropInPath = (unit: string) => `/etc/systemd/system/${unit}.d/drkit-guard.conf`;

/**
 * guard-primary before the server starts: a primary whose standby on another host was promoted while it was down
 * (powered off, cut off) must not come back as a second primary. The standbys are asked over the network, so the
 * network comes first. Where the primary's agent is gone (its role moved to another host, which removes the agent
 * and this drop-in in an order of its own) the server starts as it would without drkit.
 */
export function renderPrimaryGuardDropIn(plan: ServicePlan, guard: string): string {
  return [
    `# drkit: service ${plan.name}'s primary starts only if no standby on another host was promoted meanwhile`,
    "[Unit]",
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Service]",
    `ExecStartPre=/bin/sh -c 'if [ -e ${guard} ]; then exec ${guard}; fi'`,
    "",
  ].join("\n");
}
