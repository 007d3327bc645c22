import type { ServicePlan } from "../../plan/plan";
import type { Settings } from "../envFile";

/**
 * The archive epoch: the owner record of the current local archive (claim-archive writes it, archive-wal reads
 * it), and where every older epoch's archive is, newest first, for restores (lib.sh's use_archive_epoch).
 */
export function archiveSettings(plan: ServicePlan): Settings {
  const older = plan.archive.older;
  return {
    ARCHIVE_EPOCH: plan.archive.epoch,
    ARCHIVE_RECORD: plan.archive.current.record,
    ARCHIVE_OLDER_EPOCHS: older.map((e) => String(e.epoch)),
    ARCHIVE_OLDER_BASE_DIRS: older.map((e) => e.baseDir),
    ARCHIVE_OLDER_WAL_DIRS: older.map((e) => e.walDir),
    ARCHIVE_OLDER_RECORDS: older.map((e) => e.record),
    ARCHIVE_OLDER_PREFIXES: older.map((e) => (plan.offsite ? e.prefix : "")),
    ARCHIVE_OLDER_MARKS: older.map((e) => (plan.offsite ? e.markerDir : "")),
  };
}
