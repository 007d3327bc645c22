import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PostgresClusterArgs } from "../../components/kubernetes/args";
import { TLS_FILES } from "../../components/kubernetes/layout";
import { clusterNames } from "../../components/kubernetes/names";
import { podWorld, type PodWorld } from "../helpers/podWorld";
import { freePort, psqlAt } from "../helpers/sandbox";
import { makeTestCa } from "../helpers/testCa";

/**
 * Replication between pods over TLS, run locally: the primary from pod-primary with the rendered configuration
 * (ssl on, pg_hba hostssl only), a standby volume cloned by pod-standby-clone through its slot with the server
 * role's settings (sslmode=verify-full against the cluster's CA), then that clone streaming. The pods' DNS names
 * do not resolve here: libpq connects to 127.0.0.1 (PGHOSTADDR) and verifies the certificate against the name
 * the pods use (the primary's pod name under the headless service).
 */
const CLUSTER = "tlspg";
const names = clusterNames(CLUSTER);
let caDir: string;
let primary: PodWorld;
let standby: PodWorld;
let otherCa: string;
let standbyPort: number;
let standbyData: string;
const pg = "/usr/lib/postgresql/15/bin";

beforeAll(async () => {
  caDir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-pod-tls-"));
  const ca = makeTestCa(path.join(caDir, "ca"));
  const server = ca.issue("primary", { dns: [names.primaryHost, names.readWrite] });
  otherCa = makeTestCa(path.join(caDir, "other"), "another CA").certFile;
  const read = (f: string) => fs.readFileSync(f, "utf8");
  const args: PostgresClusterArgs = {
    name: CLUSTER,
    namespace: "dr",
    databases: ["app"],
    rpoSeconds: 300,
    standbys: 1,
    storage: { size: "10Gi" },
    backupStorage: { size: "20Gi" },
    replicationTls: { ca: read(ca.certFile), certificate: read(server.certFile), key: read(server.keyFile) },
  };
  primary = await podWorld("pod-tls-primary", args, { tlsKey: read(server.keyFile) });
  await primary.startPrimary();
  // The standby's pod: the same ConfigMap and Secret, its own volume; it reaches the primary's port.
  standby = await podWorld("pod-tls-standby", args, {
    tlsKey: read(server.keyFile),
    overrides: { server: `PGPORT=${primary.port}\n` },
  });
  fs.copyFileSync(
    path.join(primary.paths.secretsDir, "replication-password"),
    path.join(standby.paths.secretsDir, "replication-password"),
  );
  standbyPort = await freePort();
  standbyData = path.join(standby.paths.dataMount, "pgdata");
}, 300_000);

afterAll(async () => {
  if (standbyData && fs.existsSync(path.join(standbyData, "postmaster.pid")))
    spawnSync("runuser", ["-u", "postgres", "--", `${pg}/pg_ctl`, "-D", standbyData, "-m", "immediate", "stop"]);
  await standby?.destroy();
  await primary?.destroy();
  if (caDir) fs.rmSync(caDir, { recursive: true, force: true });
}, 120_000);

const clone = (env: Record<string, string> = {}) =>
  standby.run("pod-standby-clone", "server", [`${names.standby}-0`], { PGHOSTADDR: "127.0.0.1", ...env });

