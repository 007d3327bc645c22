import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import type { ObjectStorePlan } from "../../components/plan/offsite";
import type { DrPlan } from "../../components/plan/plan";
import { mcHostUrl } from "../../components/objectstore/mcHost";
import { drPolicies } from "../../policies/policies";
import { isSecret, keyOf, recordResources } from "../helpers/mocks";
import { evaluate, type FakeResource } from "../helpers/policyHarness";

// The off-site components under Pulumi's mocks: what the engine and the policy pack would see of them.

const mocks = recordResources({
  state: (args) => {
    const state: Record<string, unknown> = { ...args.inputs };
    // The engine keeps RandomPassword.result secret (additionalSecretOutputs); the mocks must say so themselves.
    if (args.type === "random:index/randomPassword:RandomPassword")
      state.result = pulumi.secret(`generated-${args.name}`);
    return state;
  },
});
const { registered, settle } = mocks;

const T = {
  command: "command:local:Command",
  minioTarget: "drkit:objectstore:MinioTarget",
  sandboxMinio: "drkit:objectstore:SandboxMinio",
  shipping: "drkit:objectstore:OffsiteShipping",
  timerJob: "drkit:systemd:TimerJob",
  archiving: "drkit:postgres:WalArchiving",
  backup: "drkit:postgres:PostgresBackup",
};

/** The inputs with every secret replaced by a placeholder: what would be readable in plain text. */
const plainPart = (v: any): any => {
  if (isSecret(v)) return "[secret]";
  if (Array.isArray(v)) return v.map(plainPart);
  if (v !== null && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainPart(x)]));
  return v;
};

const one = (type: string, name: string) => {
  const found = registered.filter((r) => r.type === type && r.name === name);
  expect(found, `${type} ${name}`).toHaveLength(1);
  return found[0];
};
const depsOf = (type: string, name: string) => {
  const deps = mocks.dependencies(type, name);
  expect(deps, `dependencies of ${type} ${name}`).toBeDefined();
  return deps!;
};

const SECRET = "site-a-secret-key-d0n0tl3ak";

let m: {
  minio: typeof import("../../components/objectstore/minio");
  objectStores: typeof import("../../components/objectstore/objectStores");
  shipping: typeof import("../../components/objectstore/offsiteShipping");
  backup: typeof import("../../components/postgres/postgresBackup");
  render: typeof import("../../components/objectstore/minioScripts");
  stackFile: typeof import("../../components/plan/stackFile");
  plan: typeof import("../../components/plan/plan");
};
let local: DrPlan;
const repoDir = path.resolve(__dirname, "../..");
const store = (plan: DrPlan, name: string): ObjectStorePlan => plan.objectStores.find((s) => s.name === name)!;

/** The shipped local stack, optionally edited as raw config before it is planned. */
function localPlan(edit: (raw: any) => void = () => {}): DrPlan {
  const raw = structuredClone(m.stackFile.readStackConfig(repoDir, "local")) as any;
  edit(raw);
  return m.plan.buildPlan(raw, { baseDir: repoDir });
}

beforeAll(async () => {
  m = {
    minio: await import("../../components/objectstore/minio"),
    objectStores: await import("../../components/objectstore/objectStores"),
    shipping: await import("../../components/objectstore/offsiteShipping"),
    backup: await import("../../components/postgres/postgresBackup"),
    render: await import("../../components/objectstore/minioScripts"),
    stackFile: await import("../../components/plan/stackFile"),
    plan: await import("../../components/plan/plan"),
  };
  local = localPlan();
});

