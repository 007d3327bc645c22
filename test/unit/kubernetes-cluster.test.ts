import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { agentFile, agentFileNames } from "../../components/agent/agentFiles";
import { deriveArchiveTimeout } from "../../components/plan/derive";
import type { PostgresClusterArgs } from "../../components/kubernetes/args";
import { validateManifests } from "../../components/kubernetes/validateManifests";
import { drPolicies } from "../../policies/policies";
import { isSecret, recordResources, type Registered } from "../helpers/mocks";
import { evaluate, type FakeResource } from "../helpers/policyHarness";
import { serverTlsPems } from "../helpers/testCa";

const passwordOf = (name: string) => `mockpw${name.replace(/[^a-z]/g, "")}0123456789`;

const { registered, settle } = recordResources({
  state: (args) =>
    args.type === "random:index/randomPassword:RandomPassword"
      ? { ...args.inputs, result: passwordOf(args.name) }
      : args.inputs,
});

let PostgresCluster: typeof import("../../components/kubernetes/postgresCluster").PostgresCluster;
let resolveCluster: typeof import("../../components/kubernetes/spec").resolveCluster;
let buildClusterManifests: typeof import("../../components/kubernetes/manifests").buildClusterManifests;
beforeAll(async () => {
  ({ PostgresCluster } = await import("../../components/kubernetes/postgresCluster"));
  ({ resolveCluster } = await import("../../components/kubernetes/spec"));
  ({ buildClusterManifests } = await import("../../components/kubernetes/manifests"));
});

const promiseOf = <T>(output: pulumi.Output<T>) => new Promise<T>((resolve) => output.apply(resolve));

const baseArgs: PostgresClusterArgs = {
  name: "billing",
  namespace: "payments",
  databases: ["billing", "audit"],
  rpoSeconds: 300,
  standbys: 2,
  synchronous: true,
  storage: { size: "10Gi", storageClassName: "fast-ssd" },
  backupStorage: { size: "50Gi" },
  schedule: { backup: "15 2 * * *", verify: "30 5 * * *" },
  retention: { backups: 5 },
};

async function deploy(name: string, args: PostgresClusterArgs) {
  const before = registered.length;
  const cluster = new PostgresCluster(name, args);
  await promiseOf(cluster.urn);
  await settle();
  return { cluster, mine: registered.slice(before) };
}

const K = {
  configMap: "kubernetes:core/v1:ConfigMap",
  secret: "kubernetes:core/v1:Secret",
  service: "kubernetes:core/v1:Service",
  claim: "kubernetes:core/v1:PersistentVolumeClaim",
  statefulSet: "kubernetes:apps/v1:StatefulSet",
  deployment: "kubernetes:apps/v1:Deployment",
  cronJob: "kubernetes:batch/v1:CronJob",
  job: "kubernetes:batch/v1:Job",
};

const isSecretValue = isSecret;
/** The inputs as the engine would send them to the API server: secrets unwrapped. */
function unwrap(value: any): any {
  if (isSecretValue(value)) return unwrap(value.value);
  if (Array.isArray(value)) return value.map(unwrap);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrap(v)]));
  return value;
}
const manifestsOf = (rs: Registered[]) =>
  rs.filter((r) => r.type.startsWith("kubernetes:")).map((r) => unwrap(r.inputs));

