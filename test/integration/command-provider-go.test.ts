import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { toolchainBin, repoDir } from "../helpers/engine";
import { runAsync, tempRoot } from "../helpers/sandbox";

// The command provider drkit builds (toolchain/src/pulumi-resource-command) has Go tests of its own: the
// SSH host key pin, dial retries, shell quoting, secrets. They run here against the module toolchain/build.sh
// set up (its go.mod, with every dependency already in the module cache), on a copy of the sources.
const GO = "/usr/local/go/bin/go";
const EXPECTED = [
  "TestCollapseNestedSecrets",
  "TestShellQuote",
  "TestRetryLimit",
  "TestPinnedHostKey",
  "TestAcquireHostBoundsConnectionsPerEndpoint",
  "TestDeleteOnAReplacedHost",
  "TestReplacedHostIsTheTargetNotTheBastion",
];

describe("the command provider's Go tests", () => {
  const dir = tempRoot("command-provider-go");
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("pass, every one of them: a pinned host key refuses another server before credentials are sent", async () => {
    const built = path.join(path.dirname(toolchainBin()), "work", "pulumi-resource-command");
    for (const f of ["go.mod", "go.sum"]) fs.copyFileSync(path.join(built, f), path.join(dir, f));
    fs.cpSync(path.join(repoDir, "toolchain/src/pulumi-resource-command"), dir, { recursive: true });
    const r = await runAsync(
      GO,
      ["-C", dir, "test", "-count=1", "-json", "./..."],
      { GOFLAGS: "-mod=mod -buildvcs=false", GOPROXY: "off", GOTOOLCHAIN: "local", HOME: process.env.HOME ?? "/root" },
      600_000,
    );
    const events = r.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { Action: string; Test?: string; Output?: string });
    const passed = events.filter((e) => e.Action === "pass" && e.Test).map((e) => e.Test!);
    const failed = events.filter((e) => e.Action === "fail" && e.Test).map((e) => e.Test!);
    const output = events.map((e) => e.Output ?? "").join("");
    expect(failed, output).toEqual([]);
    expect(r.status, `${output}\n${r.stderr}`).toBe(0);
    expect(passed.sort()).toEqual([...EXPECTED].sort());
  });
});
