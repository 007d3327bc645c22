import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import { standbyAgentDir } from "../components/agent/serviceEnv";
import type { HostPlan, JobId, ServicePlan, StandbyPlan } from "../components/plan/plan";
import type { ScenarioResult, StepResult, TableCheck, TimelineEvent, TimelineKind } from "../components/drill/report";
import type { HostReplacement } from "./hostCommands";
import { localShell, type HostShell, type Spawnable } from "./hostShell";
import type { Ack } from "./workload";

export interface CommandResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program without blocking the event loop (the workload keeps writing meanwhile). */
export function runCommand(
  command: string,
  args: readonly string[],
  timeoutMs = 900_000,
  env: Record<string, string> = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, stdout, stderr });
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The shells of the service's hosts: its own, and each standby's. */
export interface DrillShells {
  readonly primary: HostShell;
  of(host: HostPlan): HostShell;
}

/** Where a command runs: the service's host unless a standby's host is named. */
export interface OnHost {
  readonly on?: HostPlan;
  readonly timeoutMs?: number;
}

/**
 * What every scenario works with: the service's plan, its scripts, SQL as its OS user, the servers' managers and
 * progress output, all on the service's hosts (this machine for a sandbox, SSH sessions for real hosts).
 */
export class DrillContext {
  readonly database: string;
  /** Set when the service has monitoring: the scenarios wait for the alert that watches their disaster. */
  alerts?: AlertWatch;
  /** The age identity (a 0600 file on the service's host) that opens encrypted off-site copies, when needed. */
  offsiteIdentityFile?: string;
  /** Set with --replace-host: host loss destroys the service's host and provisions a new one. */
  hostReplacement?: HostReplacement;
  /** Set with --power-host (its command): the primary crash powers the service's host off, and on again. */
  hostPower?: string;

  constructor(
    readonly plan: ServicePlan,
    readonly progress: (line: string) => void,
    private shells?: DrillShells,
  ) {
    this.database = plan.postgres.databases[0];
  }

  /** The shell of a host (the service's by default). */
  shell(host?: HostPlan): HostShell {
    // A sandbox needs no connection: its programs run here.
    if (!this.shells && this.plan.host.connection.type === "local")
      this.shells = { primary: localShell(this.plan.host.name, os.tmpdir()), of: () => this.shells!.primary };
    if (!this.shells) throw new Error("the drill has no connection to the service's hosts");
    return host === undefined || host.name === this.plan.host.name ? this.shells.primary : this.shells.of(host);
  }

  /** True when the service's host is a real one, reached over SSH. */
  get onRealHosts(): boolean {
    return this.plan.host.connection.type === "ssh";
  }

  /** "on <host>: " for the report's steps on real hosts, where it matters which host did what. */
  where(host: HostPlan = this.plan.host): string {
    return this.onRealHosts ? `on ${host.name}: ` : "";
  }

  /** The arguments that give restores and fetches from the object stores the identity, if there is one. */
  identityArgs(): string[] {
    return this.offsiteIdentityFile ? ["--identity", this.offsiteIdentityFile] : [];
  }

  script(name: string): string {
    return path.join(this.plan.paths.scriptsDir, name);
  }

  /** Runs a program on a host; its status and output, never a throw for a failed exit. */
  exec(argv: readonly string[], opts: OnHost = {}): Promise<CommandResult> {
    const s = this.shell(opts.on).spawnable(argv);
    return runCommand(s.command, s.args, opts.timeoutMs);
  }

  /** Runs a program on a host; throws with its last lines when it fails. */
  async execOk(argv: readonly string[], opts: OnHost = {}): Promise<CommandResult> {
    const r = await this.exec(argv, opts);
    if (r.status !== 0)
      throw new Error(
        `${this.where(opts.on ?? this.plan.host)}${path.basename(argv[0])} ${argv.slice(1).join(" ")} exited ` +
          `${r.status}${r.status === -1 ? " (timed out)" : ""}: ${lastLines(r.stderr)}`,
      );
    return r;
  }

