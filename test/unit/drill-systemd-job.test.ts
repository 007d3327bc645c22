import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildPlan } from "../../components/plan/plan";
import { DrillContext } from "../../drill/context";
import type { HostShell } from "../../drill/hostShell";
import { HOST_KEY } from "../helpers/hostKeys";

// A job started by systemd on a real host (the drill's DrillContext.job): what a failed run printed reaches the
// error, also when journald stores it only after `systemctl start` has returned. The host is a stand-in: its
// commands run here through bash, systemctl fails the start, journalctl answers with nothing twice, then with
// the run's lines.

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-drill-systemd-job-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const FAKE_HOST = `
calls=$1/journal-calls; shift
case "$1 $2" in
  "systemctl start") echo "Job for $3 failed because the control process exited with error code." >&2; exit 1 ;;
  "systemctl show") echo 0123456789abcdef ;;
  journalctl*)
    n=$(( $(cat "$calls" 2>/dev/null || echo 0) + 1 )); echo "$n" >"$calls"
    [[ $* == *_SYSTEMD_INVOCATION_ID=0123456789abcdef* ]] || exit 3
    if ((n > 2)); then echo "drkit-billing-backup-base: ERROR: not enough space in /var/lib/billing/backups"; fi ;;
  *) exit 9 ;;
esac`;

function fakeHost(): HostShell {
  return {
    host: "db1",
    remote: true,
    spawnable: (argv) => ({ command: "bash", args: ["-c", FAKE_HOST, "fake-host", dir, ...argv] }),
    connect: () => undefined,
    secretFile: () => "",
    close: () => undefined,
    reconnect: () => undefined,
  };
}

describe("a job systemd starts on a real host, failing", () => {
  it("fails with the run's own lines from the journal, waited for when they come late", async () => {
    const service = buildPlan(
      {
        hosts: { db1: { connection: { type: "ssh", host: "10.0.0.1", hostKey: HOST_KEY } } },
        services: { billing: { host: "db1", postgres: { databases: ["billing"] } } },
      },
      { baseDir: "/tmp" },
    ).services[0];
    const shell = fakeHost();
    const ctx = new DrillContext(service, () => undefined, { primary: shell, of: () => shell });
    await expect(ctx.runJob("base")).rejects.toThrow(
      /on db1: base job {2}exited 1: drkit-billing-backup-base: ERROR: not enough space/,
    );
    expect(Number(fs.readFileSync(path.join(dir, "journal-calls"), "utf8"))).toBe(3);
  });
});
