import { beforeAll, describe, expect, it } from "vitest";
import { recordResources } from "../helpers/mocks";
import type { ServicePlan } from "../../components/plan/plan";

// Pulumi's mocks first: the components are imported after them.
const mocks = recordResources();

let m: {
  plan: typeof import("../../components/plan/plan");
  env: typeof import("../../components/agent/serviceEnv");
  artifacts: typeof import("../../components/artifacts/hostArtifacts");
  lifecycle: typeof import("../../components/objectstore/lifecycle");
  backup: typeof import("../../components/postgres/postgresBackup");
};

beforeAll(async () => {
  m = {
    plan: await import("../../components/plan/plan"),
    env: await import("../../components/agent/serviceEnv"),
    artifacts: await import("../../components/artifacts/hostArtifacts"),
    lifecycle: await import("../../components/objectstore/lifecycle"),
    backup: await import("../../components/postgres/postgresBackup"),
  };
});

const ROOT = "/var/lib/svc/backups";

function stack(service: Record<string, unknown> = {}) {
  return {
    hosts: { db: { connection: { type: "local", rootPrefix: "/srv/sandbox" } } },
    services: {
      svc: {
        host: "db",
        postgres: { databases: ["app"], manager: { type: "pg_ctl" }, provision: true },
        offsite: { targets: ["site-a"] },
        ...service,
      },
    },
    objectStores: {
      "site-a": {
        type: "minio",
        endpoint: "http://127.0.0.1:59000",
        bucket: "backups",
        accessKey: "a",
        secretKey: "b",
      },
    },
  };
}
const planOf = (service: Record<string, unknown> = {}) => m.plan.buildPlan(stack(service), { baseDir: "/" });
const serviceOf = (service: Record<string, unknown> = {}): ServicePlan => planOf(service).services[0];
const errorsOf = (service: Record<string, unknown>) => {
  try {
    planOf(service);
  } catch (e) {
    return String(e);
  }
  return "";
};

describe("the archive epoch in the plan", () => {
  it("epoch 1 (the default) keeps the layout drkit has always had", () => {
    const svc = serviceOf();
    const root = `/srv/sandbox${ROOT}`;
    expect(svc.archive.epoch).toBe(1);
    expect(svc.paths.walDir).toBe(`${root}/wal`);
    expect(svc.paths.baseDir).toBe(`${root}/postgresql/base`);
    expect(svc.offsite!.targets[0].prefix).toBe("svc/");
    expect(svc.offsite!.markerDir).toBe(`${root}/.offsite`);
    expect(svc.archive.current.record).toBe(`${root}/drkit-archive.env`);
    expect(svc.archive.older).toEqual([]);
    const settings = m.env.serviceSettings(svc);
    expect(settings).toMatchObject({
      ARCHIVE_EPOCH: 1,
      ARCHIVE_RECORD: `${root}/drkit-archive.env`,
      WAL_DIR: `${root}/wal`,
      OFFSITE_PREFIX: "svc/",
      ARCHIVE_OLDER_EPOCHS: [],
      ARCHIVE_OLDER_PREFIXES: [],
    });
  });

  it("a later epoch has its own folder and prefix; the older ones are listed newest first for restores", () => {
    const svc = serviceOf({ archive: { epoch: 3 } });
    const root = `/srv/sandbox${ROOT}`;
    expect(svc.paths.walDir).toBe(`${root}/epoch-3/wal`);
    expect(svc.paths.baseDir).toBe(`${root}/epoch-3/postgresql/base`);
    expect(svc.paths.logicalDir).toBe(`${root}/postgresql/logical`);
    expect(svc.offsite!.targets[0].prefix).toBe("svc/epoch-3/");
    expect(svc.offsite!.markerDir).toBe(`${root}/epoch-3/.offsite`);
    expect(svc.archive.older.map((e) => [e.epoch, e.prefix, e.walDir])).toEqual([
      [2, "svc/epoch-2/", `${root}/epoch-2/wal`],
      [1, "svc/", `${root}/wal`],
    ]);
    expect(m.env.serviceSettings(svc)).toMatchObject({
      ARCHIVE_EPOCH: 3,
      ARCHIVE_RECORD: `${root}/epoch-3/drkit-archive.env`,
      ARCHIVE_OLDER_EPOCHS: ["2", "1"],
      ARCHIVE_OLDER_BASE_DIRS: [`${root}/epoch-2/postgresql/base`, `${root}/postgresql/base`],
      ARCHIVE_OLDER_WAL_DIRS: [`${root}/epoch-2/wal`, `${root}/wal`],
      ARCHIVE_OLDER_RECORDS: [`${root}/epoch-2/drkit-archive.env`, `${root}/drkit-archive.env`],
      ARCHIVE_OLDER_PREFIXES: ["svc/epoch-2/", "svc/"],
      ARCHIVE_OLDER_MARKS: [`${root}/epoch-2/.offsite`, `${root}/.offsite`],
    });
    // The jobs may write the epoch's markers; the directories exist, parents first.
    expect(svc.jobs.find((j) => j.id === "base")!.readWritePaths).toContain(`${root}/epoch-3/.offsite`);
    const dirs = m.artifacts
      .serviceArtifacts(svc)
      .directories()
      .map((d) => d.path);
    expect(dirs.indexOf(`${root}/epoch-3`)).toBeGreaterThan(-1);
    expect(dirs.indexOf(`${root}/epoch-3`)).toBeLessThan(dirs.indexOf(`${root}/epoch-3/postgresql/base`));
    expect(dirs).toContain(`${root}/epoch-3/wal`);
  });

  it("rejects an epoch that is not a positive whole number, naming the field", () => {
    for (const bad of [0, 2.5, "2", -1, 10000]) {
      expect(errorsOf({ archive: { epoch: bad } })).toMatch(/services\.svc\.archive\.epoch: .*must be/);
    }
    expect(errorsOf({ archive: { epoch: 1, prefix: "x/" } })).toMatch(/services\.svc\.archive: unknown field "prefix"/);
    expect(errorsOf({ archive: { epoch: 9999 } })).toBe("");
  });

  it("expires every epoch's sets in the stores: epoch 1's rules as before, then those of each later epoch", () => {
    const store = planOf({ archive: { epoch: 3 } }).objectStores[0];
    const ids = m.lifecycle.lifecycleRules(store.lifecycle).map((r) => r.id);
    expect(ids).toEqual(
      expect.arrayContaining(["svc/base/", "svc/wal/", "svc/epoch-2/base/", "svc/epoch-2/wal/", "svc/epoch-3/wal/"]),
    );
    expect(ids).not.toContain("svc/epoch-4/wal/");
    expect(m.lifecycle.validateLifecyclePolicy(store.lifecycle, "lifecycle")).toEqual([]);
    const one = planOf().objectStores[0];
    expect(m.lifecycle.lifecycleRules(one.lifecycle).some((r) => r.id.includes("epoch"))).toBe(false);
    const bad = { ...store.lifecycle, services: [{ ...store.lifecycle.services[0], epochFolders: ["../x/"] }] };
    expect(m.lifecycle.validateLifecyclePolicy(bad, "lifecycle")).toContain(
      'lifecycle.services[0].epochFolders[0]: "../x/" must look like "epoch-2/"',
    );
  });
});

