import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineProject, repoDir, sandboxStackYaml, type EngineProject } from "../helpers/engine";

// drkit diff and drkit review on a git repository of a drkit project, as a pull request's CI runs them: a first
// commit, then one that shortens the RPO (files change, PostgreSQL reloads, the policies pass), then one that
// cuts retention below the policy's minimum (the review fails, naming the rule and the values).
describe("drkit diff and drkit review on a project's git history", () => {
  let project: EngineProject;
  const policyPack = path.join(repoDir, "policies");
  const drkit = (args: string[]) => project.drkit(args);
  const git = (...args: string[]) => {
    const r = spawnSync("git", ["-C", project.dir, ...args], { encoding: "utf8" });
    expect(r.status, `git ${args.join(" ")}: ${r.stderr}`).toBe(0);
    return r.stdout.trim();
  };
  let salt = "";
  const stack = (rpo: string, retention = "") =>
    salt +
    sandboxStackYaml(
      project.sandboxRoot,
      `    billing:
      host: sandbox
      rpo: ${rpo}
${retention}      postgres: { port: 55999, databases: [billing] }
`,
    );
  const commit = (message: string, yaml: string) => {
    project.writeStack("shop", yaml);
    git("add", "-A");
    git("-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", message);
  };
  const review = async (base: string, extra: string[] = []) => {
    const out = path.join(path.dirname(project.dir), `comment-${Date.now()}.md`);
    const r = await drkit([
      "review",
      "--base",
      base,
      "--stack",
      "shop",
      "--policy-pack",
      policyPack,
      "--out",
      out,
      ...extra,
    ]);
    return { ...r, comment: fs.existsSync(out) ? fs.readFileSync(out, "utf8") : "" };
  };

  beforeAll(async () => {
    project = engineProject("review");
    fs.writeFileSync(path.join(project.dir, ".gitignore"), "node_modules\n");
    git("init", "-q", "-b", "main");
    // The stack exists before its config is committed, as in a real repository: init writes its salt there.
    project.writeStack("shop", stack("5m"));
    expect((await project.pulumi(["stack", "init", "shop"])).status).toBe(0);
    salt = /^encryptionsalt: .*\n/m.exec(
      fs.readFileSync(path.join(project.dir, "stacks/Pulumi.shop.yaml"), "utf8"),
    )![0];
    commit("a first stack", stack("5m"));
    commit("a shorter RPO", stack("2m"));
    commit("less retention", stack("2m", "      retention: { dailyDays: 3, weeklyWeeks: 12 }\n"));
  });
  afterAll(() => project?.remove());

  it("drkit diff: exit 0 and 'no changes' against the working tree's own commit", async () => {
    const r = await drkit(["diff", "--stack", "shop", "--base", "HEAD"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("drkit diff of stack shop: HEAD -> working tree\nno changes");
  });

  it("drkit diff: the RPO commit changes archive_timeout (a reload), exit 3; JSON for tools", async () => {
    const r = await drkit(["diff", "--stack", "shop", "--base", "HEAD~2", "--summary"]);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/host sandbox: PostgreSQL reloads\n/);
    expect(r.stdout).toContain("archive_timeout: 240 -> 96");
    expect(r.stdout).not.toContain("@@");
    const json = await drkit(["diff", "--stack", "shop", "--base", "HEAD~2", "--format", "json"]);
    const parsed = JSON.parse(json.stdout);
    expect(parsed.changed).toBe(true);
    expect(parsed.hosts).toEqual([{ host: "sandbox", effect: "reload", restartSettings: [] }]);
    const dropIn = parsed.changes.find((c: { path: string }) => c.path.endsWith("90-drkit-billing-archiving.conf"));
    expect(dropIn.diff).toContain("+archive_timeout = 96");
  });

  it("drkit diff: a revision that does not exist, or a stack in neither, fails naming it", async () => {
    const bad = await drkit(["diff", "--stack", "shop", "--base", "no-such-branch"]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("--base no-such-branch: not a commit of the git repository");
    const none = await drkit(["diff", "--stack", "ghost", "--base", "HEAD"]);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('stack "ghost" has no config file, neither in HEAD nor now');
  });

  it("review of the RPO commit: the file diff, a passing preview with the policy pack, exit 0", async () => {
    git("checkout", "-q", "HEAD~1");
    try {
      const r = await review("HEAD~1");
      expect(r.status, `${r.stderr}\n${r.comment}`).toBe(0);
      expect(r.comment.split("\n")[0]).toBe("<!-- drkit-review -->");
      expect(r.comment).toContain("## DR review against `HEAD~1`");
      expect(r.comment).toContain("1 stack(s) pass");
      const row = r.comment.split("\n").find((line) => line.startsWith("| `shop` |"));
      expect(row).toMatch(
        /^\| `shop` \| 2 changed on 1 host\(s\); PostgreSQL reloads on sandbox \| passed: \d+ to create \| /,
      );
      expect(row).toMatch(/ \| \*\*1 advisory\*\* \|$/);
      expect(r.comment).toContain("`archive_timeout: 240 -> 96`");
      expect(r.comment).toContain("+archive_timeout = 96");
      // an advisory violation is reported and does not fail the review
      const preview = r.comment.slice(r.comment.indexOf("#### pulumi preview: passed"));
      expect(preview).toMatch(/^.*\n\n.*\n.*\n\| advisory \| `postgres-monitoring-configured` .*\n\n/);
      expect(preview).toMatch(/\n```\nResources:\n +\+ \d+ to create\n```/);
      expect(r.stderr).toContain("drkit: review of shop: pulumi preview --diff with the policy packs");
    } finally {
      git("checkout", "-q", "main");
    }
  });

  it("review of the retention commit: the policy violation fails it, named with its values, exit 1", async () => {
    const r = await review("HEAD~1");
    expect(r.status, r.comment).toBe(1);
    expect(r.comment).toContain("**1 of 1 stack(s) fail**: `shop`");
    expect(r.comment).toMatch(/\| `shop` \| [^|]+ \| \*\*failed\*\* \| \*\*1 mandatory, 1 advisory\*\* \|/);
    expect(r.comment).toContain(
      "| mandatory | `postgres-backup-retention` (drkit-dr@v0.1.0) | `drkit:postgres:PostgresBackup: billing` | " +
        'PostgresBackup "billing": retention.dailyDays is 3 days; the rule\'s minimum is 7 days |',
    );
    expect(r.comment).toContain("error: preview failed");
    expect(r.comment).toContain("RETAIN_DAILY_DAYS: 7 -> 3");
    expect(r.stderr).toContain("drkit: review against HEAD~1: FAILED (shop)");
  });

  it("a drift check (--expect-no-changes) previews even an unchanged stack and fails on pending changes", async () => {
    const r = await review("HEAD", ["--expect-no-changes", "--policy-pack-config", writePolicyConfig()]);
    expect(r.status, r.comment).toBe(1);
    expect(r.comment).toContain("## DR review against `HEAD` (expecting no changes)");
    expect(r.stderr).toContain("(a drift check previews every stack)");
    expect(r.comment).toMatch(/no file changes \| \*\*failed\*\*/);
    expect(r.comment).toMatch(/no changes were expected/i);
  });

  /** Retention down to advisory: the drift check then fails on the pending changes alone. */
  function writePolicyConfig(): string {
    const file = path.join(path.dirname(project.dir), "policy-config.json");
    fs.writeFileSync(file, JSON.stringify({ "postgres-backup-retention": { enforcementLevel: "advisory" } }));
    return file;
  }
});
