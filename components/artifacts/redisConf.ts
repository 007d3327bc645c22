import { redisPersistence } from "../agent/env/redis";
import type { ServicePlan } from "../plan/plan";

/** A drop-in the server's main config includes last; `save ""` first so ours replace its save points. */
export function renderRedisDropIn(plan: ServicePlan): string {
  const r = plan.redis;
  if (!r) throw new Error(`service ${plan.name} has no redis section`);
  const saves = r.persistence.savePoints.map(([s, c]) => `save ${s} ${c}`).join("\n");
  const lines = redisPersistence(r).map(([k, v]) => (k === "save" ? `save ""\n${saves}` : `${k} ${v}`));
  return `# Redis/Valkey persistence for ${plan.name}, rendered by drkit. ${r.configFile} must include this file last.
${lines.join("\n")}
`;
}