const one = (rs: Registered[], type: string, name: string) => {
  const found = rs.filter((r) => r.type === type && r.inputs.metadata?.name === name);
  expect(found, `${type} ${name}`).toHaveLength(1);
  return found[0].inputs;
};
const podTemplates = (rs: Registered[]) =>
  rs.flatMap((r) => {
    if (r.type === K.statefulSet || r.type === K.job)
      return [{ owner: r.inputs.metadata.name, labels: r.inputs.spec.template.metadata.labels }];
    if (r.type === K.cronJob)
      return [{ owner: r.inputs.metadata.name, labels: r.inputs.spec.jobTemplate.spec.template.metadata.labels }];
    return [];
  });
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe("PostgresCluster under Pulumi's mocks", () => {
  let mine: Registered[];
  let cluster: InstanceType<typeof PostgresCluster>;

  beforeAll(async () => {
    ({ cluster, mine } = await deploy("billing", baseArgs));
  });

  it("registers exactly the cluster's objects, named after the component", () => {
    const count = (type: string) => mine.filter((r) => r.type === type).length;
    expect(count("drkit:kubernetes:PostgresCluster")).toBe(1);
    expect(count("random:index/randomPassword:RandomPassword")).toBe(2);
    expect([K.configMap, K.secret, K.service, K.claim, K.statefulSet, K.cronJob, K.job].map(count)).toEqual([
      1, 1, 3, 2, 2, 2, 0,
    ]);
    expect(mine).toHaveLength(14);
    for (const r of mine) expect(r.name.startsWith("billing")).toBe(true);
    for (const r of mine.filter((x) => x.type.startsWith("kubernetes:"))) {
      expect(r.inputs.metadata.namespace).toBe("payments");
      expect(r.inputs.metadata.labels).toMatchObject({
        "app.kubernetes.io/name": "postgresql",
        "app.kubernetes.io/instance": "billing",
        "app.kubernetes.io/managed-by": "drkit",
      });
    }
  });

  it("backs up on the schedule with a CronJob that never overlaps, labelled for the policy pack", () => {
    const backup = one(mine, K.cronJob, "billing-backup");
    expect(backup.metadata.labels["app.kubernetes.io/component"]).toBe("backup");
    expect(backup.spec).toMatchObject({
      schedule: "15 2 * * *",
      timeZone: "Etc/UTC",
      concurrencyPolicy: "Forbid",
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
    });
    expect(backup.spec.startingDeadlineSeconds).toBeGreaterThan(0);
    const pod = backup.spec.jobTemplate.spec.template.spec;
    expect(pod.restartPolicy).toBe("Never");
    // The agent's own verbs (pod-backup: backup-base, ship-offsite, prune), with the backup role's settings.
    expect(pod.containers[0].command).toEqual(["/etc/drkit/agent/pod-backup"]);
    expect(pod.containers[0].env).toContainEqual({ name: "DRKIT_ENV", value: "/etc/drkit/config/backup.env" });
    expect(pod.volumes).toContainEqual({ name: "backups", persistentVolumeClaim: { claimName: "billing-backups" } });
    // A ReadWriteOnce backup volume is attached beside the primary, so the job must run there.
    expect(
      pod.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchLabels[
        "app.kubernetes.io/component"
      ],
    ).toBe("primary");

    const config = one(mine, K.configMap, "billing-config").data;
    // The agent verbatim, and the backup settings: the primary's service as the replication role, keep the newest N.
    expect(config["backup-base"]).toBe(agentFile("backup-base"));
    expect(config["lib.sh"]).toBe(agentFile("lib.sh"));
    const settings = config["backup.env"];
    for (const line of [
      "COMPRESS_ARGS=(--compress=server-zstd:level=1)",
      "RETAIN_NEWEST=5",
      "RETAIN_DAILY_DAYS=0",
      "RETAIN_WEEKLY_WEEKS=0",
      "RETAIN_MONTHS=0",
      "PGHOST=billing-rw",
      "PGUSER=drkit_replicator",
      "BASE_DIR=/backups/base",
      "WAL_DIR=/backups/wal",
      "LOCK_DIR=/backups/locks",
      "OFFSITE_STORES=()",
    ]) {
      expect(settings.split("\n")).toContain(line);
    }
  });

  it("tests restores on its own schedule into an emptyDir as large as the data volume", () => {
    const verify = one(mine, K.cronJob, "billing-verify");
    expect(verify.metadata.labels["app.kubernetes.io/component"]).toBe("verify");
    expect(verify.spec).toMatchObject({ schedule: "30 5 * * *", concurrencyPolicy: "Forbid" });
    expect(verify.spec.jobTemplate.spec.backoffLimit).toBe(0);
    const pod = verify.spec.jobTemplate.spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: "scratch", emptyDir: { sizeLimit: "10Gi" } });
    expect(pod.containers[0].terminationMessagePolicy).toBe("FallbackToLogsOnError");
    expect(pod.containers[0].command).toEqual(["/etc/drkit/agent/verify-backup", "--end-of-archive"]);
    expect(pod.containers[0].env).toContainEqual({ name: "DRKIT_ENV", value: "/etc/drkit/config/restore-test.env" });
    const settings = one(mine, K.configMap, "billing-config").data["restore-test.env"].split("\n");
    for (const line of ["VERIFY_DIR=/scratch", "PGDATA_DIR=/scratch/pgdata", "WAL_DIR=/backups/wal"])
      expect(settings).toContain(line);
  });

  it("runs one primary and the standbys as StatefulSets with claims, probes and no root", () => {
    const primary = one(mine, K.statefulSet, "billing-primary");
    const standby = one(mine, K.statefulSet, "billing-standby");
    expect(primary.spec.replicas).toBe(1);
    expect(standby.spec.replicas).toBe(2);
    for (const [sts, component] of [
      [primary, "primary"],
      [standby, "standby"],
    ] as const) {
      expect(sts.metadata.labels["app.kubernetes.io/managed-by"]).toBe("drkit");
      expect(sts.spec.serviceName).toBe("billing-headless");
      expect(sts.spec.volumeClaimTemplates).toEqual([
        {
          metadata: { name: "data", labels: expect.objectContaining({ "app.kubernetes.io/component": component }) },
          spec: {
            accessModes: ["ReadWriteOnce"],
            resources: { requests: { storage: "10Gi" } },
            storageClassName: "fast-ssd",
          },
        },
      ]);
      const pod = sts.spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999 });
      expect(pod.automountServiceAccountToken).toBe(false);
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
        expect(c.securityContext).toMatchObject({
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        });
        expect(c.resources).toEqual({ requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "1Gi" } });
      }
      const server = pod.containers[0];
      for (const probe of [server.startupProbe, server.readinessProbe, server.livenessProbe])
        expect(probe.exec.command.join(" ")).toMatch(/pg_isready|pg_stat_wal_receiver/);
      expect(server.livenessProbe.exec.command.join(" ")).toContain("pg_isready");
      expect(server.startupProbe.periodSeconds * server.startupProbe.failureThreshold).toBeGreaterThanOrEqual(1800);
    }
    expect(primary.spec.template.spec.containers[0].readinessProbe.exec.command[0]).toBe("pg_isready");
    // A standby that no longer streams answers with stale data: it must leave the read-only Service.
    expect(standby.spec.template.spec.containers[0].readinessProbe.exec.command.join(" ")).toContain("= streaming");
    expect(standby.spec.template.spec.initContainers[0].command).toEqual([
      "/etc/drkit/agent/pod-standby-clone",
      "$(DRKIT_POD_NAME)",
    ]);
    expect(primary.spec.template.spec.containers[0].command).toEqual(["/etc/drkit/agent/pod-primary"]);
    expect(standby.spec.template.spec.containers[0].command).toEqual(["/etc/drkit/agent/pod-standby"]);
    // Every agent file, executable, at one directory in every drkit pod; archive_command is the agent's archive-wal.
    const agentVolume = primary.spec.template.spec.volumes.find((v: any) => v.name === "agent");
    expect(agentVolume.configMap.items.map((i: any) => i.key)).toEqual(agentFileNames());
    for (const item of agentVolume.configMap.items) expect(item.mode).toBe(0o555);
    expect(one(mine, K.configMap, "billing-config").data["drkit.conf"]).toContain(
      "archive_command = '/etc/drkit/agent/archive-wal %p %f'",
    );
    expect(primary.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: "Retain", whenScaled: "Retain" });
  });

  it(
    "creates the primary's claim under the name its StatefulSet template resolves to, so the StatefulSet " +
      "adopts it",
    () => {
      const primary = one(mine, K.statefulSet, "billing-primary");
      const claimName = `${primary.spec.volumeClaimTemplates[0].metadata.name}-${primary.metadata.name}-0`;
      const claim = one(mine, K.claim, claimName);
      expect(claim.spec).toEqual(primary.spec.volumeClaimTemplates[0].spec);
      expect(one(mine, K.claim, "billing-backups").spec).toEqual({
        accessModes: ["ReadWriteOnce"],
        resources: { requests: { storage: "50Gi" } },
      });
    },
  );

  it(
    "routes read-write to the primary, read-only to the standbys, and the headless Service to database " + "pods only",
    () => {
      const templates = podTemplates(mine);
      const selected = (name: string) =>
        templates.filter((t) => selects(one(mine, K.service, name).spec.selector, t.labels)).map((t) => t.owner);
      expect(selected("billing-rw")).toEqual(["billing-primary"]);
      expect(selected("billing-ro")).toEqual(["billing-standby"]);
      expect(selected("billing-headless").sort()).toEqual(["billing-primary", "billing-standby"]);
      expect(one(mine, K.service, "billing-headless").spec).toMatchObject({
        clusterIP: "None",
        publishNotReadyAddresses: true,
      });
      for (const sts of mine.filter((r) => r.type === K.statefulSet))
        expect(selects(sts.inputs.spec.selector.matchLabels, sts.inputs.spec.template.metadata.labels)).toBe(true);
    },
  );

  it("keeps the generated passwords secret: in the Secret only, never in plain text", async () => {
    const secret = one(mine, K.secret, "billing-credentials");
    expect(isSecretValue(secret.stringData)).toBe(true);
    expect(secret.stringData.value).toEqual({
      "superuser-password": passwordOf("billing-superuser-password"),
      "replication-password": passwordOf("billing-replication-password"),
    });
    const plain = JSON.stringify(
      mine
        .filter((r) => r.type !== K.secret && r.type !== "random:index/randomPassword:RandomPassword")
        .map((r) => r.inputs),
    );
    expect(plain).not.toContain(passwordOf("billing-superuser-password"));
    expect(plain).not.toContain(passwordOf("billing-replication-password"));
    expect(await (cluster.superuserPassword as any).isSecret).toBe(true);
  });

  it("derives archive_timeout and the replication settings from the arguments", async () => {
    const dr = one(mine, K.configMap, "billing-config").data["drkit.conf"];
    expect(dr).toContain(`archive_timeout = ${deriveArchiveTimeout(300)}\n`);
    expect(dr).toContain("archive_mode = on\n");
    expect(dr).toContain("wal_level = replica\n");
    expect(dr).toContain("max_wal_senders = 6\n");
    expect(dr).toContain("max_replication_slots = 4\n");
    expect(dr).toContain("max_slot_wal_keep_size = '2560MB'\n");
    expect(dr).toContain(`synchronous_standby_names = 'FIRST 1 ("billing-standby-0", "billing-standby-1")'\n`);
    expect(await promiseOf(cluster.archiveTimeoutSeconds)).toBe(deriveArchiveTimeout(300));
    expect(await promiseOf(cluster.readWriteHost)).toBe("billing-rw.payments.svc");
  });

  it("restarts the servers when a file they read changes, and only then", () => {
    const configHash = (args: PostgresClusterArgs) => {
      const m = buildClusterManifests(resolveCluster(args), { superuserPassword: "x", replicationPassword: "y" });
      return (m.primary.spec as any).template.metadata.annotations["drkit.io/config-hash"];
    };
    expect(configHash(baseArgs)).toBe(
      one(mine, K.statefulSet, "billing-primary").spec.template.metadata.annotations["drkit.io/config-hash"],
    );
    // Job scripts change with retention and schedules; the servers need not restart for that.
    expect(configHash({ ...baseArgs, retention: { backups: 9 }, schedule: { backup: "0 3 * * *" } })).toBe(
      configHash(baseArgs),
    );
    expect(configHash({ ...baseArgs, rpoSeconds: 60 })).not.toBe(configHash(baseArgs));
    expect(configHash({ ...baseArgs, standbys: 3 })).not.toBe(configHash(baseArgs));
  });

  it("every registered manifest passes the Kubernetes OpenAPI schema", () => {
    const manifests = manifestsOf(mine);
    expect(manifests).toHaveLength(11);
    expect(validateManifests(manifests)).toEqual([]);
  });

  it("the schema check does fail on a broken manifest, naming the object and the path", () => {
    const manifests = manifestsOf(mine);
    const cron = structuredClone(manifests.find((m) => m.kind === "CronJob" && m.metadata.name === "billing-backup"));
    cron.spec.concurrencyPolicy = "Never";
    const sts = structuredClone(manifests.find((m) => m.kind === "StatefulSet"));
    sts.spec.replicas = "1";
    delete sts.spec.template.spec.containers;
    expect(validateManifests([cron, sts])).toEqual([
      'batch/v1/CronJob "billing-backup": data/spec/concurrencyPolicy must be equal to one of the allowed values',
      'apps/v1/StatefulSet "billing-primary": data/spec/replicas must be integer, data/spec/template/spec must ' +
        "have required property containers",
    ]);
    expect(validateManifests([{ apiVersion: "v1", kind: "Pod", metadata: { name: "x" } }])[0]).toContain(
      "no OpenAPI model",
    );
  });

  it("passes the drkit policy pack, whose Kubernetes rules do see these resources", async () => {
    const asPolicyInput = (rs: Registered[]): FakeResource[] =>
      rs.map((r) => ({ type: r.type, name: r.name, props: r.inputs }));
    expect(await evaluate(drPolicies, asPolicyInput(mine))).toEqual([]);

    const overlapping = mine.map((r) =>
      r.type === K.cronJob && r.name === "billing-backup"
        ? { ...r, inputs: { ...r.inputs, spec: { ...r.inputs.spec, concurrencyPolicy: "Allow" } } }
        : r,
    );
    expect((await evaluate(drPolicies, asPolicyInput(overlapping))).map((d) => d.policy)).toEqual([
      "k8s-backup-cronjob-forbids-overlap",
    ]);
    const withoutBackups = mine.filter((r) => !(r.type === K.cronJob && r.name === "billing-backup"));
    expect((await evaluate(drPolicies, asPolicyInput(withoutBackups))).map((d) => d.policy)).toEqual([
      "k8s-backup-cronjob-exists",
    ]);
  });
});

