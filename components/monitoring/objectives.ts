import type { ServicePlan } from "../plan/plan";

/** Where the objectives file goes: beside the jobs' metrics in the textfile directory. */
export const objectivesPath = (plan: ServicePlan) =>
  `${plan.monitoring!.textfileDirectory}/drkit_${plan.name}_objectives.prom`;

/**
 * The service's objectives as metrics, placed once at provisioning, so that dashboards and rules can relate
 * what is measured to what was promised.
 */
export function renderObjectives(plan: ServicePlan): string {
  const m = plan.monitoring;
  if (!m) throw new Error(`service ${plan.name} has no monitoring section`);
  const service = `service="${plan.name}"`;
  const lines: string[] = [];
  const metric = (name: string, help: string, values: ReadonlyArray<readonly [string, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, value] of values) lines.push(`${name}{${service}${labels}} ${value}`);
  };
  metric("drkit_objective_rpo_seconds", "The recovery point objective.", [["", plan.rpoSeconds]]);
  metric("drkit_objective_rto_seconds", "The recovery time objective.", [["", plan.rtoSeconds]]);
  metric("drkit_objective_retention_seconds", "The recovery window local retention keeps.", [
    ["", m.thresholds.retentionSeconds],
  ]);
  metric(
    "drkit_schedule_interval_seconds",
    "The longest interval between two scheduled runs of a job.",
    Object.entries(m.thresholds.intervalSeconds).map(([job, s]) => [`,drkit_job="${job}"`, s] as const),
  );
  metric(
    "drkit_schedule_max_age_seconds",
    "How old a scheduled job's last success may be before it alerts.",
    Object.entries(m.thresholds.maxAgeSeconds).map(([job, s]) => [`,drkit_job="${job}"`, s] as const),
  );
  return `${lines.join("\n")}\n`;
}
