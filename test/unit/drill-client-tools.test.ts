import { describe, expect, it } from "vitest";
import { missingClientTools, type VersionProbe } from "../../drill/clientTools";

describe("missingClientTools", () => {
  const probe =
    (versions: Record<string, number>): VersionProbe =>
    (program) =>
      versions[program];

  it("is undefined when every tool is of the server's major", () => {
    const p = probe({ "/b/pg_basebackup": 17, "/b/pg_waldump": 17 });
    expect(missingClientTools("/b", 17, ["pg_basebackup", "pg_waldump"], p)).toBeUndefined();
    expect(missingClientTools("/b", 17, [], p)).toBeUndefined();
  });

  it("names each tool that is missing or of another major, and the bin directory", () => {
    const p = probe({ "/b/pg_basebackup": 15, "/b/pg_rewind": 17 });
    expect(missingClientTools("/b", 17, ["pg_basebackup", "pg_waldump", "pg_rewind"], p)).toBe(
      "needs pg_basebackup, pg_waldump, pg_rewind of PostgreSQL 17 in /b " +
        "(pg_basebackup is PostgreSQL 15's, pg_waldump is missing)",
    );
  });

  it("takes a newer client as another major too: backup-base refuses it", () => {
    expect(missingClientTools("/b", 14, ["pg_basebackup"], probe({ "/b/pg_basebackup": 15 }))).toContain(
      "pg_basebackup is PostgreSQL 15's",
    );
  });
});