describe("PostgresCluster with a restore request", () => {
  let mine: Registered[];
  beforeAll(async () => {
    ({ mine } = await deploy("ledger", {
      ...baseArgs,
      name: "ledger",
      standbys: 0,
      synchronous: false,
      restore: { fromBackup: "latest", targetTime: "2024-01-15T16:30:00+02:00" },
    }));
  });

  it("adds a restore Job that fills the primary's claim, labelled restore, re-run by the next up if it failed", () => {
    expect(mine.filter((r) => r.type === K.statefulSet).map((r) => r.inputs.metadata.name)).toEqual(["ledger-primary"]);
    const job = one(mine, K.job, "ledger-restore");
    expect(job.metadata.labels["app.kubernetes.io/component"]).toBe("restore");
    expect(job.metadata.annotations).toEqual({ "pulumi.com/replaceUnready": "true" });
    const pod = job.spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: "data", persistentVolumeClaim: { claimName: "data-ledger-primary-0" } });
    expect(pod.affinity).toBeUndefined();
    expect(pod.containers[0].command).toEqual([
      "/etc/drkit/agent/pod-restore",
      "--target-time",
      "2024-01-15 14:30:00.000+00",
    ]);
    // In the Job's spec, so that a new request replaces (re-runs) the Job.
    expect(pod.containers[0].env).toContainEqual({
      name: "DRKIT_RESTORE_REQUEST",
      value: "latest@2024-01-15T14:30:00.000Z",
    });
    const settings = one(mine, K.configMap, "ledger-config").data["restore.env"].split("\n");
    expect(settings).toContain("RESTORE_REQUEST=latest@2024-01-15T14:30:00.000Z");
    expect(settings).toContain("PG_MANAGER=foreground");
    expect(
      one(mine, K.statefulSet, "ledger-primary").spec.template.metadata.annotations["drkit.io/restore-request"],
    ).toBe("latest@2024-01-15T14:30:00.000Z");
    expect(validateManifests(manifestsOf(mine))).toEqual([]);
  });

  it("has no standby objects without standbys, and an empty synchronous_standby_names", () => {
    const dr = one(mine, K.configMap, "ledger-config").data["drkit.conf"];
    expect(dr).toContain("synchronous_standby_names = ''\n");
    expect(dr).toContain("max_replication_slots = 2\n");
  });
});

