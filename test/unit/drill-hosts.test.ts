import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildPlan } from "../../components/plan/plan";
import { knownHostsLine, localShell, shellQuote, sshShell } from "../../drill/hostShell";
import { checkScenarioSelection, drillService, serviceHosts } from "../../drill/run";
import { HOST_KEY } from "../helpers/hostKeys";
import { makeTestCa } from "../helpers/testCa";

const ssh = (host: string, extra: Record<string, unknown> = {}) => ({
  connection: { type: "ssh", host, hostKey: HOST_KEY, ...extra },
});
let tls: { ca: string; certificate: string; key: string };
/** The same CA's certificate for db1 and db2: db2 may be the primary too. */
let bothHostsTls: typeof tls;
/** For a primary reached by name (db1.internal), and db2 at 10.0.0.2. */
let primaryByNameTls: typeof tls;
const caDir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-drill-hosts-ca-"));
beforeAll(() => {
  const ca = makeTestCa(caDir);
  const issued = ca.issue("db1", { ips: ["10.0.0.1"] });
  const read = (file: string) => fs.readFileSync(file, "utf8");
  tls = { ca: read(ca.certFile), certificate: read(issued.certFile), key: read(issued.keyFile) };
  const both = ca.issue("db1-db2", { ips: ["10.0.0.1", "10.0.0.2"] });
  bothHostsTls = { ca: tls.ca, certificate: read(both.certFile), key: read(both.keyFile) };
  const named = ca.issue("db1-named", { dns: ["db1.internal"], ips: ["10.0.0.2"] });
  primaryByNameTls = { ca: tls.ca, certificate: read(named.certFile), key: read(named.keyFile) };
});
afterAll(() => fs.rmSync(caDir, { recursive: true, force: true }));

const hostsPlan = (replicationTls = tls, primaryAddress?: string) =>
  buildPlan(
    {
      hosts: { db1: ssh("10.0.0.1"), db2: ssh("10.0.0.2"), db3: ssh("10.0.0.3") },
      services: {
        billing: {
          host: "db1",
          postgres: { databases: ["billing"] },
          standbys: [{ name: "replica", host: "db2", port: 5433 }],
          replication: { tls: replicationTls, ...(primaryAddress ? { primaryAddress } : {}) },
        },
      },
    },
    { baseDir: "/tmp" },
  );

