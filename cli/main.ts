import { Command, Option } from "commander";
import * as fs from "node:fs";
import * as path from "node:path";
import { describeServicePlan, formatTable } from "../components/plan/describe";
import { ConfigError } from "../components/plan/errors";
import { findProjectDir, loadStackPlan, stackNames } from "../components/plan/stackFile";
import { applyPlanLocally, checkPlanLocally } from "./apply";
import { checkScenarioSelection, drillService, runDrill, SCENARIO_IDS, serviceHosts } from "../drill/run";
import { parsePgVersion, requireFreePorts, versionSandbox } from "../drill/versionSandbox";
import {
  enginePath,
  pinHostKey,
  runEngine,
  stackSecretValue,
  toolchainBinDir,
  upKeepingOutput,
  type EngineAction,
} from "./engine";
import { exitNonZeroIfUnfinished } from "./unfinished";
import { formatJson, formatMarkdown, formatPatch, formatSummary } from "./diff/formatDiff";
import { revisionPlan, workingTreePlan } from "./diff/revisionPlan";
import { diffPlans } from "./diff/stackDiff";
import { renderPlanTo } from "./render";
import { defaultPolicyPack } from "./review/policyPack";
import { reviewStacks } from "./review/review";
import { reviewComment, reviewFailed } from "./review/reviewComment";
import { formatStatus, stackStatus } from "./status";

// The toolchain's minio and mc (toolchain/setup) are found on PATH by the sandbox and target scripts.
if (fs.existsSync(toolchainBinDir())) process.env.PATH = `${toolchainBinDir()}:${process.env.PATH ?? ""}`;

const program = new Command()
  .name("drkit")
  .description("Disaster-recovery infrastructure for PostgreSQL, provisioned with Pulumi and proven by breaking things")
  .addOption(
    new Option("-C, --project-dir <dir>", "the drkit project directory (holding Pulumi.yaml)").default(
      process.cwd(),
      "the current directory",
    ),
  )
  .showHelpAfterError();

/** `drkit diff` exits with this when anything changes (1 and 2 are errors, as for every command). */
const DIFF_CHANGED_EXIT = 3;

const stackOption = () =>
  new Option("-s, --stack <name>", "stack name (its config is stacks/Pulumi.<name>.yaml)").default("local");
const projectDir = () => findProjectDir(program.opts<{ projectDir: string }>().projectDir);

program
  .command("plan")
  .description("show the derived plan of a stack: each objective and the setting it becomes")
  .addOption(stackOption())
  .action((opts: { stack: string }) => {
    const plan = loadStackPlan(projectDir(), opts.stack);
    for (const service of plan.services) {
      console.log(`\nservice ${service.name} on host ${service.host.name} (PostgreSQL ${service.postgres.version})\n`);
      console.log(formatTable(describeServicePlan(service)));
    }
  });

program
  .command("render")
  .description("write every file drkit would place on each host, as <out>/<host>/<absolute path>, for review")
  .addOption(stackOption())
  .requiredOption("-o, --out <dir>", "output directory")
  .action((opts: { stack: string; out: string }) => {
    const plan = loadStackPlan(projectDir(), opts.stack);
    const written = renderPlanTo(plan, path.resolve(opts.out));
    for (const file of written) console.log(`${file.host}:${file.hostPath}`);
    console.error(`rendered ${written.length} files for ${plan.services.length} service(s) into ${opts.out}`);
  });