describe("PostgresCluster with off-site shipping", () => {
  const ACCESS = "AKIAOFFSITEEXAMPLE01";
  const SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYoffsiteKEY";
  let mine: Registered[];
  const offsiteArgs: PostgresClusterArgs = {
    ...baseArgs,
    name: "vault",
    // One key plain, one an output of another resource (a secret one).
    offsite: {
      endpoint: "https://s3.example.com:9000",
      bucket: "dr-copies",
      accessKey: ACCESS,
      secretKey: pulumi.secret(SECRET),
    },
  };
  beforeAll(async () => {
    ({ mine } = await deploy("vault", offsiteArgs));
  });
  const backupPod = () => one(mine, K.cronJob, "vault-backup").spec.jobTemplate.spec.template.spec;

  it(
    "adds one Secret holding the credentials file (MC_HOST_offsite), as a Pulumi secret with the keys as mc " +
      "reads them",
    () => {
      expect(
        mine
          .filter((r) => r.type === K.secret)
          .map((r) => r.inputs.metadata.name)
          .sort(),
      ).toEqual(["vault-credentials", "vault-offsite"]);
      // the shipper Deployment is the one object beyond the Secret that shipping adds
      expect(mine).toHaveLength(16);
      const secret = one(mine, K.secret, "vault-offsite");
      expect(secret.type).toBe("Opaque");
      expect(secret.metadata.labels["app.kubernetes.io/component"]).toBe("backup");
      expect(isSecretValue(secret.stringData)).toBe(true);
      expect(unwrap(secret.stringData)).toEqual({
        credentials: expect.stringContaining(`\nMC_HOST_offsite=https://${ACCESS}:${SECRET}@s3.example.com:9000\n`),
      });
      expect(secret.data).toBeUndefined();
    },
  );

  it(
    "copies mc from the mc image in an init container, then runs the agent's backup and shipping in the postgres " +
      "image",
    () => {
      const pod = backupPod();
      expect(pod.restartPolicy).toBe("Never");
      expect(pod.initContainers.map((c: any) => [c.name, c.image])).toEqual([
        ["mc", "minio/mc:RELEASE.2025-08-13T08-35-41Z"],
      ]);
      expect(pod.initContainers[0].command.join(" ")).toContain("/opt/drkit/bin/mc");
      const [backup] = pod.containers;
      expect(backup.command).toEqual(["/etc/drkit/agent/pod-backup"]);
      expect(pod.volumes).toContainEqual({ name: "tools", emptyDir: { sizeLimit: "256Mi" } });
      expect(backup.volumeMounts).toContainEqual({ name: "tools", mountPath: "/opt/drkit/bin", readOnly: false });
      expect(backup.securityContext).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
      });
      const settings = one(mine, K.configMap, "vault-config").data["backup.env"].split("\n");
      for (const line of [
        "OFFSITE_STORES=(offsite)",
        "OFFSITE_ALIASES=(offsite)",
        "OFFSITE_BUCKETS=(dr-copies)",
        "OFFSITE_PREFIX=vault/",
        "OFFSITE_CREDENTIALS=(/etc/drkit/offsite/credentials)",
        "MC=/opt/drkit/bin/mc",
      ]) {
        expect(settings).toContain(line);
      }
      // The servers never ship (no mc there): their archive stays on the backup volume until the backup run ships it.
      expect(one(mine, K.configMap, "vault-config").data["server.env"].split("\n")).toContain("OFFSITE_STORES=()");
      const cron = one(mine, K.cronJob, "vault-backup");
      expect(cron.spec).toMatchObject({
        concurrencyPolicy: "Forbid",
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
      });
    },
  );

  it("gives the backup the credentials only as a file from the offsite Secret, never in its environment", () => {
    const pod = backupPod();
    const [backup] = pod.containers;
    expect(pod.volumes).toContainEqual({
      name: "offsite",
      secret: { secretName: "vault-offsite", defaultMode: 0o440, items: [{ key: "credentials", path: "credentials" }] },
    });
    expect(backup.volumeMounts).toContainEqual({ name: "offsite", mountPath: "/etc/drkit/offsite", readOnly: true });
    expect(JSON.stringify(backup.env)).not.toContain("MC_HOST");
    expect(backup.env.filter((e: any) => e.valueFrom?.secretKeyRef)).toEqual([]);
    expect(backup.args).toBeUndefined();
  });

  it("keeps the keys out of every non-secret input, the ConfigMap and the component's own inputs included", () => {
    const forms = [ACCESS, SECRET, encodeURIComponent(SECRET), "wJalrXUtnFEMI"];
    const withoutSecretValues = (value: any): any => {
      if (isSecretValue(value)) return "[secret]";
      if (Array.isArray(value)) return value.map(withoutSecretValues);
      if (value !== null && typeof value === "object")
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutSecretValues(v)]));
      return value;
    };
    const plain = JSON.stringify(mine.map((r) => withoutSecretValues(r.inputs)));
    for (const form of forms) expect(plain).not.toContain(form);
    const component = mine.find((r) => r.type === "drkit:kubernetes:PostgresCluster")!;
    expect(component.inputs.offsite).toEqual({
      endpoint: "https://s3.example.com:9000",
      bucket: "dr-copies",
      prefix: "vault/",
      shipsWal: true,
    });
  });

  it("mounts the store's CA beside the credentials for mc, when the cluster gives one", async () => {
    const ca = serverTlsPems({ dns: ["s3.example.com"] }).ca;
    const { mine: withCa } = await deploy("vaultca", {
      ...offsiteArgs,
      name: "vaultca",
      offsite: { ...offsiteArgs.offsite!, caCertificate: ca },
    });
    expect(unwrap(one(withCa, K.secret, "vaultca-offsite").stringData)).toMatchObject({ "ca.crt": ca.trim() + "\n" });
    const pod = one(withCa, K.cronJob, "vaultca-backup").spec.jobTemplate.spec.template.spec;
    expect(pod.volumes).toContainEqual({
      name: "offsite",
      secret: {
        secretName: "vaultca-offsite",
        defaultMode: 0o440,
        items: [
          { key: "credentials", path: "credentials" },
          { key: "ca.crt", path: "ca.crt" },
        ],
      },
    });
    const settings = one(withCa, K.configMap, "vaultca-config").data["backup.env"].split("\n");
    expect(settings).toContain("OFFSITE_CA_FILES=(/etc/drkit/offsite/ca.crt)");
    // without a CA the agent is told there is none
    expect(one(mine, K.configMap, "vault-config").data["backup.env"].split("\n")).toContain("OFFSITE_CA_FILES=('')");
  });

  it(
    "runs the agent's shipper continuously in a one-pod Deployment beside the primary, with the backup role's " +
      "settings and mc, and the backup job leaves the WAL queue to it",
    () => {
      const shipper = one(mine, K.deployment, "vault-shipper");
      expect(shipper.spec.replicas).toBe(1);
      expect(shipper.spec.strategy).toEqual({ type: "Recreate" });
      const pod = shipper.spec.template.spec;
      expect(pod.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector).toEqual({
        matchLabels: {
          "app.kubernetes.io/name": "postgresql",
          "app.kubernetes.io/instance": "vault",
          "app.kubernetes.io/component": "primary",
        },
      });
      expect(pod.initContainers.map((c: any) => c.name)).toEqual(["mc"]);
      const [container] = pod.containers;
      expect(container.command).toEqual(["/etc/drkit/agent/shipper", "run"]);
      expect(container.env).toContainEqual({ name: "DRKIT_ENV", value: "/etc/drkit/config/backup.env" });
      expect(container.volumeMounts).toContainEqual({
        name: "backups",
        mountPath: "/backups",
        readOnly: false,
      });
      expect(container.volumeMounts).toContainEqual({
        name: "offsite",
        mountPath: "/etc/drkit/offsite",
        readOnly: true,
      });
      expect(container.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
      expect(JSON.stringify(container.env)).not.toContain("MC_HOST");
      // Selected by no Service: the shipper is not a server.
      for (const svc of mine.filter((r) => r.type === K.service))
        expect(svc.inputs.spec.selector["app.kubernetes.io/component"] ?? "servers").not.toBe("shipper");
      const settings = one(mine, K.configMap, "vault-config").data["backup.env"].split("\n");
      expect(settings).toContain("SHIPPER_SERVICE=yes");
    },
  );

  it("ships with the agent's shipper and ship-offsite, and without shipping names no store", () => {
    const config = one(mine, K.configMap, "vault-config").data;
    expect(config["pod-backup"]).toContain('is_true "${SHIPPER_SERVICE:-no}" || "$AGENT_DIR/shipper" once');
    expect(config["ship-offsite"]).toBe(agentFile("ship-offsite"));
    const without = buildClusterManifests(resolveCluster(baseArgs), {
      superuserPassword: "x",
      replicationPassword: "y",
    }).config.data as Record<string, string>;
    expect(without["backup.env"].split("\n")).toContain("OFFSITE_STORES=()");
    expect(without["backup.env"]).not.toContain("OFFSITE_BUCKETS");
  });

  it("leaves the server pods as they are without shipping, so turning it on restarts nothing", () => {
    const build = (args: PostgresClusterArgs) =>
      buildClusterManifests(resolveCluster(args), {
        superuserPassword: "x",
        replicationPassword: "y",
        offsiteMcHost: "z",
      });
    const withShipping = build(offsiteArgs);
    const without = build({ ...offsiteArgs, offsite: undefined });
    expect(withShipping.primary).toEqual(without.primary);
    expect(withShipping.standby).toEqual(without.standby);
    expect(withShipping.verifyJob).toEqual(without.verifyJob);
    expect(without.offsite).toBeUndefined();
    expect(without.shipper).toBeUndefined();
    expect(() =>
      buildClusterManifests(resolveCluster(offsiteArgs), { superuserPassword: "x", replicationPassword: "y" }),
    ).toThrow("no MC_HOST value");
  });

  it("every manifest still passes the Kubernetes OpenAPI schema, and the policy pack still passes", async () => {
    const manifests = manifestsOf(mine);
    expect(manifests).toHaveLength(13);
    expect(validateManifests(manifests)).toEqual([]);
    const asPolicyInput = (rs: Registered[]): FakeResource[] =>
      rs.map((r) => ({ type: r.type, name: r.name, props: r.inputs }));
    expect(await evaluate(drPolicies, asPolicyInput(mine))).toEqual([]);
    const overlapping = mine.map((r) =>
      r.type === K.cronJob && r.name === "vault-backup"
        ? { ...r, inputs: { ...r.inputs, spec: { ...r.inputs.spec, concurrencyPolicy: "Allow" } } }
        : r,
    );
    expect((await evaluate(drPolicies, asPolicyInput(overlapping))).map((d) => d.policy)).toEqual([
      "k8s-backup-cronjob-forbids-overlap",
    ]);
  });
});

