import * as pulumi from "@pulumi/pulumi";
import { objectStores } from "./objectstore/objectStores";
import type { DrPlan } from "./plan/plan";
import { PostgresBackup } from "./postgres/postgresBackup";
import { RedisBackup } from "./redis/redisBackup";

/** Every resource of a stack's plan: its object stores first, then each service's backup (and Redis) parts. */
export function drStack(plan: DrPlan): PostgresBackup[] {
  const stores = objectStores(plan);
  return plan.services.map((service) => {
    const key = service.host.connection.type === "ssh" ? service.host.connection.privateKey : undefined;
    const privateKey = typeof key === "string" ? pulumi.secret(key) : undefined;
    const targets = service.offsite?.targets.map((t) => [t.store, stores.get(t.store)!] as const) ?? [];
    const offsite = service.offsite
      ? {
          keys: Object.fromEntries(targets.map(([name, s]) => [name, s.keys])),
          stores: targets.map(([, s]) => s.ready),
        }
      : undefined;
    const postgres = new PostgresBackup(service.name, { plan: service, privateKey, offsite });
    // The Redis part shares the backup root (its valkey/ directory) that PostgresBackup creates.
    if (service.redis)
      new RedisBackup(`${service.name}-redis`, { plan: service, privateKey }, { dependsOn: [postgres] });
    return postgres;
  });
}