program
  .command("diff")
  .description(
    "what a change of the stack's config does on each host: the files drkit places there as committed in --base " +
      "against the working tree, the settings that change and whether a reload or a restart follows " +
      `(exit status ${DIFF_CHANGED_EXIT} when anything changes, 0 when nothing does)`,
  )
  .addOption(stackOption())
  .option("--base <revision>", "the git revision to compare the working tree with", "HEAD")
  .addOption(new Option("--format <format>", "how to print it").choices(["text", "markdown", "json"]).default("text"))
  .option("--summary", "only the summary, without the unified diff of the files", false)
  .action((opts: { stack: string; base: string; format: "text" | "markdown" | "json"; summary: boolean }) => {
    const dir = projectDir();
    const after = workingTreePlan(dir, opts.stack);
    const before = revisionPlan(dir, opts.base, opts.stack);
    if (!before && !after) throw new Error(`stack "${opts.stack}" has no config file, neither in ${opts.base} nor now`);
    const diff = diffPlans(opts.stack, opts.base, before, after);
    if (opts.format === "json") console.log(formatJson(diff));
    else if (opts.format === "markdown") console.log(formatMarkdown(diff, !opts.summary));
    else {
      console.log(formatSummary(diff));
      const patch = formatPatch(diff);
      if (!opts.summary && patch) console.log(`\n${patch.trimEnd()}`);
    }
    if (diff.changes.length > 0) process.exitCode = DIFF_CHANGED_EXIT;
  });

program
  .command("review")
  .description(
    "the review of a pull request: per stack, drkit diff against --base and pulumi preview --diff with the policy " +
      "packs, as one Markdown comment (exit status 1 when a stack fails: invalid config, a policy violation, a " +
      "failed preview, or any change with --expect-no-changes)",
  )
  .option("--base <revision>", "the git revision the pull request goes into", "HEAD")
  .option("--stack <name...>", "the stacks to review (default: every stack config file of the project)")
  .option("--policy-pack <dir...>", "policy packs to run (default: the project's policies/, else drkit's own)")
  .option("--policy-pack-config <file...>", "JSON config for the policy packs (minimums, enforcement levels)")
  .option("--out <file>", "write the comment to this file instead of standard output")
  .option("--expect-no-changes", "preview every stack and fail on any change (a drift check of the main branch)", false)
  .action(
    async (opts: {
      base: string;
      stack?: string[];
      policyPack?: string[];
      policyPackConfig?: string[];
      out?: string;
      expectNoChanges: boolean;
    }) => {
      const dir = projectDir();
      const reviews = await reviewStacks(dir, {
        base: opts.base,
        stacks: opts.stack ?? stackNames(dir),
        policyPacks: (opts.policyPack ?? [defaultPolicyPack(dir)]).map((p) => path.resolve(p)),
        policyPackConfigs: (opts.policyPackConfig ?? []).map((p) => path.resolve(p)),
        expectNoChanges: opts.expectNoChanges,
        log: (line) => console.error(`drkit: ${line}`),
      });
      const comment = reviewComment(opts.base, reviews, opts.expectNoChanges);
      if (opts.out) fs.writeFileSync(opts.out, comment);
      else process.stdout.write(comment);
      const failed = reviews.filter((r) => reviewFailed(r, opts.expectNoChanges)).map((r) => r.stack);
      console.error(
        `drkit: review against ${opts.base}: ${failed.length ? `FAILED (${failed.join(", ")})` : "passed"}`,
      );
      if (failed.length) process.exitCode = 1;
    },
  );

program
  .command("apply")
  .description("apply a stack's files straight to its local hosts, without the Pulumi engine (sandboxes)")
  .addOption(stackOption())
  .option("--check", "then take a base backup and restore-test it in a scratch instance", false)
  .action(async (opts: { stack: string; check: boolean }) => {
    await applyPlanLocally(loadStackPlan(projectDir(), opts.stack), { check: opts.check });
    console.error("drkit: done");
  });

const engineCommand = (action: EngineAction, description: string) =>
  program
    .command(action)
    .description(description)
    .addOption(stackOption())
    .option("--check", "after up: take a base backup on each local host and restore-test it", false)
    .action(async (opts: { stack: string; check: boolean }) => {
      const dir = projectDir();
      // Validate first: a bad stack config fails here with drkit's message, before the engine starts.
      const plan = loadStackPlan(dir, opts.stack);
      if (opts.check && action !== "up") throw new Error("--check goes with up");
      await runEngine(dir, opts.stack, plan, action);
      if (opts.check) checkPlanLocally(plan);
    });
