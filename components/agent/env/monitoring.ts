import type { ServicePlan } from "../../plan/plan";
import type { Settings } from "../envFile";

/** Where the jobs publish their metrics, and how often the collector runs (empty: no metrics). */
export function monitoringSettings(plan: ServicePlan): Settings {
  const m = plan.monitoring;
  return {
    METRICS_DIR: m?.textfileDirectory ?? "",
    METRICS_INTERVAL: m?.collectIntervalSeconds ?? 60,
  };
}