  /** psql as the service's OS user, as argv on its host, with `extra` arguments after the connection's. */
  private psqlArgv(port: number, db: string, extra: readonly string[] = []): string[] {
    const pg = this.plan.postgres;
    return [
      "runuser",
      "-u",
      pg.osUser,
      "--",
      `${pg.binDirectory}/psql`,
      "-X",
      "-q",
      "-A",
      "-t",
      "-h",
      pg.socketDirectory,
      "-p",
      String(port),
      "-U",
      pg.role,
      "-d",
      db,
      ...extra,
    ];
  }

  /** psql kept open by the workloads (statements on stdin). */
  psqlArgs(port = this.plan.postgres.port, db = this.database, on?: HostPlan): Spawnable {
    return this.shell(on).spawnable(this.psqlArgv(port, db));
  }

  async sql(
    query: string,
    opts: { db?: string; port?: number; timeoutMs?: number; on?: HostPlan } = {},
  ): Promise<string> {
    const argv = this.psqlArgv(opts.port ?? this.plan.postgres.port, opts.db ?? this.database, [
      "-v",
      "ON_ERROR_STOP=1",
      "-c",
      query,
    ]);
    const r = await this.exec(argv, { on: opts.on, timeoutMs: opts.timeoutMs ?? 120_000 });
    if (r.status !== 0)
      throw new Error(`psql: ${r.stderr.trim() || `exit ${r.status}${r.status === -1 ? " (timed out)" : ""}`}`);
    return r.stdout.trim();
  }

  /** Runs one of the service's rendered scripts on its host; throws with its last lines when it fails. */
  runScript(name: string, args: string[] = []): Promise<CommandResult> {
    return this.execOk([this.script(name), ...args], { timeoutMs: 900_000 });
  }

  /**
   * Runs one of the service's jobs. On real hosts systemd starts its unit (as its User=, under its hardening) and
   * the output is the run's journal; with `args` (not the unit's own) it runs as the unit's user. A sandbox runs the
   * script itself. The status is the job's; nothing is thrown. `lastLine` is waited for in the journal (a
   * second at most).
   */
  async job(id: JobId, args: string[] = [], lastLine?: RegExp): Promise<CommandResult> {
    const job = this.plan.jobs.find((j) => j.id === id);
    if (!job) throw new Error(`service ${this.plan.name} has no ${id} job`);
    if (!this.onRealHosts) return this.exec([job.script, ...args], { timeoutMs: 900_000 });
    if (args.length)
      return this.exec(
        job.runAs === "root" ? [job.script, ...args] : ["runuser", "-u", job.runAs, "--", job.script, ...args],
        {
          timeoutMs: 900_000,
        },
      );
    const unit = `${job.unit}.service`;
    const started = await this.exec(["systemctl", "start", unit], { timeoutMs: 900_000 });
    const invocation = (await this.execOk(["systemctl", "show", "-p", "InvocationID", "--value", unit])).stdout.trim();
    // journald reads the job's output stream on its own time: the last line may arrive after systemctl returns,
    // and a failed run's lines (what the error message shows) too.
    let log = "";
    for (let i = 0; i < 8; i++) {
      log = (await this.exec(["journalctl", "-q", "-o", "cat", `_SYSTEMD_INVOCATION_ID=${invocation}`])).stdout;
      if (started.status !== 0 ? log.trim() !== "" : !lastLine || lastLine.test(log)) break;
      await sleep(250);
    }
    return { status: started.status, stdout: "", stderr: log || started.stderr };
  }

  /** job(), throwing with the last lines of its output when it fails. */
  async runJob(id: JobId, args: string[] = [], lastLine?: RegExp): Promise<CommandResult> {
    const r = await this.job(id, args, lastLine);
    if (r.status !== 0)
      throw new Error(`${this.where()}${id} job ${args.join(" ")} exited ${r.status}: ${lastLines(r.stderr)}`);
    return r;
  }

  pgCtl(args: string[], dataDirectory = this.plan.postgres.dataDirectory): Promise<CommandResult> {
    const pg = this.plan.postgres;
    return this.exec(["runuser", "-u", pg.osUser, "--", `${pg.binDirectory}/pg_ctl`, "-D", dataDirectory, ...args]);
  }

