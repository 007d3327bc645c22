import { describe, expect, it } from "vitest";
import { buildPlan } from "../../components/plan/plan";
import { formatJson, formatMarkdown, formatSummary } from "../../cli/diff/formatDiff";
import { settingChanges, settingsOf } from "../../cli/diff/settingChanges";
import { diffPlans, hostEffects } from "../../cli/diff/stackDiff";
import { HOST_KEY } from "../helpers/hostKeys";

const config = () => ({
  hosts: {
    db1: { connection: { type: "ssh", host: "db1.internal", hostKey: HOST_KEY } },
    db2: { connection: { type: "ssh", host: "db2.internal", hostKey: HOST_KEY } },
  },
  services: {
    billing: { host: "db1", rpo: "5m", postgres: { databases: ["billing"] } },
  } as Record<string, any>,
});
const plan = (mutate: (c: ReturnType<typeof config>) => void = () => undefined) => {
  const c = config();
  mutate(c);
  return buildPlan(c, { baseDir: "/srv/project" });
};
const diffOf = (mutate: (c: ReturnType<typeof config>) => void) => diffPlans("prod", "main", plan(), plan(mutate));
const pathEnds = (suffix: string) => (c: { path: string }) => c.path.endsWith(suffix);

describe("drkit diff: what a config change does on each host", () => {
  it("the same config twice: no change", () => {
    const diff = diffPlans("prod", "main", plan(), plan());
    expect(diff.changes).toEqual([]);
    expect(formatSummary(diff)).toContain("no changes");
    expect(JSON.parse(formatJson(diff)).changed).toBe(false);
  });

  it("a shorter RPO: archive_timeout changes and PostgreSQL reloads, nothing restarts", () => {
    const diff = diffOf((c) => (c.services.billing.rpo = "2m"));
    const dropIn = diff.changes.find(pathEnds("90-drkit-billing-archiving.conf"))!;
    expect(dropIn.status).toBe("changed");
    expect(dropIn.settings).toEqual([{ name: "archive_timeout", from: "240", to: "96", effect: "reload" }]);
    expect(dropIn.effect).toBe("reload");
    expect(dropIn.diff).toContain("-archive_timeout = 240\n+archive_timeout = 96\n");
    const env = diff.changes.find(pathEnds("/drkit.env"))!;
    expect(env.settings.map((s) => s.name)).toContain("RPO_SECONDS");
    expect(env.effect).toBe("next-run");
    expect(hostEffects(diff)).toEqual([{ host: "db1", effect: "reload", restartSettings: [] }]);
    expect(formatSummary(diff)).toMatch(/host db1: PostgreSQL reloads\n/);
  });

  it("a first standby: the replication drop-in is added and PostgreSQL restarts for its postmaster settings", () => {
    const diff = diffOf((c) => {
      c.services.billing.standbys = [
        { name: "replica", host: "db1", address: "10.0.0.1", port: 5433, synchronous: true },
      ];
      c.services.billing.replication = { tls: { generate: true } };
    });
    const dropIn = diff.changes.find(pathEnds("91-drkit-billing-replication.conf"))!;
    expect(dropIn.status).toBe("added");
    expect(dropIn.settings.find((s) => s.name === "max_wal_senders")).toMatchObject({
      from: undefined,
      effect: "restart",
    });
    expect(dropIn.settings.find((s) => s.name === "synchronous_standby_names")!.effect).toBe("reload");
    expect(dropIn.diff).toMatch(/^--- \/dev\/null\n\+\+\+ b\/db1:\/.*91-drkit-billing-replication\.conf\n/);
    const [db1] = hostEffects(diff);
    expect(db1.effect).toBe("restart");
    expect(db1.restartSettings).toEqual(expect.arrayContaining(["max_wal_senders", "wal_log_hints"]));
    expect(formatSummary(diff)).toMatch(/host db1: PostgreSQL restarts \(.*max_wal_senders.*\)/);
  });

  it("a service moved to another host: removed from one, added on the other, steps included", () => {
    const diff = diffOf((c) => (c.services.billing.host = "db2"));
    const statuses = (host: string) => new Set(diff.changes.filter((c) => c.host === host).map((c) => c.status));
    expect(statuses("db1")).toEqual(new Set(["removed"]));
    expect(statuses("db2")).toEqual(new Set(["added"]));
    expect(diff.changes.some((c) => c.kind === "step" && c.host === "db2")).toBe(true);
    expect(diff.changes.some((c) => c.kind === "directory" && c.host === "db2")).toBe(true);
  });

  it("a timer's schedule: the unit's setting, and systemd reloads its units", () => {
    const diff = diffOf((c) => (c.services.billing.schedule = { base: "*-*-* 03:30:00" }));
    const timer = diff.changes.find(pathEnds("drkit-billing-base.timer"))!;
    expect(timer.settings).toEqual([
      { name: "[Timer] OnCalendar", from: "*-*-* 02:00:00", to: "*-*-* 03:30:00", effect: "daemon-reload" },
    ]);
    expect(timer.effect).toBe("daemon-reload");
  });

  it("a secret file that changes shows its path, never a diff of its content", () => {
    const withStore = (c: ReturnType<typeof config>, key: string) => {
      (c as any).objectStores = {
        "site-a": {
          type: "minio",
          endpoint: "https://minio.example.com:9000",
          bucket: "drkit-billing",
          accessKey: key,
          secretKey: "s3cr3t-value-1234",
        },
      };
      c.services.billing.offsite = { targets: ["site-a"], encryption: { recipients: [AGE_RECIPIENT] } };
    };
    const diff = diffPlans(
      "prod",
      "main",
      plan((c) => withStore(c, "AKIAOLDOLDOLD")),
      plan((c) => withStore(c, "AKIANEWNEWNEW")),
    );
    const text = formatSummary(diff) + formatJson(diff) + formatMarkdown(diff);
    expect(text).not.toContain("AKIANEWNEWNEW");
    expect(text).not.toContain("s3cr3t-value-1234");
    const secrets = diff.changes.filter((x) => x.path.endsWith("/offsite-site-a.env"));
    expect(secrets.map((c) => [c.status, c.diff])).toEqual([["changed", ""]]);
    expect(formatSummary(diff)).toMatch(/changed +\/etc\/drkit\/billing\/offsite-site-a\.env {2}\[secret: not shown\]/);
  });

  it("Markdown: a table per change with the settings and what follows, the patch folded under it", () => {
    const md = formatMarkdown(diffOf((c) => (c.services.billing.rpo = "2m")));
    expect(md).toContain("#### drkit diff: stack `prod` against `main`");
    const row = md.split("\n").find((line) => line.includes("90-drkit-billing-archiving.conf"));
    expect(row).toMatch(/^\| db1 \| `\/.*` \| changed \| `archive_timeout: 240 -> 96` \| PostgreSQL reloads \|$/);
    expect(md).toContain("<details><summary>The files, as a unified diff</summary>");
    expect(md).toContain("+archive_timeout = 96");
  });
});

