import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serviceArtifacts } from "../../components/artifacts/hostArtifacts";
import { buildPlan, type ServicePlan } from "../../components/plan/plan";
import { freePort, startSandbox, tempRoot, waitFor, type Sandbox } from "../helpers/sandbox";
import { HOST_KEY } from "../helpers/hostKeys";

// Debian's exporters as drkit configures them on a host (monitoring.exporters): each drop-in passes
// systemd-analyze verify beside Debian's own unit, and the command it sets runs, as the unit's user, against a
// real PostgreSQL (postgres_exporter with the role drkit creates) and the textfile directory (node_exporter).

let sb: Sandbox;
let plan: ServicePlan;
let work: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  sb = await startSandbox({ label: "exporters" });
  // Debian's /var/run/postgresql is open to other users (2775); the sandbox keeps its socket directory 0750.
  fs.chmodSync(sb.plan.postgres.socketDirectory, 0o2775);
  work = tempRoot("exporters-host");
  // The host as a real one (no sandbox prefix), with the sandbox server's socket and port.
  plan = buildPlan(
    {
      hosts: { db1: { connection: { type: "ssh", host: "10.0.0.5", hostKey: HOST_KEY } } },
      services: {
        svc: {
          host: "db1",
          postgres: {
            version: 15,
            databases: ["app"],
            port: sb.plan.postgres.port,
            socketDirectory: sb.plan.postgres.socketDirectory,
          },
          monitoring: {
            textfileDirectory: path.join(work, "textfile"),
            exporters: { node: true, postgres: true },
          },
        },
      },
    },
    { baseDir: work },
  ).services[0];
}, 300_000);

afterAll(() => {
  for (const child of children) child.kill("SIGTERM");
  sb?.destroy();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** The drop-in beside a copy of Debian's unit, checked by systemd-analyze verify (which reads drop-ins). */
function verifyWithDebianUnit(unit: string, dropIn: string, content: string) {
  const dir = fs.mkdtempSync(path.join(work, "units-"));
  fs.copyFileSync(`/lib/systemd/system/${unit}`, path.join(dir, unit));
  fs.mkdirSync(path.join(dir, `${unit}.d`));
  fs.writeFileSync(path.join(dir, `${unit}.d`, path.basename(dropIn)), content);
  return spawnSync("systemd-analyze", ["verify", path.join(dir, unit)], {
    encoding: "utf8",
    env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` },
  });
}

/** The command a drop-in's ExecStart runs ($ARGS empty, as Debian's default file has it), plus a listen address. */
function execStart(content: string, port: number): string[] {
  const line = content.split("\n").find((l) => l.startsWith("ExecStart=/"))!;
  return [
    ...line.slice("ExecStart=".length).replace(" $ARGS", "").split(" "),
    `--web.listen-address=127.0.0.1:${port}`,
  ];
}

async function scrape(port: number): Promise<string | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
    return response.ok ? await response.text() : undefined;
  } catch {
    return undefined;
  }
}

describe("Debian's exporters, configured by drkit", () => {
  it("are refused on a sandbox host, which no systemd runs", async () => {
    expect(() =>
      buildPlan(
        {
          hosts: { s: { connection: { type: "local", rootPrefix: "/tmp/x" } } },
          services: { svc: { host: "s", postgres: { databases: ["app"] }, monitoring: { exporters: { node: true } } } },
        },
        { baseDir: "/tmp" },
      ),
    ).toThrow(/services\.svc\.monitoring\.exporters\.node: true configures Debian's exporter under systemd/);
  });

  it("postgres_exporter: the role drkit creates, the drop-in verified, and pg_up 1 from the real server", async () => {
    const artifacts = serviceArtifacts(plan);
    const role = spawnSync("bash", ["-c", artifacts.step("step:exporter:postgres-role").run], { encoding: "utf8" });
    expect(role.status, role.stderr).toBe(0);
    // Twice: the step is idempotent.
    expect(spawnSync("bash", ["-c", artifacts.step("step:exporter:postgres-role").run]).status).toBe(0);
    expect(sb.sql("SELECT pg_has_role('prometheus', 'pg_monitor', 'MEMBER')", "postgres")).toBe("t");
    const dropIn = artifacts.file("exporter:postgres");
    expect(dropIn.path).toBe("/etc/systemd/system/prometheus-postgres-exporter.service.d/drkit-svc.conf");
    const verify = verifyWithDebianUnit("prometheus-postgres-exporter.service", dropIn.path, dropIn.content);
    expect(verify.status, verify.stderr).toBe(0);

    const port = await freePort();
    const log = fs.openSync(path.join(work, "postgres-exporter.log"), "a");
    const exporter = spawn("runuser", ["-u", "prometheus", "--", ...execStart(dropIn.content, port)], {
      stdio: ["ignore", log, log],
    });
    fs.closeSync(log);
    children.push(exporter);
    const text = await waitFor(
      "postgres_exporter reporting pg_up 1",
      async () => {
        const t = await scrape(port);
        return t && /^pg_up 1$/m.test(t) ? t : undefined;
      },
      60,
    ).catch((error) => {
      throw new Error(`${error}\n${fs.readFileSync(path.join(work, "postgres-exporter.log"), "utf8").slice(-1500)}`);
    });
    // pg_monitor lets it read the statistics views too.
    expect(text).toMatch(/^pg_stat_database_xact_commit\{.*datname="app".*\} \d+/m);
  }, 120_000);

  it("node_exporter: the drop-in verified, and the jobs' metrics served from the textfile directory", async () => {
    const artifacts = serviceArtifacts(plan);
    const dropIn = artifacts.file("exporter:node");
    const verify = verifyWithDebianUnit("prometheus-node-exporter.service", dropIn.path, dropIn.content);
    expect(verify.status, verify.stderr).toBe(0);
    const directory = spawnSync("bash", ["-c", artifacts.step("step:metrics-directory").run], { encoding: "utf8" });
    expect(directory.status, directory.stderr).toBe(0);
    const objectives = artifacts.file("metrics:objectives");
    fs.writeFileSync(objectives.path, objectives.content, { mode: 0o644 });

    const port = await freePort();
    const args = [...execStart(dropIn.content, port), "--collector.disable-defaults", "--collector.textfile"];
    const exporter = spawn("runuser", ["-u", "prometheus", "--", ...args], { stdio: "ignore" });
    children.push(exporter);
    const text = await waitFor(
      "node_exporter serving drkit's objectives",
      async () => {
        const t = await scrape(port);
        return t?.includes("drkit_objective_rpo_seconds") ? t : undefined;
      },
      60,
    );
    expect(text).toMatch(/^drkit_objective_rpo_seconds\{service="svc"\} 300$/m);
    expect(text).toMatch(/^node_textfile_scrape_error 0$/m);
  }, 120_000);

  it("the restart steps restart each unit after a daemon-reload, and the undo only reloads", () => {
    const artifacts = serviceArtifacts(plan);
    for (const [id, unit] of [
      ["step:exporter:node", "prometheus-node-exporter.service"],
      ["step:exporter:postgres", "prometheus-postgres-exporter.service"],
    ]) {
      const s = artifacts.step(id);
      expect(s.run.split("\n")).toEqual([
        "set -euo pipefail",
        "systemctl daemon-reload",
        `systemctl enable ${unit}`,
        `systemctl restart ${unit}`,
      ]);
      expect(s.undo).toBe(`systemctl daemon-reload\nsystemctl try-restart ${unit} || true`);
    }
  });
});
