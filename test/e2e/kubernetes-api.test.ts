import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { engineProject, repoDir, type EngineProject } from "../helpers/engine";
import { startKubeApiServer, type KubeApiServer } from "../helpers/kubeApiServer";
import { waitFor } from "../helpers/sandbox";

// PostgresCluster through the real CLI and the real Kubernetes provider, against a real API server (etcd,
// kube-apiserver, kube-controller-manager on loopback). No scheduler or kubelet runs, so the servers' pods are
// created and stay Pending: the program says so with awaitReady: false, and the tests read back what the server
// stored (its spec, its defaults, labels, owner references) instead of waiting for pods to run.

const STACK = "kube";
const NAMESPACE = "payments";
const SECRET_KEY = `drkitKube${randomBytes(16).toString("hex")}`;

const PROGRAM = `import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { PostgresCluster } from "./components/kubernetes";

const config = new pulumi.Config("cluster");
const namespace = config.require("namespace");
const cluster = new PostgresCluster("billing", {
  name: "billing",
  namespace,
  databases: ["billing"],
  rpoSeconds: 300,
  standbys: 1,
  synchronous: true,
  storage: { size: config.require("storageSize"), storageClassName: "local-wait" },
  backupStorage: { size: "2Gi", storageClassName: "local-wait" },
  schedule: { backup: config.require("backupSchedule") },
  offsite: {
    endpoint: "http://127.0.0.1:9000",
    bucket: "dr-copies",
    accessKey: "drkit-offsite",
    secretKey: config.requireSecret("offsiteSecretKey"),
  },
  monitoring: {},
  ...(config.get("restoreFromBackup") ? { restore: { fromBackup: config.require("restoreFromBackup") } } : {}),
  // No kubelet or scheduler in this control plane: the pods are created and stay Pending.
  awaitReady: false,
});
// A second backup CronJob that may run twice at once: what the policy pack must refuse.
if (config.getBoolean("overlappingBackup")) {
  const labels = { "app.kubernetes.io/component": "backup", "app.kubernetes.io/managed-by": "drkit" };
  new k8s.batch.v1.CronJob("adhoc-backup", {
    metadata: { name: "adhoc-backup", namespace, labels },
    spec: {
      schedule: "0 * * * *",
      concurrencyPolicy: "Allow",
      jobTemplate: {
        spec: {
          template: {
            spec: { restartPolicy: "Never", containers: [{ name: "backup", image: "postgres:15", command: ["true"] }] },
          },
        },
      },
    },
  });
}
export const readWriteHost = cluster.readWriteHost;
`;

interface PreviewStep {
  readonly op: string;
  readonly urn: string;
  readonly diffReasons?: string[];
  readonly replaceReasons?: string[];
}
const nameOf = (urn: string) => urn.split("::").pop()!;

