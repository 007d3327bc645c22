import * as fs from "node:fs";
import { agentPath } from "../components/artifacts/hostArtifacts";
import { overallVerdict, type DrillReport, type NotPlayed, type ScenarioResult } from "../components/drill/report";
import { writeReports, type ReportPaths } from "../components/drill/writeReports";
import type { DrPlan, HostPlan, ServicePlan } from "../components/plan/plan";
import { missingClientTools } from "./clientTools";
import { DrillContext, alertBoundSeconds, recloneStandbys, streamingStandbys, type DrillShells } from "./context";
import { Detector } from "./detection";
import type { HostReplacement } from "./hostCommands";
import { drillScratchDir, localShell, sshShell, type HostShell } from "./hostShell";
import { cleanUpOnInterrupt } from "./interrupt";
import { ALL_SCENARIOS, WATCHED_ALERTS, type Scenario } from "./scenarios";

export interface DrillOptions {
  readonly stack: string;
  readonly scenarios?: readonly string[];
  readonly reportDir: string;
  readonly provisionedBy: DrillReport["provisionedBy"];
  readonly provisionNote?: string;
  readonly progress?: (line: string) => void;
  /** The age identity that opens the service's encrypted off-site copies (decrypted from the stack config). */
  readonly offsiteIdentity?: string;
  /** The real hosts the drill may break (a service on SSH hosts is drilled only when all of its hosts are named). */
  readonly breakHosts?: readonly string[];
  /** The SSH private keys of those hosts, by host name, when the stack keeps them as secrets. */
  readonly privateKeys?: Readonly<Record<string, string>>;
  /** With breakHosts: host loss replaces the primary's host instead of wiping it (see drill/hostCommands.ts). */
  readonly hostReplacement?: HostReplacement;
  /** With breakHosts: the command that powers the primary's host off and on (see drill/hostCommands.ts). */
  readonly hostPower?: string;
}

export const SCENARIO_IDS = ALL_SCENARIOS.map((s) => s.id);

/** Why a scenario cannot run here: what the stack lacks, or client programs of another major than the server's. */
function whyUnavailable(scenario: Scenario, ctx: DrillContext): string | undefined {
  const pg = ctx.plan.postgres;
  return scenario.unavailable(ctx) ?? missingClientTools(pg.binDirectory, pg.version, scenario.tools);
}

/**
 * The scenarios asked for (all that can run on this stack by default), and those left out with the reason;
 * unknown ids are an error, and so is asking for one that cannot run.
 */
function selectScenarios(
  ids: readonly string[] | undefined,
  ctx: DrillContext,
): { play: Scenario[]; notPlayed: NotPlayed[] } {
  const unknown = (ids ?? []).filter((id) => !SCENARIO_IDS.includes(id));
  if (unknown.length) throw new Error(`--scenario ${unknown.join(", ")}: unknown (known: ${SCENARIO_IDS.join(", ")})`);
  const wanted = ids?.length ? ALL_SCENARIOS.filter((s) => ids.includes(s.id)) : ALL_SCENARIOS;
  const judged = wanted.map((s) => ({ scenario: s, why: whyUnavailable(s, ctx) }));
  const notPlayed = judged.flatMap(({ scenario, why }) => (why ? [{ id: scenario.id, reason: why }] : []));
  if (ids?.length && notPlayed.length)
    throw new Error(notPlayed.map((n) => `--scenario ${n.id}: ${n.reason}`).join("; "));
  for (const n of notPlayed) ctx.progress(`skipping ${n.id}: ${n.reason}`);
  return { play: judged.filter((j) => !j.why).map((j) => j.scenario), notPlayed };
}

/** Fails, before anything is provisioned, when a scenario asked for is unknown or cannot run on this stack. */
export function checkScenarioSelection(
  plan: DrPlan,
  ids: readonly string[] | undefined,
  breakHosts: readonly string[] = [],
): void {
  selectScenarios(ids, new DrillContext(drillService(plan, breakHosts), () => undefined));
}

/** Every host a service runs on: its own, then its standbys'. */
export function serviceHosts(service: ServicePlan): HostPlan[] {
  const hosts = [service.host, ...(service.replication?.standbys ?? []).map((s) => s.host)];
  return hosts.filter((h, i) => hosts.findIndex((o) => o.name === h.name) === i);
}

/**
 * The drill's service: the first one on a sandbox (local host with a root prefix), or, with `breakHosts`, the first
 * one on real hosts whose hosts are all named there: the drill kills servers and deletes data directories on them.
 */
