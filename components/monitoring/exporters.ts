import type { ServicePlan } from "../plan/plan";

/** The role postgres_exporter logs in as (peer authentication: the exporter's OS user has the same name). */
const EXPORTER_ROLE = "prometheus";

const dropInDir = (unit: string) => `/etc/systemd/system/${unit}.service.d`;
export const nodeExporterDropInPath = () => `${dropInDir("prometheus-node-exporter")}/drkit-textfile.conf`;
export const postgresExporterDropInPath = (plan: ServicePlan) =>
  `${dropInDir("prometheus-postgres-exporter")}/drkit-${plan.name}.conf`;

/**
 * Debian's node_exporter, reading the textfile directory the jobs write to. ExecStart is replaced (keeping $ARGS
 * from /etc/default/prometheus-node-exporter) because an Environment= line would lose to that file.
 */
export function renderNodeExporterDropIn(plan: ServicePlan): string {
  const directory = plan.monitoring!.textfileDirectory;
  return [
    `# drkit: node_exporter serves the metrics of service ${plan.name}`,
    "[Service]",
    "ExecStart=",
    `ExecStart=/usr/bin/prometheus-node-exporter $ARGS --collector.textfile.directory=${directory}`,
    "",
  ].join("\n");
}

/** The connection string postgres_exporter uses: the local socket, as the exporter role, no password. */
function postgresExporterDsn(plan: ServicePlan): string {
  const pg = plan.postgres;
  return `postgresql:///postgres?host=${pg.socketDirectory}&port=${pg.port}&user=${EXPORTER_ROLE}&sslmode=disable`;
}

/** Debian's postgres_exporter, connected to the service's server (DATA_SOURCE_NAME in the default file is empty). */
export function renderPostgresExporterDropIn(plan: ServicePlan): string {
  return [
    `# drkit: postgres_exporter reads PostgreSQL of service ${plan.name}`,
    "[Service]",
    "ExecStart=",
    `ExecStart=/usr/bin/env DATA_SOURCE_NAME=${postgresExporterDsn(plan)} /usr/bin/prometheus-postgres-exporter $ARGS`,
    "",
  ].join("\n");
}

/** SQL for the exporter's role: it may log in and read the monitoring views (pg_monitor), nothing else. */
export const EXPORTER_ROLE_SQL =
  `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${EXPORTER_ROLE}') THEN ` +
  `CREATE ROLE ${EXPORTER_ROLE} LOGIN; END IF; END $$; GRANT pg_monitor TO ${EXPORTER_ROLE}`;
