import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { serviceSettings } from "../../components/agent/serviceEnv";
import { serviceArtifacts } from "../../components/artifacts/hostArtifacts";
import { buildPlan, type ServicePlan } from "../../components/plan/plan";
import { HOST_KEY } from "../helpers/hostKeys";
import { serverTlsPems, type ServerTlsPems } from "../helpers/testCa";

let tls: ServerTlsPems;
beforeAll(() => {
  tls = serverTlsPems({ ips: ["10.0.0.1"] });
});

/** billing on db1 under systemd (or pg_ctl), with these standbys; db2 is another host. */
const planWith = (standbys: object[], manager: object = { type: "systemd" }): ServicePlan =>
  buildPlan(
    {
      hosts: {
        db1: { connection: { type: "ssh", host: "10.0.0.1", hostKey: HOST_KEY } },
        db2: { connection: { type: "ssh", host: "10.0.0.2", hostKey: HOST_KEY } },
      },
      services: {
        billing: { host: "db1", postgres: { databases: ["billing"], manager }, standbys, replication: { tls } },
      },
    },
    { baseDir: "/tmp" },
  ).services[0];

const remote = { name: "far", host: "db2", address: "10.0.0.2", port: 5433 };
const near = { name: "near", host: "db1", port: 5434 };

describe("the primary's guard against a second primary", () => {
  it("with a standby on another host, the primary's unit runs guard-primary before it starts", () => {
    const artifacts = serviceArtifacts(planWith([remote, near]));
    const dropIn = artifacts.file("unit:primary-guard");
    expect(dropIn.path).toBe("/etc/systemd/system/postgresql@15-main.service.d/drkit-guard.conf");
    expect(dropIn.host.name).toBe("db1");
    const guard = "/usr/local/lib/drkit/billing/guard-primary";
    // the agent and the drop-in leave a host in no set order when the primary moves: a missing guard does not stop
    // the server (as a standby it would have let it start anyway)
    expect(dropIn.content).toContain(
      `\n[Service]\nExecStartPre=/bin/sh -c 'if [ -e ${guard} ]; then exec ${guard}; fi'\n`,
    );
    // the standbys are asked over the network
    expect(dropIn.content).toContain("After=network-online.target");
    const step = artifacts.step("step:primary-guard");
    expect(step.run).toBe("systemctl daemon-reload");
    // removed and forgotten by systemd together, before the agent it names goes
    expect(step.undo).toBe(`rm -f -- ${dropIn.path}\nsystemctl daemon-reload`);
  });

  it("systemd-analyze verify accepts Debian's unit with the drop-in, and refuses it when the drop-in is broken", () => {
    const dropIn = serviceArtifacts(planWith([remote])).file("unit:primary-guard");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-guard-unit-"));
    try {
      const unit = path.join(dir, "postgresql@15-main.service");
      fs.copyFileSync("/lib/systemd/system/postgresql@.service", unit);
      fs.mkdirSync(`${unit}.d`);
      const verify = (content: string) => {
        fs.writeFileSync(path.join(`${unit}.d`, "drkit-guard.conf"), content);
        return spawnSync("systemd-analyze", ["verify", unit], {
          encoding: "utf8",
          env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` },
        });
      };
      const good = verify(dropIn.content);
      expect(good.status, good.stderr).toBe(0);
      const broken = verify(dropIn.content.replace("ExecStartPre=/bin/sh", "ExecStartPre=/nonexistent/sh"));
      expect(broken.status).not.toBe(0);
      expect(broken.stderr).toContain("/nonexistent/sh");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("asks only the standbys on other hosts, at their addresses and ports", () => {
    const settings = serviceSettings(planWith([remote, near]));
    expect(settings.GUARD_STANDBYS).toEqual(["far"]);
    expect(settings.GUARD_ADDRESSES).toEqual(["10.0.0.2"]);
    expect(settings.GUARD_PORTS).toEqual(["5433"]);
  });

  it("no guard without a standby on another host, or for a server systemd does not run", () => {
    expect(serviceArtifacts(planWith([near])).has("unit:primary-guard")).toBe(false);
    expect(serviceArtifacts(planWith([near])).has("step:primary-guard")).toBe(false);
    const pgCtl = planWith([remote], { type: "pg_ctl" });
    expect(serviceArtifacts(pgCtl).has("unit:primary-guard")).toBe(false);
    expect(serviceSettings(pgCtl).GUARD_STANDBYS).toEqual(["far"]);
  });
});
