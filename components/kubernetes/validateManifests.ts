/**
 * Checks manifests against the Kubernetes OpenAPI schema, with the models of `kubernetes-models` (and the
 * Prometheus Operator's CRD schema for PrometheusRule)
 * (a devDependency: this module is for tests and CI, and nothing in the component imports it).
 * The schema catches wrong types, missing required fields and values outside an enum; unknown field
 * names it lets through, which the builders' TypeScript types (closed object types) catch instead.
 */
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { CronJob } from "kubernetes-models/batch/v1/CronJob";
import { Job } from "kubernetes-models/batch/v1/Job";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

const MODELS: Record<string, ModelClass> = {
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
  "apps/v1/StatefulSet": StatefulSet,
  "apps/v1/Deployment": Deployment,
  "batch/v1/CronJob": CronJob,
  "batch/v1/Job": Job,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
};

const supportedKinds = () => Object.keys(MODELS);

/** One line per invalid manifest: `<apiVersion>/<kind> "<name>": <what the schema says>`; empty when all are valid. */
export function validateManifests(objects: readonly unknown[]): string[] {
  const problems: string[] = [];
  for (const object of objects) {
    const o = (object ?? {}) as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } };
    const key = `${String(o.apiVersion)}/${String(o.kind)}`;
    const what = `${key} ${JSON.stringify(o.metadata?.name ?? "(unnamed)")}`;
    const Model = MODELS[key];
    if (!Model) {
      problems.push(`${what}: no OpenAPI model for this apiVersion and kind (known: ${supportedKinds().join(", ")})`);
      continue;
    }
    try {
      new Model(object as never).validate();
    } catch (error) {
      problems.push(`${what}: ${(error as Error).message}`);
    }
  }
  return problems;
}