export function drillService(plan: DrPlan, breakHosts: readonly string[] = []): ServicePlan {
  if (breakHosts.length === 0) {
    const service = plan.services.find(
      (s) => s.host.connection.type === "local" && s.rootPrefix && s.postgres.provision,
    );
    if (!service)
      throw new Error(
        "the drill breaks things on purpose and runs on a sandbox service (a local host with " +
          "connection.rootPrefix and postgres.provision: true), or on real hosts named with --break-host",
      );
    return service;
  }
  const unknown = breakHosts.filter((h) => !plan.hosts.has(h));
  if (unknown.length)
    throw new Error(
      `--break-host ${unknown.join(", ")}: no such host in the stack (${[...plan.hosts.keys()].join(", ")})`,
    );
  const service = plan.services.find((s) => s.host.connection.type === "ssh" && breakHosts.includes(s.host.name));
  if (!service)
    throw new Error(
      `--break-host ${breakHosts.join(", ")}: no service has its primary on these hosts (real hosts, reached over SSH)`,
    );
  const missing = serviceHosts(service).filter((h) => !breakHosts.includes(h.name));
  if (missing.length)
    throw new Error(
      `service ${service.name} also runs on ${missing.map((h) => h.name).join(", ")}: the drill rebuilds its ` +
        "standbys there, so name every host it may break with --break-host",
    );
  const local = serviceHosts(service).find((h) => h.connection.type !== "ssh");
  if (local) throw new Error(`service ${service.name}: host ${local.name} is local; drill real hosts over SSH only`);
  return service;
}

/** The shells of the service's hosts; close() of each removes what the drill left there. */
function openShells(service: ServicePlan, privateKeys: Readonly<Record<string, string>>, scratch: string) {
  const shells = new Map<string, HostShell>();
  for (const host of serviceHosts(service)) {
    const key =
      privateKeys[host.name] ??
      (host.connection.type === "ssh" && typeof host.connection.privateKey === "string"
        ? host.connection.privateKey
        : undefined);
    shells.set(
      host.name,
      host.connection.type === "ssh" ? sshShell(host, key, scratch) : localShell(host.name, scratch),
    );
  }
  const drillShells: DrillShells = {
    primary: shells.get(service.host.name)!,
    of: (host) => {
      const shell = shells.get(host.name);
      if (!shell) throw new Error(`host ${host.name} is not one of service ${service.name}'s hosts`);
      return shell;
    },
  };
  const close = () => [...shells.values()].forEach((s) => s.close());
  try {
    for (const shell of shells.values()) shell.connect();
  } catch (error) {
    close();
    throw error;
  }
  return { drillShells, close };
}

/** Makes sure the servers run (a reboot stops a sandbox's; a scenario that failed may leave one down). */
async function startServers(ctx: DrillContext): Promise<void> {
  const m = ctx.plan.postgres.manager;
  await ctx.execOk(
    m.type === "systemd" ? ["systemctl", "start", m.unit] : [agentPath(ctx.plan, "sandbox-postgres"), "start"],
  );
  await ctx.waitForWrites(60);
  if (ctx.plan.redis && (ctx.plan.redis.provision || ctx.plan.redis.manager.type === "systemd"))
    await ctx.redisServer("start");
  const standbys = ctx.plan.replication?.standbys ?? [];
  if (standbys.length) {
    const streaming: string[] = await streamingStandbys(ctx).catch(() => []);
    if (standbys.some((s) => !streaming.includes(s.name))) {
      ctx.progress(`standbys streaming: ${streaming.join(", ") || "none"}; rebuilding them from the primary`);
      await recloneStandbys(ctx);
    }
  }
}

async function environment(ctx: DrillContext): Promise<DrillReport["environment"]> {
  const postgres = await ctx.sql("SHOW server_version", { db: "postgres" });
  const redis = ctx.plan.redis
    ? /v=(\S+)/.exec((await ctx.exec([ctx.plan.redis.server, "--version"])).stdout)?.[1]
    : undefined;
  // A sandbox's store is the toolchain's MinIO on this machine; a real host's is elsewhere.
  const minio =
    ctx.plan.offsite && !ctx.onRealHosts
      ? /version (\S+)/.exec((await ctx.exec(["minio", "--version"]).catch(() => ({ stdout: "" }))).stdout)?.[1]
      : undefined;
  const [name, cores] = (await ctx.execOk(["sh", "-c", "hostname; nproc"])).stdout.trim().split("\n");
  return {
    postgres,
    host: ctx.onRealHosts
      ? `${ctx.plan.host.name}: ${name} (${cores} cores), over SSH; the drill ran ${serviceHosts(ctx.plan)
          .map((h) => h.name)
          .join(", ")}`
      : `${name} (${cores} cores)`,
    ...(redis ? { redis } : {}),
    ...(minio ? { minio } : {}),
  };
}