describe("the claim in the artifact list", () => {
  it("runs claim-archive once PostgreSQL exists and before archive_command points at the archive", () => {
    const ids = m.artifacts.serviceArtifacts(serviceOf()).all.map((a) => a.id);
    const at = (id: string) => {
      expect(ids, id).toContain(id);
      return ids.indexOf(id);
    };
    expect(at("step:sandbox-postgres")).toBeLessThan(at("step:claim-archive"));
    expect(at("step:install-mc")).toBeLessThan(at("step:claim-archive"));
    expect(at("credentials:site-a")).toBeLessThan(at("step:claim-archive"));
    expect(at("step:claim-archive")).toBeLessThan(at("dropin:archiving"));
    expect(at("step:claim-archive")).toBeLessThan(at("step:apply-settings"));
    const claim = m.artifacts.serviceArtifacts(serviceOf()).step("step:claim-archive");
    expect(claim.run).toBe(`/srv/sandbox/usr/local/lib/drkit/svc/claim-archive >&2`);
  });

  it("checks, never claims, for a standby on the primary's host, before it is cloned", () => {
    const svc = serviceOf({ standbys: [{ name: "replica1", host: "db", port: 5499 }] });
    const a = m.artifacts.serviceArtifacts(svc);
    const ids = a.all.map((x) => x.id);
    expect(ids.indexOf("step:check-archive:replica1")).toBeLessThan(ids.indexOf("step:clone:replica1"));
    expect(a.step("step:check-archive:replica1").run).toBe(
      `/srv/sandbox/usr/local/lib/drkit/svc/claim-archive --check --pgdata ` +
        `/srv/sandbox/var/lib/postgresql/15/replica1 >&2`,
    );
  });
});

describe("PostgresBackup under Pulumi's mocks", () => {
  it("claims the archive before WalArchiving, after the agent, the sandbox server and the credentials", async () => {
    const svc = serviceOf();
    new m.backup.PostgresBackup("svc", {
      plan: svc,
      offsite: { keys: { "site-a": { accessKey: "a", secretKey: "b" } }, stores: [] },
    });
    await mocks.settle();
    const claim = mocks.registered.filter((r) => r.name === "svc-claim-archive");
    expect(claim).toHaveLength(1);
    expect(claim[0]!.inputs.create).toContain("claim-archive");
    const claimDeps = mocks.dependencyNames("svc-claim-archive")!;
    expect(claimDeps).toEqual(
      expect.arrayContaining(["svc-agent-claim-archive", "svc-sandbox-server", "svc-offsite-credentials-site-a"]),
    );
    expect(mocks.dependencies("drkit:postgres:WalArchiving", "svc-archiving")).toContain(
      "command:local:Command::svc-claim-archive",
    );
  });
});
