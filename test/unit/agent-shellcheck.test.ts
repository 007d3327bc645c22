import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { agentDirectory, agentFileNames } from "../../components/agent/agentFiles";
import { runAsync } from "../helpers/sandbox";

// shellcheck -x reads lib.sh again for every verb: about two seconds of CPU per file, so the files are checked
// concurrently (vitest's maxConcurrency at a time), each with room to wait for a core.
const SHELLCHECK_TIMEOUT_MS = 120_000;

describe("every agent file", () => {
  const names = agentFileNames();
  it("the agent has its library and verbs", () => expect(names.length).toBeGreaterThan(1));
  const file = (name: string) => `${agentDirectory()}/${name}`;
  // One after the other in the file, so vitest runs them as one concurrent group.
  for (const name of names) {
    it.concurrent(
      `${name} passes shellcheck`,
      async () => {
        const args = ["--shell=bash", "--severity=style", "-x", "-P", "SCRIPTDIR", file(name)];
        const r = await runAsync("shellcheck", args, {}, SHELLCHECK_TIMEOUT_MS);
        expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      },
      SHELLCHECK_TIMEOUT_MS,
    );
  }
  for (const name of names.filter((n) => n !== "lib.sh")) {
    it(`${name} is executable and starts with a bash shebang`, () => {
      expect(fs.statSync(file(name)).mode & 0o111).toBe(0o111);
      // archive_command runs for every WAL segment: bash by its path saves starting env
      const shebang = name === "archive-wal" ? "#!/bin/bash" : "#!/usr/bin/env bash";
      expect(fs.readFileSync(file(name), "utf8").split("\n")[0]).toBe(shebang);
    });
  }
});

// The agent's tests too: `! cmd` in the middle of a bats test can never fail it (SC2314), so each such line ends in
// `|| false`. SC2140 is left out: it takes the line-continued "..."\ "..." patterns of long assertions for a typo.
describe("every file of the agent's bats tests", () => {
  const dir = path.resolve(__dirname, "../agent");
  const files = fs.readdirSync(dir).filter((f) => /\.(bats|bash)$|^fake-/.test(f));
  it("there are bats files to check", () =>
    expect(files.filter((f) => f.endsWith(".bats")).length).toBeGreaterThan(10));
  for (const name of files) {
    it.concurrent(
      `${name} passes shellcheck (warnings and errors)`,
      async () => {
        const args = [
          "--shell=bash",
          "--severity=warning",
          "-e",
          "SC2140",
          "-x",
          "-P",
          "SCRIPTDIR",
          path.join(dir, name),
        ];
        const r = await runAsync("shellcheck", args, {}, SHELLCHECK_TIMEOUT_MS);
        expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      },
      SHELLCHECK_TIMEOUT_MS,
    );
  }
});
