import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { agentPath } from "../components/artifacts/hostArtifacts";
import { overallVerdict, type DrillReport, type NotPlayed, type ScenarioResult } from "../components/drill/report";
import { writeReports, type ReportPaths } from "../components/drill/writeReports";
import type { DrPlan, ServicePlan } from "../components/plan/plan";
import { missingClientTools } from "./clientTools";
import { DrillContext, alertBoundSeconds, recloneStandbys, runCommand, streamingStandbys } from "./context";
import { Detector } from "./detection";
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
export function checkScenarioSelection(plan: DrPlan, ids: readonly string[] | undefined): void {
  selectScenarios(ids, new DrillContext(drillService(plan), () => undefined));
}

/** The drill's service: the first one on a sandbox (local host with a root prefix). */
export function drillService(plan: DrPlan): ServicePlan {
  const service = plan.services.find((s) => s.host.connection.type === "local" && s.rootPrefix && s.postgres.provision);
  if (!service)
    throw new Error(
      "the drill breaks things on purpose and runs only on a sandbox service (a local host with " +
        "connection.rootPrefix and postgres.provision: true)",
    );
  return service;
}

/** Makes sure the sandbox servers run (a reboot stops them; pulumi up does not start them again). */
async function startServers(ctx: DrillContext): Promise<void> {
  const start = async (script: string) => {
    const r = await runCommand(script, ["start"]);
    if (r.status !== 0) throw new Error(`${script} start failed: ${r.stderr.trim()}`);
  };
  await start(agentPath(ctx.plan, "sandbox-postgres"));
  if (ctx.plan.redis?.provision) await start(agentPath(ctx.plan, "sandbox-redis"));
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
    ? /v=(\S+)/.exec((await runCommand(ctx.plan.redis.server, ["--version"])).stdout)?.[1]
    : undefined;
  const minio = ctx.plan.offsite
    ? /version (\S+)/.exec((await runCommand("minio", ["--version"]).catch(() => ({ stdout: "" }))).stdout)?.[1]
    : undefined;
  return {
    postgres,
    host: `${os.hostname()} (${os.cpus().length} cores)`,
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

/** A private folder holding the identity in a 0600 file, for the restores' --identity. */
function identityFolder(identity: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-drill-identity-"));
  fs.writeFileSync(path.join(dir, "identity"), `${identity.trim()}\n`, { mode: 0o600 });
  return dir;
}

export async function runDrill(
  plan: DrPlan,
  options: DrillOptions,
): Promise<{ report: DrillReport; paths: ReportPaths }> {
  const progress = options.progress ?? ((line: string) => console.error(`drill: ${line}`));
  const service = drillService(plan);
  const ctx = new DrillContext(service, progress);
  if (service.offsite?.encryption && options.offsiteIdentity === undefined)
    throw new Error(
      `services.${service.name}.offsite.encryption.identity: the drill restores from the object stores, which ` +
        `hold only encrypted copies; set the identity that opens them (a Pulumi secret)`,
    );
  const { play: scenarios, notPlayed } = selectScenarios(options.scenarios, ctx);
  const startedAt = new Date().toISOString();
  progress(
    `service ${service.name}: RPO ${service.rpoSeconds}s, RTO ${service.rtoSeconds}s; ` +
      `scenarios: ${scenarios.map((s) => s.id).join(", ")}`,
  );
  await startServers(ctx);
  const env = await environment(ctx);
  const results: ScenarioResult[] = [];
  let detector: Detector | undefined;
  const identityDir = options.offsiteIdentity === undefined ? undefined : identityFolder(options.offsiteIdentity);
  const removeIdentity = () => identityDir && fs.rmSync(identityDir, { recursive: true, force: true });
  ctx.offsiteIdentityFile = identityDir && path.join(identityDir, "identity");
  const interrupted = () => {
    detector?.kill();
    removeIdentity();
  };
  try {
    await cleanUpOnInterrupt(interrupted, async () => {
      if (service.monitoring) await Detector.start(service, progress, (d) => (detector = d));
      ctx.alerts = detector;
      await playScenarios(ctx, scenarios, results);
    });
  } finally {
    await detector?.stop();
    removeIdentity();
  }
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
