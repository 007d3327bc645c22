import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { objectStores } from "../components/objectstore/objectStores";
import { buildPlan } from "../components/plan/plan";
import { PostgresBackup } from "../components/postgres/postgresBackup";
import { RedisBackup } from "../components/redis/redisBackup";

const config = new pulumi.Config("drkit");
// Validate everything before any resource is registered: a bad field fails the whole preview.
const plan = buildPlan(
  {
    hosts: config.getObject("hosts"),
    services: config.getObject("services"),
    objectStores: config.getObject("objectStores"),
  },
  { baseDir: path.resolve(__dirname, "..") },
);

const stores = objectStores(plan);

const services = plan.services.map((service) => {
  const key = service.host.connection.type === "ssh" ? service.host.connection.privateKey : undefined;
  const privateKey = typeof key === "string" ? pulumi.secret(key) : undefined;
  const targets = service.offsite?.targets.map((t) => [t.store, stores.get(t.store)!] as const) ?? [];
  const offsite = service.offsite
    ? { keys: Object.fromEntries(targets.map(([name, s]) => [name, s.keys])), stores: targets.map(([, s]) => s.ready) }
    : undefined;
  const postgres = new PostgresBackup(service.name, { plan: service, privateKey, offsite });
  // The Redis part shares the backup root (its valkey/ directory) that PostgresBackup creates.
  if (service.redis) new RedisBackup(`${service.name}-redis`, { plan: service, privateKey }, { dependsOn: [postgres] });
  return postgres;
});

export const backups = Object.fromEntries(
  services.map((s, i) => [
    plan.services[i].name,
    {
      backupRoot: s.backupRoot,
      archiveTimeoutSeconds: s.archiveTimeoutSeconds,
      timers: s.timers,
      restorePitrScript: s.restorePitrScript,
    },
  ]),
);
