import { alertRuleGroup } from "../monitoring/rules";
import { SETTINGS_FILES, agentCommand } from "./layout";
import { meta, type Meta } from "./manifestTypes";
import { commonLabels } from "./names";
import { VOLUMES, agentEnv, containerSecurityContext, env, mounts, type Container } from "./podSpecs";
import type { ClusterSpec } from "./spec";

/** The port node_exporter serves the metrics on, beside the primary. */
const METRICS_PORT = 9100;
const SIDECAR_RESOURCES = { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } };

/**
 * Beside the primary server: the agent's collector (`collect-metrics run`: archiving as the server sees it, the
 * standbys, the recovery window) and a node_exporter serving every metrics file on the backup volume, the jobs'
 * included. Empty without monitoring.
 */
export function monitoringSidecars(spec: ClusterSpec): Container[] {
  const m = spec.monitoring;
  if (!m) return [];
  return [
    {
      name: "metrics",
      image: spec.image,
      command: agentCommand("collect-metrics", "run"),
      env: env(agentEnv(SETTINGS_FILES.server)),
      resources: SIDECAR_RESOURCES,
      securityContext: containerSecurityContext,
      volumeMounts: mounts(VOLUMES.data, VOLUMES.config, VOLUMES.agent, VOLUMES.socket, VOLUMES.tmp, VOLUMES.backups),
    },
    {
      name: "exporter",
      image: m.exporterImage,
      args: [
        "--collector.disable-defaults",
        "--collector.textfile",
        `--collector.textfile.directory=${m.metricsDir}`,
        `--web.listen-address=:${METRICS_PORT}`,
      ],
      ports: [{ name: "metrics", containerPort: METRICS_PORT }],
      resources: SIDECAR_RESOURCES,
      securityContext: containerSecurityContext,
      volumeMounts: mounts(VOLUMES.backups).map((mount) => ({ ...mount, readOnly: true })),
    },
  ];
}

/** Where a scraper that follows the common annotations finds the metrics. */
export const scrapeAnnotations = (spec: ClusterSpec): Record<string, string> =>
  spec.monitoring ? { "prometheus.io/scrape": "true", "prometheus.io/port": String(METRICS_PORT) } : {};

export interface PrometheusRuleManifest {
  apiVersion: "monitoring.coreos.com/v1";
  kind: "PrometheusRule";
  metadata: Meta & { name: string; namespace: string };
  spec: { groups: Array<ReturnType<typeof alertRuleGroup>> };
}

/** The alerts derived from the cluster's objectives and schedules, as the Prometheus Operator reads them. */
export function buildPrometheusRule(spec: ClusterSpec): PrometheusRuleManifest | undefined {
  const m = spec.monitoring;
  if (!m?.prometheusRule) return undefined;
  const group = alertRuleGroup({
    name: spec.name,
    monitoring: { thresholds: m.thresholds, runbookBaseUrl: m.runbookBaseUrl },
    jobs: [
      { id: "base", calendar: spec.schedule.backup },
      { id: "verify", calendar: spec.schedule.verify },
    ],
    offsite: spec.offsite,
    replication: spec.standbys > 0 ? spec.standbys : undefined,
  });
  return {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: meta(spec, `${spec.name}-drkit-alerts`, commonLabels(spec.name)),
    spec: { groups: [group] },
  };
}
