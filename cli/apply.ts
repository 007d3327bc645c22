import { spawnSync } from "node:child_process";
import { applyServiceLocally } from "../components/host/applyLocal";
import type { DrPlan, ServicePlan } from "../components/plan/plan";
import { applyObjectStoresLocally } from "./objectStores";

export interface ApplyOptions {
  /** After applying, take a base backup and restore-test it. */
  readonly check: boolean;
}

function runJob(service: ServicePlan, script: string, what: string): void {
  console.error(`drkit: ${service.name}: ${what}`);
  const r = spawnSync(script, [], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`${service.name}: ${what} failed (${script} exited ${r.status ?? r.signal})`);
}

/**
 * Applies a stack's rendered files straight to its local hosts, without the Pulumi engine: for
 * sandboxes and machines where the engine is not installed. SSH hosts need `pulumi up`.
 */
export async function applyPlanLocally(plan: DrPlan, options: ApplyOptions): Promise<void> {
  const remote = plan.services.filter((s) => s.host.connection.type !== "local");
  if (remote.length > 0) {
    throw new Error(
      `drkit apply works on local hosts only; ${remote.map((s) => `${s.name} (host ${s.host.name})`).join(", ")} ` +
        `need pulumi up`,
    );
  }
  const storeKeys = applyObjectStoresLocally(plan);
  for (const service of plan.services) {
    console.error(
      `drkit: ${service.name}: ` +
        `applying ${service.rootPrefix ? `the sandbox under ${service.rootPrefix}` : "to this machine"}`,
    );
    await applyServiceLocally(service, storeKeys);
  }
  if (options.check) checkPlanLocally(plan);
}

/** Takes a base backup of each local service and restore-tests it in a scratch instance. */
export function checkPlanLocally(plan: DrPlan): void {
  for (const service of plan.services.filter((s) => s.host.connection.type === "local")) {
    const job = (id: string) => service.jobs.find((j) => j.id === id)!.script;
    runJob(service, job("base"), "taking a base backup");
    runJob(service, job("verify"), "restoring it into a scratch instance and comparing row counts");
    if (service.redis) runJob(service, job("redis"), "taking a Redis/Valkey snapshot (BGSAVE, checked copy)");
    if (service.offsite)
      runJob(service, job("offsite"), "shipping whatever is not yet confirmed off-site (the snapshot included)");
  }
}