describe("MinioTarget", () => {
  beforeAll(async () => {
    new m.minio.MinioTarget("direct-a", {
      store: store(local, "site-a"),
      keys: { accessKey: "drkit-site-a", secretKey: pulumi.secret(SECRET) },
      replica: {
        store: store(local, "site-b"),
        keys: { accessKey: "drkit-site-b", secretKey: pulumi.secret("site-b-secret") },
      },
    });
    await settle();
  });

  it("shows the policy pack versioning, the expiry and the replication target, and nothing secret", () => {
    const target = one(T.minioTarget, "direct-a");
    expect(target.inputs).toMatchObject({
      store: "site-a",
      endpoint: "http://127.0.0.1:59000",
      bucket: "drkit-billing",
      versioning: true,
      expireDays: 30,
      replicationTarget: "site-b",
    });
    expect(target.inputs.objectLockMode).toBeUndefined();
    expect(JSON.stringify(target.inputs)).not.toContain("secret");
  });

  it("runs the rendered script through stdin with the keys only in MC_HOST_* variables, as secrets", () => {
    const command = one(T.command, "direct-a-bucket");
    expect(command.inputs.stdin).toBe(m.render.renderMinioTargetScript(store(local, "site-a"), store(local, "site-b")));
    expect(command.inputs.create).toBe("bash -s");
    expect(command.inputs.delete).toBe("bash -s -- --remove");
    // A map with a secret in it goes to the engine as one secret.
    expect(isSecret(command.inputs.environment), JSON.stringify(command.inputs.environment)).toBe(true);
    const env = command.inputs.environment.value;
    expect(Object.keys(env).sort()).toEqual(["MC_HOST_drkit_dst", "MC_HOST_drkit_src"]);
    expect(env.MC_HOST_drkit_src).toBe(`http://drkit-site-a:${SECRET}@127.0.0.1:59000`);
    expect(env.MC_HOST_drkit_dst).toBe("http://drkit-site-b:site-b-secret@127.0.0.1:59100");
    const plain = JSON.stringify(plainPart(command.inputs));
    expect(plain).not.toContain(SECRET);
    expect(plain).not.toContain("site-b-secret");
  });

  it(
    "keeps even plain-text keys secret in the environment, written verbatim as mc reads them (no URL " + "encoding)",
    async () => {
      // Imported on its own, in the `.then((m) => m.name)` form ts-unused-exports sees (it cannot follow `m.minio.x`).
      const mcHostSecret = await import("../../components/objectstore/minio").then((minio) => minio.mcHostSecret);
      const url = mcHostSecret("s", "https://minio.example.com:9000/", { accessKey: "AK", secretKey: "s/k+1" });
      expect(await (url as any).isSecret).toBe(true);
      expect(await new Promise((r) => url.apply(r))).toBe("https://AK:s/k+1@minio.example.com:9000");
    },
  );

  it("refuses keys mc cannot parse, naming the store but not the key", () => {
    expect(() => mcHostUrl("site-a", "http://127.0.0.1:9000", "a:b", "x")).toThrow(
      "object store site-a: the access key (secret) must not contain ':'",
    );
    expect(() => mcHostUrl("site-a", "http://127.0.0.1:9000", "a@b", "x")).toThrow(
      "object store site-a: the access key (secret) must not contain '@'",
    );
    expect(() => mcHostUrl("site-a", "http://127.0.0.1:9000", "ab", "x y")).toThrow(
      /^object store site-a: the secret key \(secret\) must not contain whitespace[^y]*$/,
    );
    // A ':' in the secret key would be read as the start of a session token: refused on hosts as in pods.
    expect(() => mcHostUrl("site-a", "http://127.0.0.1:9000", "ab", "x:q")).toThrow(
      /^object store site-a: the secret key \(secret\) must not contain ':' [^q]*$/,
    );
    expect(() => mcHostUrl("site-a", "http://127.0.0.1:9000", "", "x")).toThrow(
      "object store site-a: the access key (secret) must not be empty",
    );
    expect(mcHostUrl("site-a", "http://127.0.0.1:9000", "ab", "x@y/z+1")).toBe("http://ab:x@y/z+1@127.0.0.1:9000");
  });

  it("a provisioned store with keys in the stack config starts its server with those keys, still secret", async () => {
    const explicit = localPlan((raw) =>
      Object.assign(raw.objectStores["site-a"], { accessKey: "ops-site-a", secretKey: SECRET }),
    );
    const sandbox = new m.minio.SandboxMinio("explicit-a", { store: store(explicit, "site-a") });
    await settle();
    const server = one(T.command, "explicit-a-server");
    expect(isSecret(server.inputs.environment)).toBe(true);
    expect(server.inputs.environment.value).toEqual({ MINIO_ROOT_USER: "ops-site-a", MINIO_ROOT_PASSWORD: SECRET });
    expect(await (sandbox.keys.secretKey as any).isSecret).toBe(true);
    expect(await new Promise((r) => sandbox.keys.accessKey.apply(r))).toBe("ops-site-a");
    expect(JSON.stringify(one(T.sandboxMinio, "explicit-a").inputs)).not.toContain(SECRET);
    expect(
      () =>
        new m.minio.SandboxMinio("not-provisioned", { store: { ...store(explicit, "site-a"), provision: undefined } }),
    ).toThrow(/has no provision section/);
  });

  it("refuses a replica that is not the one the plan replicates to", () => {
    const keys = { accessKey: "a", secretKey: "s" };
    expect(() => new m.minio.MinioTarget("wrong-a", { store: store(local, "site-a"), keys })).toThrow(
      /replicates site-a to site-b, but the replica given is none/,
    );
    expect(
      () =>
        new m.minio.MinioTarget("wrong-b", {
          store: store(local, "site-b"),
          keys,
          replica: { store: store(local, "site-a"), keys },
        }),
    ).toThrow(/replicates site-b to nothing, but the replica given is site-a/);
  });
});