engineCommand("preview", "pulumi preview of a stack through the Automation API, with its progress");
engineCommand("up", "pulumi up of a stack through the Automation API, with its progress");
engineCommand("destroy", "pulumi destroy of a stack (backups and data directories stay)");

interface DrillCliOptions {
  stack: string;
  scenario?: string[];
  reportDir: string;
  provision: boolean;
  pgVersion?: string;
  pgBin?: string;
  breakHost?: string[];
  replaceHost?: string;
  powerHost?: string;
}

program
  .command("drill")
  .description(
    "break the stack's sandbox on purpose, recover, and report measured RTO and RPO (report.md, report.json, " +
      "report.html)",
  )
  .addOption(stackOption())
  .option("--scenario <id...>", `scenarios to play (default: every one the stack supports): ${SCENARIO_IDS.join(", ")}`)
  .option("--report-dir <dir>", "where the reports go", "drill-report")
  .option("--no-provision", "skip `pulumi up` (the sandbox is already provisioned)")
  .option(
    "--pg-version <major>",
    "play on another PostgreSQL major than the stack's, in a sandbox of its own (applied directly; the scenarios " +
      "whose client programs of that major are missing are not played)",
  )
  .option("--pg-bin <dir>", "that major's programs (default /usr/lib/postgresql/<major>/bin)")
  .option(
    "--break-host <name...>",
    "drill a service on real hosts (over SSH): name every host of it (its primary's and its standbys'); the drill " +
      "kills their servers and deletes data directories and backups there, then restores them",
  )
  .option(
    "--replace-host <command>",
    "with --break-host: host loss destroys the primary's host and brings up a new one at its address with this " +
      "command (run with bash -c, DRKIT_DRILL_HOST and DRKIT_DRILL_HOST_ADDRESS set; its last output line is the " +
      "new host's SSH public key), pins that key in the stack and runs pulumi up on the new host",
  )
  .option(
    "--power-host <command>",
    "with --break-host: primary-crash powers the primary's host off at once (a pulled plug) instead of killing " +
      "its postmaster, and on again for the fail-back, with this command (bash -c; DRKIT_DRILL_HOST, " +
      "DRKIT_DRILL_HOST_ADDRESS and DRKIT_DRILL_POWER=off or on set; on returns once the host accepts SSH)",
  )
  .action(async (opts: DrillCliOptions) => {
    const breakHosts = opts.breakHost ?? [];
    if (breakHosts.length && opts.pgVersion !== undefined)
      throw new Error("--pg-version plays in a sandbox of its own: it does not go with --break-host");
    for (const [option, command] of [
      ["--replace-host", opts.replaceHost],
      ["--power-host", opts.powerHost],
    ] as const) {
      if (command !== undefined && breakHosts.length === 0)
        throw new Error(`${option} acts on a real host: name the service's hosts with --break-host`);
      if (command !== undefined && !command.trim()) throw new Error(`${option}: the command is empty`);
    }
    if (opts.replaceHost !== undefined) enginePath();
    const dir = projectDir();
    let plan = loadStackPlan(dir, opts.stack);
    let provisionedBy: "pulumi" | "direct-apply" = "pulumi";
    let provisionNote: string | undefined;
    if (opts.pgBin !== undefined && opts.pgVersion === undefined) throw new Error("--pg-bin goes with --pg-version");
    let otherVersion: string | undefined;
    if (opts.pgVersion !== undefined) {
      const version = parsePgVersion(opts.pgVersion);
      const sandbox = versionSandbox(
        dir,
        opts.stack,
        version,
        path.resolve(opts.pgBin ?? `/usr/lib/postgresql/${version}/bin`),
      );
      plan = sandbox.plan;
      otherVersion = sandbox.note;
    }
    checkScenarioSelection(plan, opts.scenario, breakHosts);
    if (otherVersion !== undefined) {
      provisionedBy = "direct-apply";
      provisionNote = otherVersion;
      if (opts.provision) {
        await requireFreePorts(drillService(plan));
        console.error(`drkit: provisioning ${otherVersion} by applying the rendered files`);
        await applyPlanLocally(plan, { check: false });
      }
    } else if (!opts.provision) {
      provisionNote = "provisioned before the drill (--no-provision)";
    } else {
      try {
        enginePath();
      } catch (error) {
        provisionedBy = "direct-apply";
        provisionNote =
          `the Pulumi engine is not available (${(error as Error).message}); the rendered files ` +
          `were applied directly`;
      }
      console.error(
        `drkit: provisioning ${opts.stack} ` +
          `${provisionedBy === "pulumi" ? "with pulumi up" : "by applying the rendered files"}`,
      );
      if (provisionedBy === "pulumi") await runEngine(dir, opts.stack, plan, "up");
      else await applyPlanLocally(plan, { check: false });
    }
    const service = drillService(plan, breakHosts);
    const identity = service.offsite?.encryption?.identity;
    const offsiteIdentity =
      identity === undefined || typeof identity === "string"
        ? identity
        : await stackSecretValue(dir, opts.stack, plan, `drkit:services.${service.name}.offsite.encryption.identity`);
    const privateKeys: Record<string, string> = {};
    for (const host of serviceHosts(service))
      if (host.connection.type === "ssh" && typeof host.connection.privateKey === "object")
        privateKeys[host.name] = await stackSecretValue(
          dir,
          opts.stack,
          plan,
          `drkit:hosts.${host.name}.connection.privateKey`,
        );
    const { report, paths } = await runDrill(plan, {
      offsiteIdentity,
      stack: opts.stack,
      scenarios: opts.scenario,
      reportDir: path.resolve(opts.reportDir),
      provisionedBy,
      provisionNote,
      breakHosts,
      privateKeys,
      ...(opts.replaceHost !== undefined
        ? {
            hostReplacement: {
              command: opts.replaceHost,
              pinHostKey: (host: string, key: string) => pinHostKey(dir, opts.stack, plan, host, key),
              up: () => upKeepingOutput(dir, opts.stack, plan, (out) => process.stdout.write(out)),
            },
          }
        : {}),
      ...(opts.powerHost !== undefined ? { hostPower: opts.powerHost } : {}),
    });
    console.log(`\ndrill of ${opts.stack}: ${report.verdict}`);
    for (const s of report.scenarios) {
      console.log(
        `  ${s.verdict}  ${s.id.padEnd(20)} RTO ${s.rto.seconds.toFixed(1)}s / ${s.rto.objectiveSeconds}s   ` +
          `RPO ${s.rpo.lostCommits} commits, ${s.rpo.lostSpanSeconds.toFixed(1)}s ` +
          `/ ${s.rpo.objectiveSeconds}s${s.verdict === "FAIL" ? `   ${s.reasons[0]}` : ""}`,
      );
    }
    console.log(`reports: ${paths.markdown}, ${paths.json}, ${paths.html}`);
    if (report.verdict !== "PASS") process.exitCode = 1;
  });

program
  .command("status")
  .description(
    "one table of every monitored service: backup ages, archiving, off-site lag, the last restore test and replica " +
      "lag, each against its objective (exit status 1 when anything breaks one)",
  )
  .addOption(stackOption())
  .option("--prometheus <url>", "read the metrics from this Prometheus server instead of the local hosts' files")
  .action(async (opts: { stack: string; prometheus?: string }) => {
    const rows = await stackStatus(loadStackPlan(projectDir(), opts.stack), opts.prometheus);
    console.log(formatStatus(rows));
    if (rows.some((r) => r.verdict === "ALERT")) process.exitCode = 1;
  });

export async function main(argv: string[]): Promise<void> {
  try {
    await exitNonZeroIfUnfinished(async () => {
      await program.parseAsync(argv);
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exitCode = 2;
      return;
    }
    console.error(`drkit: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}

if (require.main === module) void main(process.argv);