describe("PostgresCluster with monitoring", () => {
  let mine: Registered[];
  const monitored: PostgresClusterArgs = { ...baseArgs, name: "watched", monitoring: {} };
  beforeAll(async () => {
    ({ mine } = await deploy("watched", monitored));
  });
  const rule = () => one(mine, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "watched-drkit-alerts");

  it("runs the collector and a node_exporter beside the primary, on the backup volume's metrics folder", () => {
    const pod = one(mine, K.statefulSet, "watched-primary").spec.template;
    expect(pod.spec.containers.map((c: { name: string }) => c.name)).toEqual(["postgres", "metrics", "exporter"]);
    const [, collector, exporter] = pod.spec.containers;
    expect(collector.command).toEqual(["/etc/drkit/agent/collect-metrics", "run"]);
    expect(collector.image).toBe("postgres:15");
    expect(exporter.image).toBe("quay.io/prometheus/node-exporter:v1.8.2");
    expect(exporter.args).toContain("--collector.textfile.directory=/backups/metrics");
    expect(exporter.ports).toEqual([{ name: "metrics", containerPort: 9100 }]);
    expect(exporter.volumeMounts).toEqual([{ name: "backups", mountPath: "/backups", readOnly: true }]);
    expect(pod.metadata.annotations).toMatchObject({ "prometheus.io/scrape": "true", "prometheus.io/port": "9100" });
    // The standbys have no sidecars: their metrics are the primary's view of them.
    const standby = one(mine, K.statefulSet, "watched-standby").spec.template.spec;
    expect(standby.containers.map((c: { name: string }) => c.name)).toEqual(["postgres"]);
  });

  it("every pod role publishes into the metrics folder; the collector knows the standbys' names", () => {
    const config = one(mine, K.configMap, "watched-config").data;
    for (const role of ["server", "backup", "restore-test", "restore"])
      expect(config[`${role}.env`].split("\n"), role).toEqual(
        expect.arrayContaining(["METRICS_DIR=/backups/metrics", "METRICS_INTERVAL=30"]),
      );
    expect(config["server.env"].split("\n")).toContain("REPL_STANDBY_NAMES=(watched-standby-0 watched-standby-1)");
    const without = buildClusterManifests(resolveCluster(baseArgs), {
      superuserPassword: "x",
      replicationPassword: "y",
    });
    expect((without.config.data as Record<string, string>)["backup.env"]).not.toContain("METRICS_DIR");
    expect(without.prometheusRule).toBeUndefined();
  });

  it("a PrometheusRule with the alerts derived from the objectives and the CronJob schedules", () => {
    const groups = rule().spec.groups;
    expect(groups).toHaveLength(1);
    expect(groups[0].name).toBe("drkit-watched");
    const byName = (name: string) => groups[0].rules.filter((r: { alert: string }) => r.alert === name);
    // A daily backup ("15 2 * * *") may be 26 h old.
    expect(byName("DrkitBackupTooOld")[0].expr).toBe(
      '(time() - drkit_job_last_success_timestamp_seconds{service="watched",drkit_job="base"} > 93600 and ' +
        'drkit_job_last_success_timestamp_seconds{service="watched",drkit_job="base"} != 0)',
    );
    expect(byName("DrkitReplicaNotStreaming")).toHaveLength(1);
    expect(byName("DrkitReplicationLagHigh")[0].expr).toContain("> 180");
    expect(byName("DrkitOffsiteLagHigh")).toHaveLength(0);
    expect(byName("DrkitRedisSnapshotTooOld")).toHaveLength(0);
  });

  it("the PrometheusRule passes the Prometheus Operator's schema and promtool", () => {
    const manifests = manifestsOf(mine);
    expect(validateManifests(manifests)).toEqual([]);
    expect(validateManifests([{ ...rule(), spec: { groups: [{ rules: [{ alert: 1 }] }] } }])[0]).toMatch(
      /^monitoring\.coreos\.com\/v1\/PrometheusRule "watched-drkit-alerts": /,
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-k8s-rules-"));
    try {
      fs.writeFileSync(path.join(dir, "rules.json"), JSON.stringify(rule().spec));
      const r = spawnSync("promtool", ["check", "rules", path.join(dir, "rules.json")], { encoding: "utf8" });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("bad monitoring arguments fail, naming the field", () => {
    const bad = () => resolveCluster({ ...baseArgs, monitoring: { sizeChangeRatio: 0, exporterImage: "a b" } });
    expect(bad).toThrow(/monitoring\.exporterImage: .*must be an image reference without spaces/);
    expect(bad).toThrow(/monitoring\.sizeChangeRatio: 0 must be a number more than 0 and at most 10/);
  });
});

describe("PostgresCluster with awaitReady", () => {
  const skipAwait = (r: Registered) => r.inputs.metadata?.annotations?.["pulumi.com/skipAwait"];
  const offsite = { endpoint: "http://127.0.0.1:9000", bucket: "dr-copies", accessKey: "access", secretKey: "secret" };

  it("by default `pulumi up` waits for the servers; only the claims (bound by a first pod) are not", async () => {
    const { mine } = await deploy("ledger", { ...baseArgs, name: "ledger", offsite });
    const skipped = mine.filter((r) => skipAwait(r) === "true").map((r) => `${r.type} ${r.inputs.metadata.name}`);
    expect(skipped.sort()).toEqual([`${K.claim} data-ledger-primary-0`, `${K.claim} ledger-backups`]);
  });

  it("false: the StatefulSets and the shipper's Deployment are not waited for, a restore Job still is", async () => {
    const { mine } = await deploy("journal", {
      ...baseArgs,
      name: "journal",
      offsite,
      awaitReady: false,
      restore: { fromBackup: "latest" },
    });
    const skipped = mine.filter((r) => skipAwait(r) === "true").map((r) => `${r.type} ${r.inputs.metadata.name}`);
    expect(skipped.sort()).toEqual([
      `${K.deployment} journal-shipper`,
      `${K.statefulSet} journal-primary`,
      `${K.statefulSet} journal-standby`,
      `${K.claim} data-journal-primary-0`,
      `${K.claim} journal-backups`,
    ]);
    expect(one(mine, K.job, "journal-restore").metadata.annotations?.["pulumi.com/skipAwait"]).toBeUndefined();
  });
});

describe("argument errors", () => {
  it("throws every problem at once, one 'field: value rule' line each, before registering anything", async () => {
    await settle();
    const before = registered.length;
    const bad = {
      ...baseArgs,
      namespace: "Payments",
      standbys: 9,
      schedule: { backup: "61 * * * *" },
      storage: { size: "10GB" },
    };
    expect(() => new PostgresCluster("bad", bad)).toThrow(
      [
        'invalid arguments for PostgresCluster "billing":',
        "namespace: \"Payments\" must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending " +
          "with a letter or digit, at most 63 characters",
        "standbys: 9 must be at most 8",
        'storage.size: "10GB" must be a quantity such as "10Gi"',
        'schedule.backup: "61 * * * *" must be a 5-field cron expression (minute 61 is outside 0-59)',
      ].join("\n"),
    );
    expect(() => new PostgresCluster("bad", { ...baseArgs, standbys: 0 })).toThrow(
      /^invalid arguments[^\n]*\nsynchronous: true needs at least 1 standby$/,
    );
    const badOffsite = {
      ...baseArgs,
      offsite: {
        endpoint: "s3.example.com",
        bucket: "DR",
        prefix: "billing",
        accessKey: "AKIA:X",
        secretKey: "s3cr3t",
      },
    };
    expect(() => new PostgresCluster("bad", badOffsite)).toThrow(
      [
        'invalid arguments for PostgresCluster "billing":',
        'offsite.endpoint: "s3.example.com" must be an http(s) URL of a host and optional port, ' +
          'such as "https://minio.example.com:9000"',
        "offsite.bucket: \"DR\" must be a bucket name: 3-63 lowercase letters, digits, '.' and '-', " +
          "starting and ending with a letter or digit, without '..', not an IP address",
        `offsite.prefix: "billing" must be folder names of letters, digits, '.', '_' and '-', each ending in '/', ` +
          `such as "billing/" (at most 256 characters)`,
        "offsite.accessKey: (secret) must not contain ':' (mc splits MC_HOST_* at ':' and takes the keys literally)",
      ].join("\n"),
    );
    await settle();
    expect(registered.length).toBe(before);
  });
});

describe("PostgresCluster with replicationTls: every connection to the primary over the pod network verified", () => {
  const pems = serverTlsPems({ dns: ["secure-primary-0.secure-headless", "secure-rw"] });
  const args: PostgresClusterArgs = {
    ...baseArgs,
    name: "secure",
    replicationTls: { ca: pems.ca, certificate: pems.certificate, key: pems.key },
  };
  let mine: Registered[];
  beforeAll(async () => {
    ({ mine } = await deploy("secure", args));
  });

  it("puts the key in the Secret only, the certificate and CA in the ConfigMap", () => {
    const secret = one(mine, K.secret, "secure-credentials");
    expect(isSecretValue(secret.stringData)).toBe(true);
    expect(unwrap(secret.stringData)["replication-tls.key"]).toBe(`${pems.key.trim()}\n`);
    const plain = JSON.stringify(mine.filter((r) => r.type !== K.secret).map((r) => unwrap(r.inputs)));
    expect(plain).not.toContain(pems.key.trim().split("\n")[1]);
    const config = one(mine, K.configMap, "secure-config").data;
    expect(config["replication-ca.crt"]).toBe(`${pems.ca.trim()}\n`);
    expect(config["replication-server.crt"]).toBe(`${pems.certificate.trim()}\n`);
  });

  it("serves TLS, admits network connections only over it, and every pod role verifies the primary", () => {
    const config = one(mine, K.configMap, "secure-config").data;
    expect(config["postgresql.conf"]).toContain("ssl = on\n");
    expect(config["postgresql.conf"]).toContain("ssl_key_file = '/etc/drkit/secrets/replication-tls.key'");
    expect(config["pg_hba.conf"].split("\n").filter((l: string) => /^host/.test(l))).toEqual([
      "hostssl replication  drkit_replicator    all      scram-sha-256",
      "hostssl all          all                 all      scram-sha-256",
      "hostnossl all        all                 all      reject",
    ]);
    for (const role of ["server", "backup", "restore-test", "restore"])
      expect(config[`${role}.env`].split("\n"), role).toEqual(
        expect.arrayContaining(["PG_SSLMODE=verify-full", "PG_SSLROOTCERT=/etc/drkit/config/replication-ca.crt"]),
      );
    const without = buildClusterManifests(resolveCluster(baseArgs), {
      superuserPassword: "x",
      replicationPassword: "y",
    });
    expect((without.config.data as Record<string, string>)["postgresql.conf"]).not.toContain("ssl = on");
  });

  it("restarts the servers when the certificate changes; every manifest passes the OpenAPI schema", () => {
    const hash = (a: PostgresClusterArgs) =>
      (
        buildClusterManifests(resolveCluster(a), {
          superuserPassword: "x",
          replicationPassword: "y",
          replicationTlsKey: "k",
        }).primary.spec as any
      ).template.metadata.annotations["drkit.io/config-hash"];
    const renewed = serverTlsPems({ dns: ["secure-primary-0.secure-headless", "secure-rw"] });
    expect(
      hash({ ...args, replicationTls: { ca: renewed.ca, certificate: renewed.certificate, key: renewed.key } }),
    ).not.toBe(hash(args));
    expect(validateManifests(manifestsOf(mine))).toEqual([]);
  });
});