  /** The primary crashes: its postmaster killed (systemd), or an immediate stop (pg_ctl). */
  async crashPrimary(): Promise<void> {
    const m = this.plan.postgres.manager;
    if (m.type === "pg_ctl") {
      await this.pgCtl(["stop", "-m", "immediate"]);
      return;
    }
    // The postmaster killed: its backends exit when they see it gone, and systemd marks the unit failed.
    const pidFile = path.posix.join(this.plan.postgres.dataDirectory, "postmaster.pid");
    await this.execOk(["bash", "-c", 'kill -KILL "$(head -n 1 -- "$1")"', "crash", pidFile]);
    for (let i = 0; i < 300; i++) {
      if ((await this.exec(["systemctl", "is-active", "--quiet", m.unit])).status !== 0) return;
      await sleep(100);
    }
    throw new Error(`${this.where()}${m.unit} is still active 30s after its postmaster was killed`);
  }

  /** Deletes files and directories on a host, as a lost disk would. */
  async remove(paths: readonly string[], on?: HostPlan): Promise<void> {
    await this.execOk(["rm", "-rf", "--", ...paths], { on });
  }

  /** Starts or stops the service's Redis/Valkey with its manager. */
  async redisServer(action: "start" | "stop"): Promise<void> {
    const m = this.plan.redis!.manager;
    await this.execOk(m.type === "systemd" ? ["systemctl", action, m.unit] : [this.script("sandbox-redis"), action]);
  }

  /** Starts or stops the WAL shipper: its systemd service on real hosts, a background process on sandboxes. */
  async shipper(action: "start" | "stop"): Promise<void> {
    const job = this.plan.jobs.find((j) => j.id === "shipper");
    await this.execOk(
      this.onRealHosts && job ? ["systemctl", action, `${job.unit}.service`] : [this.script("shipper"), action],
      { timeoutMs: 30_000 },
    );
  }

  /** Polls until the server accepts a write; returns when it did. */
  async waitForWrites(timeoutSeconds: number, port = this.plan.postgres.port, on?: HostPlan): Promise<Date> {
    const deadline = Date.now() + timeoutSeconds * 1000;
    for (;;) {
      try {
        // A commit waiting for a missing synchronous standby never returns: each try is bounded and killed.
        await this.sql(
          "CREATE TABLE IF NOT EXISTS drkit_drill_probe (at timestamptz); INSERT INTO drkit_drill_probe VALUES " +
            "(clock_timestamp())",
          { port, on, timeoutMs: 5000 },
        );
        return new Date();
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(`the server did not accept a write within ${timeoutSeconds}s: ${(error as Error).message}`);
        await sleep(200);
      }
    }
  }
}

/** Stops a standby's server at once, with its manager, on its host. */
export async function stopStandby(ctx: DrillContext, s: StandbyPlan): Promise<void> {
  if (s.manager.type === "systemd") await ctx.execOk(["systemctl", "stop", s.manager.unit], { on: s.host });
  else
    await ctx.exec(
      [
        "runuser",
        "-u",
        ctx.plan.postgres.osUser,
        "--",
        `${ctx.plan.postgres.binDirectory}/pg_ctl`,
        "-D",
        s.dataDirectory,
        "stop",
        "-m",
        "immediate",
      ],
      { on: s.host },
    );
}

/** Rebuilds every standby from the (restored) primary: a restore leaves them on an abandoned timeline. */
export async function recloneStandbys(ctx: DrillContext): Promise<void> {
  const standbys = ctx.plan.replication?.standbys ?? [];
  if (standbys.length === 0) return;
  for (const s of standbys) {
    await stopStandby(ctx, s);
    await ctx.remove([s.dataDirectory], s.host);
  }
  // Slots are not in base backups: create them again before the standbys connect.
  await ctx.runScript("setup-replication");
  for (const s of standbys)
    await ctx.execOk([`${standbyAgentDir(ctx.plan, s)}/clone-standby`, s.name], { on: s.host, timeoutMs: 900_000 });
}

