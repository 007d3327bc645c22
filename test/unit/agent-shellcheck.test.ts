import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { agentDirectory, agentFileNames } from "../../components/agent/agentFiles";

describe("every agent file", () => {
  const names = agentFileNames();
  it("the agent has its library and verbs", () => expect(names.length).toBeGreaterThan(1));
  for (const name of names) {
    const file = `${agentDirectory()}/${name}`;
    it(`${name} passes shellcheck`, () => {
      const r = spawnSync("shellcheck", ["--shell=bash", "--severity=style", "-x", "-P", "SCRIPTDIR", file], {
        encoding: "utf8",
      });
      expect(r.error).toBeUndefined();
      expect(r.status, r.stdout).toBe(0);
    });
    if (name !== "lib.sh") {
      it(`${name} is executable and starts with a bash shebang`, () => {
        expect(fs.statSync(file).mode & 0o111).toBe(0o111);
        expect(fs.readFileSync(file, "utf8").split("\n")[0]).toBe("#!/usr/bin/env bash");
      });
    }
  }
});