describe("the policy pack's minio rule on a MinioTarget of the local stack", () => {
  const rule = drPolicies.filter((p) => p.name === "minio-target-versioned-and-replicated");
  const asPolicySees = (name: string): FakeResource => ({
    type: T.minioTarget,
    name,
    props: one(T.minioTarget, name).inputs,
  });

  it("passes for site-a as configured", async () => {
    expect(rule).toHaveLength(1);
    expect(await evaluate(rule, [asPolicySees("direct-a")])).toEqual([]);
  });

  it("fails for site-a without replicateTo, naming the missing second site", async () => {
    const alone = localPlan((raw) => delete raw.objectStores["site-a"].replicateTo);
    new m.minio.MinioTarget("alone-a", {
      store: store(alone, "site-a"),
      keys: { accessKey: "a", secretKey: pulumi.secret("s") },
    });
    await settle();
    expect(one(T.minioTarget, "alone-a").inputs.replicationTarget).toBeUndefined();
    const d = await evaluate(rule, [asPolicySees("alone-a")]);
    expect(d.map((x) => x.message)).toEqual([
      'MinioTarget "alone-a": has no replication target, no store replicates into it and no service ships to another ' +
        "store beside it; the rule requires a second site",
    ]);
    expect(d[0].level).toBe("mandatory");
  });
});

