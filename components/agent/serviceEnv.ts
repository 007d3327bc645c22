import type { ServicePlan, StandbyPlan } from "../plan/plan";
import { renderEnvFile, type Settings } from "./envFile";
import { archiveSettings } from "./env/archive";
import { monitoringSettings } from "./env/monitoring";
import { offsiteSettings } from "./env/offsite";
import { postgresSettings } from "./env/postgres";
import { redisSettings } from "./env/redis";
import { replicationSettings, standbySettings } from "./env/replication";

/** Every setting the agent's verbs read for one service, on the service's host. */
export function serviceSettings(plan: ServicePlan): Settings {
  return {
    ...postgresSettings(plan),
    ...archiveSettings(plan),
    ...offsiteSettings(plan),
    ...redisSettings(plan),
    ...replicationSettings(plan),
    ...monitoringSettings(plan),
  };
}

/** The settings file of a service: drkit.env beside the agent on its host. */
export const serviceEnvPath = (plan: ServicePlan) => `${plan.paths.scriptsDir}/drkit.env`;
export const renderServiceEnv = (plan: ServicePlan) =>
  renderEnvFile(`drkit agent settings of service ${plan.name} on host ${plan.host.name}`, serviceSettings(plan));

/** A standby's settings file, beside the agent on the standby's host. */
/**
 * A standby's agent: beside the primary's on the primary's host; on another host in a folder of its own, so that
 * when the stack swaps the roles of two hosts (after a failover) the primary's files and the standby's never
 * share a path, and removing the old role's files leaves the new role's in place.
 */
export const standbyAgentDir = (plan: ServicePlan, standby: StandbyPlan) =>
  `${standby.rootPrefix}/usr/local/lib/drkit/${plan.name}` +
  (standby.host.name === plan.host.name ? "" : `/standby-${standby.name}`);
export const standbyEnvPath = (plan: ServicePlan, standby: StandbyPlan) =>
  `${standbyAgentDir(plan, standby)}/standby-${standby.name}.env`;
export const renderStandbyEnv = (plan: ServicePlan, standby: StandbyPlan) =>
  renderEnvFile(`drkit agent settings of standby ${standby.name} of ${plan.name}`, standbySettings(plan, standby));
