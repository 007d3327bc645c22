import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as cmd from "../../components/host/commands";
import { tempRoot } from "../helpers/sandbox";

const roots: string[] = [];
afterAll(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));
const bash = (script: string, input = "") => spawnSync("bash", ["-c", script], { input, encoding: "utf8" });

describe("the programs host components run", () => {
  const file = { path: "/srv/drkit/x y/file.conf", mode: "0640", owner: "postgres", group: "postgres" };
  const dirs = [
    { path: "/var/lib/svc/backups", mode: "0750", owner: "postgres" },
    { path: "/var/lib/svc/backups/wal", mode: "0750", owner: "postgres" },
  ];
  const programs = {
    placeFile: cmd.placeFileScript(file),
    removeFile: cmd.removeFileScript(file.path),
    makeDirectories: cmd.makeDirectoriesScript(dirs),
    removeEmptyDirectories: cmd.removeEmptyDirectoriesScript(dirs),
    enableTimerSandbox: cmd.enableTimerScript({ rootPrefix: "/tmp/sbx", timer: "drkit-a-base.timer" }),
    enableTimerHost: cmd.enableTimerScript({ rootPrefix: "", timer: "drkit-a-base.timer" }),
    disableTimerHost: cmd.disableTimerScript({ rootPrefix: "", timer: "drkit-a-base.timer" }),
    applyDropIn: cmd.applyDropInScript(file, "/usr/local/lib/drkit/a/apply-settings"),
    removeDropIn: cmd.removeDropInScript(file.path, "/usr/local/lib/drkit/a/apply-settings"),
  };
  for (const [name, program] of Object.entries(programs)) {
    it(`${name} passes shellcheck`, () => {
      const r = spawnSync("shellcheck", ["--shell=bash", "-"], {
        input: `#!/usr/bin/env bash\n${program}\n`,
        encoding: "utf8",
      });
      expect(r.status, r.stdout).toBe(0);
    });
  }

  it("places a file atomically with its mode and owner, replaces it on update, and removes it", () => {
    const root = tempRoot("hostcmd");
    roots.push(root);
    const target = { ...file, path: path.join(root, "etc/drkit/has space/file.conf") };
    expect(bash(cmd.placeFileScript(target), "one\n").status).toBe(0);
    const st = fs.statSync(target.path);
    expect(fs.readFileSync(target.path, "utf8")).toBe("one\n");
    expect(st.mode & 0o777).toBe(0o640);
    expect(st.uid).toBe(Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout));
    expect(bash(cmd.placeFileScript(target), "two\n").status).toBe(0);
    expect(fs.readFileSync(target.path, "utf8")).toBe("two\n");
    expect(fs.readdirSync(path.dirname(target.path))).toEqual(["file.conf"]);
    expect(bash(cmd.removeFileScript(target.path)).status).toBe(0);
    expect(fs.existsSync(target.path)).toBe(false);
  });

  it("creates backup directories with owner and mode, and on delete keeps any that hold backups", () => {
    const root = tempRoot("dirs");
    roots.push(root);
    const specs = [
      { path: `${root}/b`, mode: "0750", owner: "postgres" },
      { path: `${root}/b/wal`, mode: "0700", owner: "postgres" },
      { path: `${root}/b/empty`, mode: "0750", owner: "root" },
    ];
    expect(bash(cmd.makeDirectoriesScript(specs)).status).toBe(0);
    expect(fs.statSync(`${root}/b/wal`).mode & 0o777).toBe(0o700);
    // the Redis user's group may pass through a postgres-owned root to its own folder, and nothing more
    const shared = [
      { path: `${root}/s`, mode: "0710", owner: "postgres", groupOf: "redis" },
      { path: `${root}/s/valkey`, mode: "0750", owner: "redis" },
      { path: `${root}/s/wal`, mode: "0750", owner: "postgres" },
    ];
    expect(bash(cmd.makeDirectoriesScript(shared)).status).toBe(0);
    const asRedis = (script: string) => spawnSync("runuser", ["-u", "redis", "--", "bash", "-c", script]).status;
    expect(asRedis(`touch ${root}/s/valkey/dump.rdb`)).toBe(0);
    expect(asRedis(`ls ${root}/s`)).not.toBe(0);
    expect(asRedis(`ls ${root}/s/wal`)).not.toBe(0);
    // a folder whose group reads the whole tree: what was there gets the group, what is made later inherits it
    fs.mkdirSync(`${root}/s/marks/site-a/base`, { recursive: true, mode: 0o700 });
    fs.writeFileSync(`${root}/s/marks/site-a/base/20240102T030405Z`, "x", { mode: 0o600 });
    fs.symlinkSync("/etc/shadow", `${root}/s/marks/planted`);
    const shadow = fs.statSync("/etc/shadow");
    const tree = [{ path: `${root}/s/marks`, mode: "0750", owner: "postgres", groupOf: "redis", groupReadsTree: true }];
    expect(bash(cmd.makeDirectoriesScript(tree)).status).toBe(0);
    expect(asRedis(`cat ${root}/s/marks/site-a/base/20240102T030405Z`)).toBe(0);
    expect(fs.statSync(`${root}/s/marks`).mode & 0o7777).toBe(0o2750);
    expect(spawnSync("runuser", ["-u", "postgres", "--", "mkdir", `${root}/s/marks/site-b`]).status).toBe(0);
    expect(asRedis(`ls ${root}/s/marks/site-b`)).toBe(0);
    // a link planted in the tree changes nothing where it points
    expect(fs.statSync("/etc/shadow")).toMatchObject({ gid: shadow.gid, mode: shadow.mode });
    fs.writeFileSync(`${root}/b/wal/000000010000000000000001`, "wal");
    expect(bash(cmd.removeEmptyDirectoriesScript(specs)).status).toBe(0);
    expect(fs.existsSync(`${root}/b/empty`)).toBe(false);
    expect(fs.readFileSync(`${root}/b/wal/000000010000000000000001`, "utf8")).toBe("wal");
  });
});