describe("objectStores() and PostgresBackup with off-site copies, on the local stack", () => {
  const service = () => local.services.find((s) => s.name === "billing")!;

  beforeAll(async () => {
    const stores = m.objectStores.objectStores(local);
    const targets = service().offsite!.targets.map((t) => [t.store, stores.get(t.store)!] as const);
    new m.backup.PostgresBackup("billing", {
      plan: service(),
      offsite: {
        keys: Object.fromEntries(targets.map(([n, s]) => [n, s.keys])),
        stores: targets.map(([, s]) => s.ready),
      },
    });
    await settle();
  });

  it("starts a sandbox server per provisioned store, with generated keys kept secret", () => {
    for (const name of ["site-a", "site-b"]) {
      one(T.sandboxMinio, `store-${name}-server`);
      const server = one(T.command, `store-${name}-server-server`);
      expect(server.inputs.stdin).toBe(m.render.renderSandboxMinioScript(store(local, name)));
      expect(server.inputs.create).toBe("bash -s -- start");
      expect(server.inputs.delete).toBe("bash -s -- stop");
      expect(isSecret(server.inputs.environment)).toBe(true);
      expect(server.inputs.environment.value).toEqual({
        MINIO_ROOT_USER: `drkit-${name}`,
        MINIO_ROOT_PASSWORD: `generated-store-${name}-server-secret-key`,
      });
    }
    expect(one(T.command, "store-site-a-bucket").inputs.environment.value.MC_HOST_drkit_dst).toBe(
      "http://drkit-site-b:generated-store-site-b-server-secret-key@127.0.0.1:59100",
    );
  });

  it(
    "creates the replica site's target before the one that replicates to it (dependsOn), " + "each after its server",
    () => {
      const order = registered
        .filter((r) => r.type === T.minioTarget && r.name.startsWith("store-"))
        .map((r) => r.name);
      expect(order).toEqual(["store-site-b", "store-site-a"]);
      const a = depsOf(T.minioTarget, "store-site-a");
      expect(a).toContain(keyOf(T.command, "store-site-b-bucket"));
      expect(a).toContain(keyOf(T.command, "store-site-a-server-server"));
      const b = depsOf(T.minioTarget, "store-site-b");
      expect(b).toContain(keyOf(T.command, "store-site-b-server-server"));
      expect(b.some((d) => d.includes("site-a"))).toBe(false);
      expect(one(T.minioTarget, "store-site-b").inputs).toMatchObject({
        bucket: "drkit-billing-replica",
        versioning: true,
        expireDays: 30,
      });
    },
  );

  it("OffsiteShipping places the credentials file as a secret, 0600; the agent's fetch-offsite is in plain", () => {
    const creds = one(T.command, "billing-offsite-credentials-site-a");
    expect(isSecret(creds.inputs.stdin)).toBe(true);
    expect(creds.inputs.stdin.value).toBe(
      "# drkit: credentials of object store site-a for mc; keep this file mode 0600\nMC_HOST_drkit_site_a=http://" +
        "drkit-site-a:generated-store-site-a-server-secret-key@127.0.0.1:59000\n",
    );
    expect(creds.inputs.create).toContain("chmod 0600");
    expect(creds.inputs.create).toContain(service().offsite!.targets[0].credentialsFile);
    expect(JSON.stringify(plainPart(creds.inputs))).not.toContain("generated-");
    const fetch = one(T.command, "billing-agent-fetch-offsite");
    expect(isSecret(fetch.inputs.stdin)).toBe(false);
    expect(fetch.inputs.stdin).toContain("fetch-offsite choose-base");
    expect(one(T.command, "billing-offsite-mc").inputs.create).toContain(service().offsite!.mc);
    expect(one(T.shipping, "billing-offsite").inputs).toEqual({ service: "billing", targets: ["site-a"] });
  });

  it("OffsiteShipping places the age recipients (public, 0644); the identity reaches no resource", () => {
    const encryption = service().offsite!.encryption!;
    const recipients = one(T.command, "billing-offsite-offsite-recipients");
    expect(recipients.inputs.stdin).toBe(`${encryption.recipients.join("\n")}\n`);
    expect(recipients.inputs.create).toContain("chmod 0644");
    expect(recipients.inputs.create).toContain(encryption.recipientsFile);
    const secure = (encryption.identity as { secure: string }).secure;
    expect(JSON.stringify(registered.map((r) => r.inputs))).not.toContain(secure);
    expect(JSON.stringify(registered.map((r) => r.inputs))).not.toMatch(/AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}/);
  });

  it("orders OffsiteShipping -> the offsite TimerJob -> WalArchiving, and shipping after its store", () => {
    const shipping = depsOf(T.shipping, "billing-offsite");
    expect(shipping).toContain(keyOf(T.command, "store-site-a-bucket"));
    expect(shipping).toContain(keyOf(T.command, "billing-agent-settings"));
    const shipJob = depsOf(T.timerJob, "billing-offsite");
    expect(shipJob).toContain(keyOf(T.command, "billing-offsite-credentials-site-a"));
    expect(shipJob).toContain(keyOf(T.command, "billing-agent-ship-offsite"));
    const archiving = depsOf(T.archiving, "billing-archiving");
    expect(archiving).toContain(keyOf(T.command, "billing-offsite-enable"));
    expect(archiving).toContain(keyOf(T.command, "billing-agent-archive-wal"));
    // And not the other way round.
    expect(
      shipping.some((d) => d.includes("billing-archiving") || d === keyOf(T.command, "billing-offsite-enable")),
    ).toBe(false);
    expect(shipJob.some((d) => d.includes("billing-archiving"))).toBe(false);
  });

  it("schedules ship-offsite as the PostgreSQL user and shows the off-site settings to policies", () => {
    const unit = one(T.command, "billing-offsite-unit-offsite-service");
    expect(unit.inputs.stdin).toContain("ExecStart=");
    expect(unit.inputs.stdin).toContain("ship-offsite");
    expect(unit.inputs.stdin).toMatch(/^User=postgres$/m);
    expect(one(T.command, "billing-offsite-unit-offsite-timer").inputs.stdin).toContain("OnCalendar=*-*-* *:20:00");
    // The shipper's lag budget (offsite.lagBudget, 10s by default) is what the RPO rule adds to archive_timeout.
    expect(one(T.archiving, "billing-archiving").inputs).toMatchObject({
      offsiteShipIntervalSeconds: 10,
      offsiteTargets: ["site-a"],
    });
  });

  it("runs the WAL shipper as a long-running service of the PostgreSQL user, started before archiving", () => {
    const unit = one(T.command, "billing-shipper-unit-shipper-service");
    expect(unit.inputs.stdin).toMatch(/^Type=exec$/m);
    expect(unit.inputs.stdin).toMatch(/^ExecStart=\S+\/shipper run$/m);
    expect(unit.inputs.stdin).toMatch(/^Restart=always$/m);
    expect(unit.inputs.stdin).toMatch(/^User=postgres$/m);
    expect(unit.inputs.stdin).toMatch(/^WantedBy=multi-user.target$/m);
    expect(unit.inputs.stdin).not.toContain("TimeoutStartSec");
    expect(one(T.backup, "billing").inputs.offsiteTargets).toEqual(["site-a"]);
  });

  it("keeps every store key out of the plain inputs of every resource", () => {
    for (const r of registered) {
      const plain = JSON.stringify(plainPart(r.inputs));
      expect(plain, `${r.type} ${r.name}`).not.toContain("generated-store-");
      expect(plain, `${r.type} ${r.name}`).not.toContain(SECRET);
    }
  });

  it("refuses a service with off-site targets but no keys for them", () => {
    expect(() => new m.backup.PostgresBackup("nokeys", { plan: service() })).toThrow(
      /ships off-site; give the target stores' keys/,
    );
    expect(
      () => new m.shipping.OffsiteShipping("nokeys", { host: { plan: service().host }, plan: service(), keys: {} }),
    ).toThrow(/no keys given for object store\(s\) site-a/);
  });
});