describe("PostgresCluster on a real API server with the real Kubernetes provider", () => {
  let kube: KubeApiServer;
  let project: EngineProject;
  const pulumi = (args: string[]) => project.pulumi([...args, "--stack", STACK]);
  const ok = async (args: string[]) => {
    const r = await pulumi(args);
    // the end of what it printed: --json output holds every object, the agent's files included
    expect(r.status, `pulumi ${args.join(" ")}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`).toBe(0);
    return r;
  };
  const config = (key: string, value: string) => project.setConfig(STACK, `cluster:${key}`, value);
  const ns = (kind: string, name = "") => `/namespaces/${NAMESPACE}/${kind}${name ? `/${name}` : ""}`;
  const changes = async () => {
    const r = await ok(["preview", "--json"]);
    return (JSON.parse(r.stdout).steps as PreviewStep[]).filter((s) => s.op !== "same");
  };
  /** The preview's changes as "op name", sorted. */
  const ops = async () => (await changes()).map((s) => `${s.op} ${nameOf(s.urn)}`).sort();

  beforeAll(async () => {
    kube = await startKubeApiServer("cluster");
    // What a cluster has before drkit comes: the namespace, a storage class that binds on first use, and the
    // Prometheus Operator's PrometheusRule type (its schema left open: the operator is not what is tested).
    const create = async (apiPath: string, body: unknown) => {
      const r = await kube.request("POST", apiPath, body);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    };
    for (const name of [NAMESPACE, "payments-next"]) await create("/api/v1/namespaces", { metadata: { name } });
    await create("/apis/storage.k8s.io/v1/storageclasses", {
      metadata: { name: "local-wait" },
      provisioner: "kubernetes.io/no-provisioner",
      volumeBindingMode: "WaitForFirstConsumer",
    });
    await create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
      metadata: { name: "prometheusrules.monitoring.coreos.com" },
      spec: {
        group: "monitoring.coreos.com",
        scope: "Namespaced",
        names: { plural: "prometheusrules", singular: "prometheusrule", kind: "PrometheusRule" },
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
          },
        ],
      },
    });
    await waitFor("the PrometheusRule type", async () => {
      const crd = await kube.get(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/prometheusrules.monitoring.coreos.com",
      );
      return crd.status?.conditions?.some((c: any) => c.type === "Established" && c.status === "True") || undefined;
    });

    project = engineProject("kube");
    project.env.KUBECONFIG = kube.kubeconfig;
    fs.writeFileSync(path.join(project.dir, "cluster.ts"), PROGRAM);
    const pulumiYaml = fs.readFileSync(path.join(project.dir, "Pulumi.yaml"), "utf8");
    fs.writeFileSync(path.join(project.dir, "Pulumi.yaml"), pulumiYaml.replace(/^main: .*$/m, "main: cluster.ts"));
    project.writeStack(STACK, "config: {}\n");
    await ok(["stack", "init"]);
    await config("namespace", NAMESPACE);
    await config("storageSize", "1Gi");
    await config("backupSchedule", "15 2 * * *");
    await project.setConfig(STACK, "cluster:offsiteSecretKey", SECRET_KEY, true);
  }, 180_000);

  afterAll(async () => {
    await kube?.destroy();
    project?.remove();
  });

  it("pulumi up creates the cluster, and the server stored it with its own defaults", async () => {
    const up = await ok(["up", "--yes", "--skip-preview"]);
    expect(up.stdout).toMatch(/readWriteHost\s*:\s*"billing-rw\.payments\.svc"/);

    const primary = await kube.get(`/apis/apps/v1${ns("statefulsets", "billing-primary")}`);
    expect(primary.metadata.labels["app.kubernetes.io/managed-by"]).toBe("drkit");
    expect(primary.metadata.annotations["pulumi.com/skipAwait"]).toBe("true");
    // defaults the API server filled in
    expect(primary.spec.revisionHistoryLimit).toBe(10);
    expect(primary.spec.template.spec.schedulerName).toBe("default-scheduler");
    expect(primary.spec.template.spec.dnsPolicy).toBe("ClusterFirst");
    expect(primary.spec.volumeClaimTemplates[0].spec.storageClassName).toBe("local-wait");
    expect(primary.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: "Retain", whenScaled: "Retain" });

    // The StatefulSet controller made the pods, owned by their StatefulSets; nothing schedules them.
    for (const set of ["billing-primary", "billing-standby"]) {
      const pod = await waitFor(`pod ${set}-0`, async () => {
        const r = await kube.request("GET", `/api/v1${ns("pods", `${set}-0`)}`);
        return r.status === 200 ? r.body : undefined;
      });
      expect(pod.metadata.ownerReferences).toEqual([
        expect.objectContaining({ apiVersion: "apps/v1", kind: "StatefulSet", name: set, controller: true }),
      ]);
      expect(pod.status.phase).toBe("Pending");
    }

    const rw = await kube.get(`/api/v1${ns("services", "billing-rw")}`);
    expect(rw.spec.clusterIP).toMatch(/^10\.96\./);
    expect((await kube.get(`/api/v1${ns("services", "billing-headless")}`)).spec.clusterIP).toBe("None");

    const backup = await kube.get(`/apis/batch/v1${ns("cronjobs", "billing-backup")}`);
    expect(backup.spec).toMatchObject({ schedule: "15 2 * * *", concurrencyPolicy: "Forbid", suspend: false });
    expect(backup.spec.jobTemplate.spec.template.spec.restartPolicy).toBe("Never");
    expect((await kube.get(`/apis/batch/v1${ns("cronjobs", "billing-verify")}`)).spec.schedule).toBe("0 5 * * *");

    const shipper = await kube.get(`/apis/apps/v1${ns("deployments", "billing-shipper")}`);
    expect(shipper.spec.progressDeadlineSeconds).toBe(600);
    expect(shipper.spec.strategy).toEqual({ type: "Recreate" });

    for (const claim of ["billing-backups", "data-billing-primary-0"]) {
      const pvc = await kube.get(`/api/v1${ns("persistentvolumeclaims", claim)}`);
      expect(pvc.spec.storageClassName).toBe("local-wait");
      expect(pvc.status.phase).toBe("Pending");
    }
    const rule = await kube.get(`/apis/monitoring.coreos.com/v1${ns("prometheusrules", "billing-drkit-alerts")}`);
    const alerts = rule.spec.groups.flatMap((g: { rules: { alert?: string }[] }) => g.rules.map((r) => r.alert));
    expect(alerts).toEqual(expect.arrayContaining(["DrkitBackupTooOld", "DrkitBackupFailed"]));

    // The store's key reached the cluster only in the offsite Secret; Pulumi's state holds it encrypted.
    const offsite = await kube.get(`/api/v1${ns("secrets", "billing-offsite")}`);
    expect(Buffer.from(offsite.data.credentials, "base64").toString()).toContain(SECRET_KEY);
    expect(project.stateText()).not.toContain(SECRET_KEY);
    for (const out of project.outputs) expect(out).not.toContain(SECRET_KEY);
  }, 600_000);

  it("a second pulumi up changes nothing", async () => {
    await ok(["up", "--yes", "--expect-no-changes"]);
  }, 600_000);

  it("a new backup schedule updates the backup CronJob and the alerts timed by it, no server", async () => {
    const before = await kube.get(`/apis/apps/v1${ns("statefulsets", "billing-primary")}`);
    await config("backupSchedule", "45 3 * * *");
    // the component's own inputs (what the policy pack sees) carry the schedule; the backup-age alerts follow it
    expect(await ops()).toEqual(["update billing", "update billing-alerts", "update billing-backup"]);
    await ok(["up", "--yes", "--skip-preview"]);
    expect((await kube.get(`/apis/batch/v1${ns("cronjobs", "billing-backup")}`)).spec.schedule).toBe("45 3 * * *");
    const after = await kube.get(`/apis/apps/v1${ns("statefulsets", "billing-primary")}`);
    expect(after.metadata.generation).toBe(before.metadata.generation);
  }, 600_000);

  it("a move to another namespace shows as a replacement of every object, in the preview", async () => {
    await config("namespace", "payments-next");
    // the stack's settings go back even when an assertion fails, so the next cases start from the deployed stack
    onTestFinished(() => config("namespace", NAMESPACE));
    const changed = await changes();
    const replaced = changed.filter((s) => s.op === "replace").map((s) => nameOf(s.urn));
    expect(replaced.sort()).toEqual([
      "billing-alerts",
      "billing-backup",
      "billing-backups",
      "billing-config",
      "billing-credentials",
      "billing-headless",
      "billing-offsite",
      "billing-primary",
      "billing-primary-data",
      "billing-ro",
      "billing-rw",
      "billing-shipper",
      "billing-standby",
      "billing-verify",
    ]);
    for (const s of changed.filter((c) => c.op === "replace"))
      expect(s.replaceReasons, nameOf(s.urn)).toContain("metadata.namespace");
    await config("namespace", NAMESPACE);
    expect(await changes()).toEqual([]);
  }, 600_000);

  it("a restore request previews the restore Job (the server validates it) and the primary's restart", async () => {
    await config("restoreFromBackup", "latest");
    onTestFinished(async () => {
      for (const key of ["cluster:restoreFromBackup", "kubernetes:enableConfigMapMutable"])
        await pulumi(["config", "rm", key]);
    });
    // The provider replaces a ConfigMap whose data change, and one with a fixed name is deleted before the new one
    // is made; its enableConfigMapMutable setting updates it in place (the servers restart on the config's hash).
    expect(await ops()).toEqual(["create billing-restore", "replace billing-config", "update billing-primary"]);
    await project.setConfig(STACK, "kubernetes:enableConfigMapMutable", "true");
    const mutable = await ops();
    expect(mutable.filter((o) => o.startsWith("replace "))).toEqual([]);
    expect(mutable).toEqual(expect.arrayContaining(["create billing-restore", "update billing-config"]));
    for (const key of ["cluster:restoreFromBackup", "kubernetes:enableConfigMapMutable"])
      expect((await pulumi(["config", "rm", key])).status).toBe(0);
    expect(await changes()).toEqual([]);
  }, 600_000);

  it("the policy pack passes on the stack, and refuses a backup CronJob that may overlap", async () => {
    const policies = path.join(repoDir, "policies");
    const pass = await ok(["preview", "--policy-pack", policies]);
    expect(pass.stdout).toMatch(/drkit-dr@v0\.1\.0/);
    await config("overlappingBackup", "true");
    onTestFinished(() => config("overlappingBackup", "false"));
    const fail = await pulumi(["preview", "--policy-pack", policies]);
    expect(fail.status).not.toBe(0);
    const out = `${fail.stdout}\n${fail.stderr}`;
    expect(out).toContain("k8s-backup-cronjob-forbids-overlap");
    expect(out).toContain('concurrencyPolicy is "Allow"; the rule requires "Forbid"');
    await config("overlappingBackup", "false");
  }, 600_000);

  it("pulumi destroy completes: the objects and their pods go, the two volumes drkit keeps stay", async () => {
    await ok(["destroy", "--yes", "--skip-preview"]);
    expect(JSON.parse((await ok(["stack", "export"])).stdout).deployment.resources ?? []).toHaveLength(0);
    // Objects with dependents are deleted in the foreground: the controller manager's garbage collector removes
    // the pods, then the owners. The provider does not wait for the servers (awaitReady: false), so neither is
    // gone at once.
    for (const [api, kind, name] of [
      ["/apis/apps/v1", "statefulsets", "billing-primary"],
      ["/apis/apps/v1", "statefulsets", "billing-standby"],
      ["/apis/apps/v1", "deployments", "billing-shipper"],
      ["/apis/batch/v1", "cronjobs", "billing-backup"],
      ["/api/v1", "services", "billing-rw"],
      ["/api/v1", "secrets", "billing-offsite"],
      ["/api/v1", "configmaps", "billing-config"],
    ])
      await waitFor(`${kind}/${name} to go`, async () => {
        const r = await kube.request("GET", `${api}${ns(kind, name)}`);
        return r.status === 404 ? true : undefined;
      });
    await waitFor("the pods to be collected", async () => {
      const pods = await kube.get(`/api/v1${ns("pods")}`);
      return pods.items.length === 0 ? true : undefined;
    });
    for (const claim of ["billing-backups", "data-billing-primary-0"])
      expect((await kube.request("GET", `/api/v1${ns("persistentvolumeclaims", claim)}`)).status, claim).toBe(200);
  }, 600_000);
});
