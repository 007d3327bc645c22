import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { buildPlan } from "../components/plan/plan";
import { PostgresBackup } from "../components/postgres/postgresBackup";

const config = new pulumi.Config("drkit");
// Validate everything before any resource is registered: a bad field fails the whole preview.
const plan = buildPlan(
  { hosts: config.getObject("hosts"), services: config.getObject("services") },
  { baseDir: path.resolve(__dirname, "..") },
);

const services = plan.services.map((service) => {
  const key = service.host.connection.type === "ssh" ? service.host.connection.privateKey : undefined;
  return new PostgresBackup(service.name, { plan: service, privateKey: typeof key === "string" ? pulumi.secret(key) : undefined });
});

export const backups = Object.fromEntries(
  services.map((s, i) => [plan.services[i].name, { backupRoot: s.backupRoot, archiveTimeoutSeconds: s.archiveTimeoutSeconds, timers: s.timers, restorePitrScript: s.restorePitrScript }]),
);
