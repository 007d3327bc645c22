import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineProject, sandboxStackYaml, type EngineProject } from "../helpers/engine";
import { freePort } from "../helpers/sandbox";

describe("drkit up / destroy drive the engine through the Automation API", () => {
  let project: EngineProject;
  let root: string;
  const drkit = (args: string[]) => project.drkit(args);

  beforeAll(async () => {
    project = engineProject("cli");
    root = project.sandboxRoot;
    const port = await freePort();
    project.writeStack(
      "sbx",
      sandboxStackYaml(
        root,
        `    ledger:
      host: sandbox
      rpo: 1m
      postgres: { port: ${port}, databases: [ledger], manager: { type: pg_ctl }, provision: true }
`,
      ),
    );
    project.writeStack(
      "broken",
      sandboxStackYaml(
        `${root}-broken`,
        `    ledger:
      host: sandbox
      rpo: 0s
      postgres: { version: 12, databases: [ledger] }
`,
      ),
    );
  });
  afterAll(() => {
    spawnSync("pkill", ["-f", "--", `-D ${root}`]);
    project?.remove();
  });

  it("up shows the engine's progress, provisions the stack and restore-tests a first backup", async () => {
    const r = await drkit(["up", "--stack", "sbx", "--check"]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/\+ +command:local:Command ledger-archiving-dropin created/);
    expect(r.stdout).toMatch(/Resources:\s+\+ \d+ created/);
    expect(r.stderr).toContain("drkit: up of sbx: succeeded");
    expect(r.stderr).toMatch(/verification of \d{8}T\d{6}Z: PASS/);
    expect(fs.existsSync(`${root}/usr/local/lib/drkit/ledger/archive-wal`)).toBe(true);
  });

  it("a bad stack config fails before the engine starts, naming every field", async () => {
    const r = await drkit(["up", "--stack", "broken"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('services.ledger.rpo: "0s" must be at least 1s');
    expect(r.stderr).toContain(
      "services.ledger.postgres.version: 12 is past its end of life (November 2024); drkit supports PostgreSQL 14-18",
    );
    expect(r.stdout).not.toContain("Previewing");
    expect(fs.existsSync(`${root}-broken`)).toBe(false);
  });

  it("destroy removes the stack's files and keeps the backups", async () => {
    const r = await drkit(["destroy", "--stack", "sbx"]);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.existsSync(`${root}/usr/local/lib/drkit/ledger/archive-wal`)).toBe(false);
    expect(
      fs.readdirSync(`${root}/var/lib/ledger/backups/postgresql/base`).filter((d) => /^\d{8}T\d{6}Z$/.test(d)),
    ).toHaveLength(1);
  });
});