describe("the settings of each kind of file", () => {
  it("PostgreSQL drop-ins, Redis config, agent settings and units, comments ignored, repeats joined", () => {
    expect([...settingsOf("postgres-conf", "# c\nwal_level = 'replica'\nport=5433\n")!]).toEqual([
      ["wal_level", "'replica'"],
      ["port", "5433"],
    ]);
    expect([...settingsOf("redis-conf", 'save ""\nsave 900 1\nappendonly yes\n')!]).toEqual([
      ["save", '""; 900 1'],
      ["appendonly", "yes"],
    ]);
    expect([...settingsOf("settings", "# x\nA=1\nB=(x y)\n")!]).toEqual([
      ["A", "1"],
      ["B", "(x y)"],
    ]);
    expect([...settingsOf("unit", "[Unit]\nDescription=x\n[Timer]\nOnCalendar=daily\n")!]).toEqual([
      ["[Unit] Description", "x"],
      ["[Timer] OnCalendar", "daily"],
    ]);
    expect(settingsOf("agent", "#!/usr/bin/env bash\nA=1\n")).toBeUndefined();
  });

  it("what each change needs: wal_level restarts, archive_timeout reloads, Redis takes it live", () => {
    expect(settingChanges("postgres-conf", "wal_level = minimal\n", "wal_level = replica\n")[0].effect).toBe("restart");
    expect(settingChanges("postgres-conf", undefined, "archive_timeout = 60\n")).toEqual([
      { name: "archive_timeout", from: undefined, to: "60", effect: "reload" },
    ]);
    expect(settingChanges("redis-conf", "appendonly no\n", "appendonly yes\n")[0].effect).toBe("redis-live");
    expect(settingChanges("settings", "A=1\nB=2\n", "A=1\n")).toEqual([
      { name: "B", from: "2", to: undefined, effect: "next-run" },
    ]);
  });
});

const AGE_RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