/** Plays the scenarios in order; one that cannot even set up its disaster is reported as failed. */
async function playScenarios(ctx: DrillContext, scenarios: readonly Scenario[], results: ScenarioResult[]) {
  const { progress, plan: service } = ctx;
  for (const scenario of scenarios) {
    progress(`=== ${scenario.id}: ${scenario.title}`);
    // The alert an earlier scenario's disaster fired must be over (monitoring sees the service back) before the
    // next disaster, or that disaster would look detected at once.
    if (ctx.alerts && !(await ctx.alerts.quiet(WATCHED_ALERTS, alertBoundSeconds(service))))
      progress(`monitoring still reports ${WATCHED_ALERTS.join(", ")} from before; detection may be late`);
    let result: ScenarioResult;
    try {
      result = await scenario.run(ctx);
    } catch (error) {
      // A scenario that could not even set up its disaster is a failure of the drill, reported as such.
      result = {
        id: scenario.id,
        title: scenario.title,
        verdict: "FAIL",
        reasons: [`the scenario could not run: ${(error as Error).message}`],
        rto: { seconds: 0, objectiveSeconds: service.rtoSeconds, clock: "not measured" },
        rpo: { lostCommits: 0, lostSpanSeconds: 0, objectiveSeconds: service.rpoSeconds },
        integrity: { ok: false, tables: [] },
        workload: { acknowledgedCommits: 0 },
        timeline: [],
        steps: [],
      };
      await startServers(ctx).catch(() => undefined);
    }
    results.push(result);
    progress(
      `=== ${scenario.id}: ${result.verdict} (RTO ${result.rto.seconds.toFixed(1)}s ` +
        `of ${result.rto.objectiveSeconds}s, ${result.rpo.lostCommits} ` +
        `commits lost ` +
        `over ${result.rpo.lostSpanSeconds.toFixed(1)}s)${result.verdict === "FAIL" ? `: ${result.reasons[0]}` : ""}`,
    );
  }
}

export async function runDrill(
  plan: DrPlan,
  options: DrillOptions,
): Promise<{ report: DrillReport; paths: ReportPaths }> {
  const progress = options.progress ?? ((line: string) => console.error(`drill: ${line}`));
  const service = drillService(plan, options.breakHosts);
  if (service.offsite?.encryption && options.offsiteIdentity === undefined)
    throw new Error(
      `services.${service.name}.offsite.encryption.identity: the drill restores from the object stores, which ` +
        `hold only encrypted copies; set the identity that opens them (a Pulumi secret)`,
    );
  const { play: scenarios, notPlayed } = selectScenarios(options.scenarios, new DrillContext(service, () => undefined));
  const startedAt = new Date().toISOString();
  progress(
    `service ${service.name}: RPO ${service.rpoSeconds}s, RTO ${service.rtoSeconds}s; ` +
      `scenarios: ${scenarios.map((s) => s.id).join(", ")}`,
  );
  const scratch = drillScratchDir();
  const shells = openShells(service, options.privateKeys ?? {}, scratch);
  const ctx = new DrillContext(service, progress, shells.drillShells);
  ctx.hostReplacement = options.hostReplacement;
  ctx.hostPower = options.hostPower;
  const results: ScenarioResult[] = [];
  let detector: Detector | undefined;
  let env: DrillReport["environment"] | undefined;
  // The drill's own servers, the SSH connections and every copy of the identity (here or on the host) go.
  const cleanUp = () => {
    detector?.kill();
    shells.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  };
  try {
    await cleanUpOnInterrupt(cleanUp, async () => {
      if (options.offsiteIdentity !== undefined)
        ctx.offsiteIdentityFile = ctx.shell().secretFile("identity", `${options.offsiteIdentity.trim()}\n`);
      await startServers(ctx);
      env = await environment(ctx);
      if (service.monitoring && ctx.onRealHosts)
        progress(
          "detection is not measured on real hosts: the drill's Prometheus reads a sandbox's metrics directory; " +
            "the hosts' own monitoring alerts as configured",
        );
      else if (service.monitoring) await Detector.start(service, progress, (d) => (detector = d));
      ctx.alerts = detector;
      try {
        await playScenarios(ctx, scenarios, results);
      } finally {
        // still under the interrupt handlers: a signal while the detector stops cleans up too
        await detector?.stop();
      }
    });
  } finally {
    cleanUp();
  }
  if (!env) throw new Error("the drill stopped before it described the environment");
  const report: DrillReport = {
    stack: options.stack,
    service: service.name,
    startedAt,
    finishedAt: new Date().toISOString(),
    provisionedBy: options.provisionedBy,
    ...(options.provisionNote ? { provisionNote: options.provisionNote } : {}),
    objectives: { rpoSeconds: service.rpoSeconds, rtoSeconds: service.rtoSeconds },
    environment: env,
    scenarios: results,
    ...(notPlayed.length ? { notPlayed } : {}),
    verdict: overallVerdict(results),
  };
  return { report, paths: writeReports(report, options.reportDir) };
}