/** Standbys streaming from the primary, by application_name. */
export async function streamingStandbys(ctx: DrillContext): Promise<string[]> {
  const out = await ctx.sql("SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'", {
    db: "postgres",
    timeoutMs: 10_000,
  });
  return out ? out.split("\n") : [];
}

const lastLines = (text: string, n = 4) => text.trim().split("\n").slice(-n).join(" | ");

/** What the drill asks whether an alert fired (drill/detection.ts's Detector, when the service has monitoring). */
export interface AlertWatch {
  firing(
    alerts: readonly string[],
    boundSeconds: number,
    since: Date,
  ): Promise<{ alert: string; firedAt: Date } | undefined>;
  quiet(alerts: readonly string[], boundSeconds: number): Promise<boolean>;
}

/**
 * How long an alert may take to fire (or to clear): the collector's metrics going stale, the alerts' `for:`, and a
 * minute for scrapes and evaluation.
 */
export const alertBoundSeconds = (plan: ServicePlan) => {
  const t = plan.monitoring!.thresholds;
  return t.metricsStaleSeconds + t.pendingSeconds + 60;
};

/** Collects one scenario's steps and timeline while it runs. */
export class ScenarioRecorder {
  readonly steps: StepResult[] = [];
  readonly timeline: TimelineEvent[] = [];
  readonly reasons: string[] = [];
  detection?: NonNullable<ScenarioResult["detection"]>;

  constructor(
    private readonly progress: (line: string) => void,
    private readonly id: string,
  ) {}

  event(kind: TimelineKind, label: string, at: Date | string = new Date()): void {
    this.timeline.push({ at: typeof at === "string" ? at : at.toISOString(), kind, label });
  }

  async step<T>(name: string, fn: () => Promise<T>, detail?: (value: T) => string): Promise<T> {
    this.progress(`[${this.id}] ${name} ...`);
    const started = Date.now();
    try {
      const value = await fn();
      const seconds = (Date.now() - started) / 1000;
      const d = detail?.(value);
      this.steps.push({ name, seconds, ok: true, ...(d ? { detail: d } : {}) });
      this.progress(`[${this.id}] ${name}: done in ${seconds.toFixed(1)}s${d ? ` (${d})` : ""}`);
      return value;
    } catch (error) {
      const seconds = (Date.now() - started) / 1000;
      this.steps.push({ name, seconds, ok: false, detail: (error as Error).message });
      this.progress(`[${this.id}] ${name}: FAILED after ${seconds.toFixed(1)}s: ${(error as Error).message}`);
      throw error;
    }
  }
}

const md5 = (text: string) => createHash("md5").update(text).digest("hex");

export interface RecoveryMeasure {
  readonly lostCommits: number;
  readonly lostSpanSeconds: number;
  readonly lastAcknowledged?: string;
  readonly check: TableCheck;
  /** Recovered rows that the workload never saw acknowledged (in flight at the disaster). */
  readonly inFlight: number;
}

/**
 * Compares what was recovered with the workload's log. The recovered acknowledged writes must be a prefix
 * of the log (no hole, checksum equal to the log's own for that prefix); the writes after it are the loss.
 */
export function measureRecovery(
  table: string,
  acks: readonly Ack[],
  recoveredKeys: readonly string[],
): RecoveryMeasure {
  const recovered = new Set(recoveredKeys);
  const ackedKeys = new Set(acks.map((a) => a.key));
  let prefix = 0;
  while (prefix < acks.length && recovered.has(acks[prefix].key)) prefix++;
  const holes = acks.slice(prefix).filter((a) => recovered.has(a.key)).length;
  const lost = acks.filter((a) => !recovered.has(a.key));
  const expected = acks.slice(0, prefix).map((a) => a.key);
  const actual = acks.filter((a) => recovered.has(a.key)).map((a) => a.key);
  const check: TableCheck = {
    table,
    expectedRows: expected.length,
    actualRows: actual.length,
    expectedChecksum: md5(expected.join(",")),
    actualChecksum: md5(actual.join(",")),
    ok: holes === 0 && expected.length === actual.length,
  };
  const last = acks[acks.length - 1];
  return {
    lostCommits: lost.length,
    lostSpanSeconds: lost.length ? (Date.parse(last.at) - Date.parse(lost[0].at)) / 1000 : 0,
    lastAcknowledged: last?.at,
    check,
    inFlight: recoveredKeys.filter((k) => !ackedKeys.has(k)).length,
  };
}