describe("which service the drill breaks", () => {
  it("without --break-host only a sandbox service: real hosts are refused, naming the option", () => {
    expect(() => drillService(hostsPlan())).toThrow(
      /runs on a sandbox service .* or on real hosts named with --break-host/,
    );
  });

  it("a service on real hosts when every host it runs on is named", () => {
    const service = drillService(hostsPlan(), ["db1", "db2"]);
    expect(service.name).toBe("billing");
    expect(serviceHosts(service).map((h) => h.name)).toEqual(["db1", "db2"]);
  });

  it("a standby's host left out is refused: the drill rebuilds the standby there", () => {
    expect(() => drillService(hostsPlan(), ["db1"])).toThrow(
      /service billing also runs on db2: the drill rebuilds its standbys there, so name every host/,
    );
  });

  it("a primary crash across hosts needs the standby to serve the certificate once promoted: it must name db2", () => {
    const refused = () => checkScenarioSelection(hostsPlan(), ["primary-crash"], ["db1", "db2"]);
    expect(refused).toThrow(/--scenario primary-crash: standby replica runs on another host \(db2\)/);
    expect(refused).toThrow(/does not name its address 10\.0\.0\.2: .*services\.billing\.replication\.tls/);
    expect(() => checkScenarioSelection(hostsPlan(bothHostsTls), ["primary-crash"], ["db1", "db2"])).not.toThrow();
    // the old primary, a standby for a while, listens at an IP address: a primary reached by name cannot
    expect(() =>
      checkScenarioSelection(hostsPlan(primaryByNameTls, "db1.internal"), ["primary-crash"], ["db1", "db2"]),
    ).toThrow(/the primary's address db1\.internal is a host name: .*replication\.primaryAddress/);
  });

  it("an unknown host, or hosts that hold no primary, are refused", () => {
    expect(() => drillService(hostsPlan(), ["db1", "db9"])).toThrow(
      /--break-host db9: no such host in the stack \(db1, db2, db3\)/,
    );
    expect(() => drillService(hostsPlan(), ["db3"])).toThrow(
      /--break-host db3: no service has its primary on these hosts/,
    );
  });
});

describe("the drill's shells", () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-drill-shell-test-"));
  afterEach(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it("shellQuote survives sh: every word comes back as it was", () => {
    const words = [
      "plain",
      "with space",
      "it's",
      `"double"`,
      "$HOME",
      "`date`",
      "a;b",
      "*",
      "",
      "tab\there",
      "new\nline",
    ];
    const r = spawnSync("sh", ["-c", `printf '%s\\0' ${words.map(shellQuote).join(" ")}`], { encoding: "utf8" });
    expect(r.stdout.split("\0").slice(0, -1)).toEqual(words);
  });

  it("pins the host key for the address and port, and nothing else", () => {
    expect(knownHostsLine("10.0.0.1", 22, HOST_KEY)).toBe(`10.0.0.1 ${HOST_KEY}\n`);
    expect(knownHostsLine("db1.internal", 2222, `${HOST_KEY}\n`)).toBe(`[db1.internal]:2222 ${HOST_KEY}\n`);
  });

  it("an SSH shell checks the pinned key only, keeps the private key in a 0600 file, and quotes the command", () => {
    fs.mkdirSync(scratch, { recursive: true });
    const host = hostsPlan().hosts.get("db1")!;
    const shell = sshShell(
      host,
      "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----",
      scratch,
    );
    const { command, args } = shell.spawnable(["runuser", "-u", "postgres", "--", "psql", "-c", "SELECT 'x'"]);
    expect(command).toBe("ssh");
    expect(args).toContain("StrictHostKeyChecking=yes");
    expect(args).toContain("BatchMode=yes");
    expect(args).toContain("GlobalKnownHostsFile=/dev/null");
    const knownHosts = args.find((a) => a.startsWith("UserKnownHostsFile="))!.split("=")[1];
    expect(fs.readFileSync(knownHosts, "utf8")).toBe(`10.0.0.1 ${HOST_KEY}\n`);
    const keyFile = args[args.indexOf("-i") + 1];
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(args.join(" ")).not.toContain("PRIVATE KEY");
    expect(args.slice(-3)).toEqual(["10.0.0.1", "--", "runuser -u postgres -- psql -c 'SELECT '\\''x'\\'''"]);
    expect(args.slice(args.indexOf("-l"), args.indexOf("-l") + 2)).toEqual(["-l", "root"]);
    shell.close();
    expect(fs.existsSync(keyFile)).toBe(false);
    expect(fs.existsSync(knownHosts)).toBe(false);
  });

  it("a user other than root runs the commands through sudo without a password prompt", () => {
    fs.mkdirSync(scratch, { recursive: true });
    const plan = buildPlan(
      {
        hosts: { db1: ssh("10.0.0.1", { user: "deploy" }) },
        services: { billing: { host: "db1", postgres: { databases: ["billing"] } } },
      },
      { baseDir: "/tmp" },
    );
    const shell = sshShell(plan.hosts.get("db1")!, undefined, scratch);
    const args = shell.spawnable(["systemctl", "start", "x.service"]).args;
    expect(args.at(-1)).toBe("sudo -n -- systemctl start x.service");
    expect(args).not.toContain("-i");
    shell.close();
  });

  it("a host whose key is not pinned is refused: the drill sends it the identity", () => {
    fs.mkdirSync(scratch, { recursive: true });
    const plan = buildPlan(
      {
        hosts: { db1: { connection: { type: "ssh", host: "10.0.0.1", acceptAnyHostKey: true } } },
        services: { billing: { host: "db1", postgres: { databases: ["billing"] } } },
      },
      { baseDir: "/tmp" },
    );
    expect(() => sshShell(plan.hosts.get("db1")!, undefined, scratch)).toThrow(
      /hosts\.db1\.connection\.hostKey: the drill breaks this host on purpose .* pin its host key/,
    );
  });

  it("a local shell runs programs here and removes the secret files it wrote", async () => {
    fs.mkdirSync(scratch, { recursive: true });
    const shell = localShell("sandbox", scratch);
    expect(shell.spawnable(["echo", "a b"])).toEqual({ command: "echo", args: ["a b"] });
    const file = shell.secretFile("identity", "AGE-SECRET-KEY-1X\n");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    shell.close();
    expect(fs.existsSync(file)).toBe(false);
  });
});
