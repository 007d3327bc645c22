import type { ServicePlan } from "../../plan/plan";
import type { Settings } from "../envFile";

/** The object stores a service ships to (empty lists without an offsite section). */
export function offsiteSettings(plan: ServicePlan): Settings {
  const o = plan.offsite;
  return {
    OFFSITE_STORES: o?.targets.map((t) => t.store) ?? [],
    OFFSITE_ALIASES: o?.targets.map((t) => t.alias) ?? [],
    OFFSITE_BUCKETS: o?.targets.map((t) => t.bucket) ?? [],
    OFFSITE_CREDENTIALS: o?.targets.map((t) => t.credentialsFile) ?? [],
    // "" for a store whose certificate the system trust store vouches for
    OFFSITE_CA_FILES: o?.targets.map((t) => t.ca?.file ?? "") ?? [],
    // age recipients (public keys) every object is encrypted to before it leaves; "" stores objects as they are
    OFFSITE_AGE_RECIPIENTS: o?.encryption?.recipientsFile ?? "",
    OFFSITE_PREFIX: o?.targets[0]?.prefix ?? "",
    OFFSITE_MARKS: o?.markerDir ?? "",
    MC: o?.mc ?? "",
    RETRY_ATTEMPTS: o?.retryAttempts ?? 3,
    RETRY_FIRST_DELAY: o?.retryInitialDelaySeconds ?? 1,
    // archive-wal queues every archived file for the shipper when there are stores.
    WAL_SHIP: o ? "yes" : "no",
    OFFSITE_PARALLEL: o?.parallel ?? 4,
    OFFSITE_CALL_TIMEOUT: o?.callTimeoutSeconds ?? 30,
    OFFSITE_MAX_BACKLOG_BYTES: o?.maxBacklogBytes ?? 0,
    SHIPPER_POLL_SECONDS: 1,
    SHIPPER_BACKOFF_MAX: 60,
  };
}