describe("replication between pods over verified TLS (PostgresCluster replicationTls)", () => {
  it("the primary serves TLS and its pg_hba rejects a plain connection from the network", () => {
    expect(primary.sql("SHOW ssl", "postgres")).toBe("on");
    const plain = spawnSync(
      `${pg}/psql`,
      ["-X", "-Atc", "SELECT 1", `host=127.0.0.1 port=${primary.port} user=postgres dbname=postgres sslmode=disable`],
      { encoding: "utf8", env: { ...process.env, PGPASSWORD: "x", PGCONNECT_TIMEOUT: "10" } },
    );
    expect(plain.status).not.toBe(0);
    expect(plain.stderr).toMatch(/pg_hba\.conf rejects connection .*no encryption/);
  });

  it("a clone verifying another CA is refused before any data is copied", async () => {
    const wrong = path.join(caDir, "wrong.env");
    fs.writeFileSync(wrong, `${fs.readFileSync(standby.env.server, "utf8")}\nPG_SSLROOTCERT=${otherCa}\n`);
    spawnSync("chmod", ["0644", wrong, otherCa]);
    spawnSync("chmod", ["0755", caDir, path.dirname(otherCa)]);
    const r = await clone({ DRKIT_ENV: wrong });
    expect(r.status).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/certificate verify failed/);
    expect(fs.existsSync(path.join(standbyData, "PG_VERSION"))).toBe(false);
  });

  it("pod-standby-clone clones through its slot with sslmode=verify-full; the standby streams over TLS", async () => {
    const r = await clone();
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const auto = fs.readFileSync(path.join(standbyData, "postgresql.auto.conf"), "utf8");
    const conninfo = /^primary_conninfo = '(.*)'$/m.exec(auto)?.[1] ?? "";
    expect(conninfo, auto).toContain("sslmode=''verify-full''");
    expect(conninfo).toContain(`sslrootcert=''${path.join(standby.paths.configDir, TLS_FILES.ca)}''`);
    expect(conninfo).toContain(`host=''${names.primaryHost}''`);
    const start = spawnSync(
      "runuser",
      ["-u", "postgres", "--", `${pg}/pg_ctl`, "-D", standbyData, "-w", "-l", path.join(standby.root, "standby.log")]
        .concat(["-o", `-p ${standbyPort} -c listen_addresses= -c unix_socket_directories=${standby.paths.socketDir}`])
        .concat(["-o", `-c config_file=${standbyData}/postgresql.conf -c hba_file=${standbyData}/pg_hba.conf`])
        .concat(["start"]),
      { encoding: "utf8", env: { ...process.env, PGHOSTADDR: "127.0.0.1" } },
    );
    expect(start.status, `${start.stderr}\n${fs.readFileSync(path.join(standby.root, "standby.log"), "utf8")}`).toBe(0);
    primary.sql("CREATE TABLE IF NOT EXISTS over_tls (v text); INSERT INTO over_tls VALUES ('streamed')");
    const deadline = Date.now() + 60_000;
    let seen = "";
    while (Date.now() < deadline && seen !== "streamed") {
      try {
        seen = psqlAt(standby.paths.socketDir, standbyPort, "SELECT v FROM over_tls", "app");
      } catch {
        seen = "";
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(seen).toBe("streamed");
    const ssl = primary.sql(
      "SELECT s.ssl || ' ' || s.version FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) " +
        `WHERE r.application_name = '${names.standby}-0'`,
      "postgres",
    );
    expect(ssl).toMatch(/^true TLSv1\.[23]$/);
  });

  it("the restore job refuses while the primary answers, even one whose certificate its CA refuses", async () => {
    const env = path.join(caDir, "restore.env");
    fs.writeFileSync(
      env,
      `${fs.readFileSync(standby.env.restore, "utf8")}\nPGPORT=${primary.port}\n` +
        `RESTORE_REQUEST=latest@end-of-archive\nPG_SSLROOTCERT=${otherCa}\n`,
    );
    fs.chmodSync(env, 0o644);
    const volume = () => fs.readdirSync(standby.paths.dataMount).filter((f) => f !== ".drkit-server.lock");
    const before = volume();
    const r = await standby.run("pod-restore", "restore", [], {
      DRKIT_ENV: env,
      DRKIT_RESTORE_REQUEST: "latest@end-of-archive",
      PGHOSTADDR: "127.0.0.1",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`the primary answers at ${names.primaryHost}; scale its StatefulSet to 0`);
    expect(volume()).toEqual(before);
  });
});
