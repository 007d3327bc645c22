/**
 * Plan types that both plan.ts and offsite.ts use. This module imports neither, so the dependency between
 * them goes one way (plan.ts imports offsite.ts).
 */

export type SecretText = string | { secure: string };

export interface BackupPaths {
  readonly backupRoot: string;
  readonly baseDir: string;
  readonly logicalDir: string;
  readonly walDir: string;
  readonly configDir: string;
  readonly lockDir: string;
  readonly verifyDir: string;
  readonly scriptsDir: string;
  readonly unitsDir: string;
}