export interface ScenarioOutcome {
  readonly recorder: ScenarioRecorder;
  readonly disasterAt: Date;
  readonly serviceBackAt?: Date;
  readonly measure?: RecoveryMeasure;
  readonly acks: readonly Ack[];
  readonly recoveryPoint?: string;
  readonly clock: string;
  readonly error?: Error;
}

/** Turns a scenario's outcome into its result, judged against the stack's objectives. */
export function judge(
  id: string,
  title: string,
  plan: ServicePlan,
  o: ScenarioOutcome,
  extraReasons: string[] = [],
): ScenarioResult {
  const reasons = [...extraReasons];
  const rtoSeconds = o.serviceBackAt ? (o.serviceBackAt.getTime() - o.disasterAt.getTime()) / 1000 : Number.NaN;
  if (o.error) reasons.unshift(`recovery failed: ${o.error.message}`);
  if (o.serviceBackAt && rtoSeconds > plan.rtoSeconds)
    reasons.unshift(`RTO ${rtoSeconds.toFixed(1)}s exceeds the objective of ${plan.rtoSeconds}s`);
  const m = o.measure;
  if (m && m.lostSpanSeconds > plan.rpoSeconds)
    reasons.unshift(
      `${m.lostCommits} acknowledged commits over ${m.lostSpanSeconds.toFixed(1)}s were lost; ` +
        `the RPO is ${plan.rpoSeconds}s`,
    );
  if (m && !m.check.ok)
    reasons.unshift(
      `integrity: the recovered rows of ${m.check.table} are not the workload's acknowledged writes up to the ` +
        `recovery point (${m.check.actualRows} rows, ${m.check.expectedRows} expected)`,
    );
  if (m?.inFlight)
    reasons.push(
      `${m.inFlight} write(s) in flight at the disaster were recovered although never acknowledged (allowed)`,
    );
  const detection = o.recorder.detection;
  if (detection && detection.watchedBy.length > 0 && detection.alert === undefined)
    reasons.unshift(`detection: ${detection.note}`);
  if (detection?.alert) reasons.push(detection.note);
  const failed =
    (detection !== undefined && detection.watchedBy.length > 0 && detection.alert === undefined) ||
    o.error !== undefined ||
    !o.serviceBackAt ||
    !m ||
    !m.check.ok ||
    rtoSeconds > plan.rtoSeconds ||
    m.lostSpanSeconds > plan.rpoSeconds ||
    extraReasons.some((r) => r.startsWith("FAIL:"));
  const acks = o.acks;
  return {
    id,
    title,
    verdict: failed ? "FAIL" : "PASS",
    reasons: reasons.map((r) => r.replace(/^FAIL: /, "")),
    rto: { seconds: Number.isFinite(rtoSeconds) ? rtoSeconds : 0, objectiveSeconds: plan.rtoSeconds, clock: o.clock },
    rpo: {
      lostCommits: m?.lostCommits ?? acks.length,
      lostSpanSeconds: m?.lostSpanSeconds ?? 0,
      objectiveSeconds: plan.rpoSeconds,
      ...(o.recoveryPoint ? { recoveryPoint: o.recoveryPoint } : {}),
      ...(m?.lastAcknowledged ? { lastAcknowledgedCommit: m.lastAcknowledged } : {}),
    },
    integrity: { ok: m?.check.ok ?? false, tables: m ? [m.check] : [] },
    ...(detection ? { detection } : {}),
    workload: { acknowledgedCommits: acks.length, firstCommitAt: acks[0]?.at, lastCommitAt: acks[acks.length - 1]?.at },
    timeline: [...o.recorder.timeline].sort((a, b) => Date.parse(a.at) - Date.parse(b.at)),
    steps: o.recorder.steps,
  };
}
