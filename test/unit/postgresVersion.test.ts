import { describe, expect, it } from "vitest";
import { archiveSettings } from "../../components/artifacts/postgresConf";
import { deriveCompression } from "../../components/plan/derive";
import {
  postgresFeatures,
  postgresVersionProblem,
  SUPPORTED_POSTGRES_VERSIONS,
} from "../../components/plan/postgresVersion";
import { postgresSettings } from "../../components/agent/env/postgres";
import { ConfigError } from "../../components/plan/errors";
import { buildPlan } from "../../components/plan/plan";

describe("PostgreSQL major versions", () => {
  it("14 to 18 are supported; 13 and older are refused as past their end of life; others are named", () => {
    expect(SUPPORTED_POSTGRES_VERSIONS).toEqual([14, 15, 16, 17, 18]);
    for (const v of SUPPORTED_POSTGRES_VERSIONS) expect(postgresVersionProblem(v)).toBeUndefined();
    expect(postgresVersionProblem(13)).toBe("is past its end of life (November 2025); drkit supports PostgreSQL 14-18");
    expect(postgresVersionProblem(11)).toMatch(/^is past its end of life \(November 2023\)/);
    expect(postgresVersionProblem(9)).toBe("must be a PostgreSQL major version drkit supports (14-18)");
    expect(postgresVersionProblem(19)).toBe("must be a PostgreSQL major version drkit supports (14-18)");
    expect(postgresVersionProblem(16.1)).toBe("must be a whole number");
  });

  it("each feature starts at the major version that brought it", () => {
    const since = (feature: keyof ReturnType<typeof postgresFeatures>) =>
      [14, 15, 16, 17, 18].find((v) => postgresFeatures(v)[feature] === true);
    expect(since("archiveLibrary")).toBe(15);
    expect(since("serverZstd")).toBe(15);
    expect(since("compressSpec")).toBe(15);
    expect(since("dumpZstd")).toBe(16);
    expect(since("incrementalBackups")).toBe(17);
  });

  it("compression follows the version: gzip in the old syntax on 14, server zstd from 15, zstd dumps from 16", () => {
    expect(deriveCompression("auto", 14)).toEqual({
      method: "gzip",
      baseBackupArgs: ["--gzip", "--compress=6"],
      dumpArgs: ["--compress=6"],
    });
    expect(deriveCompression("auto", 15).dumpArgs).toEqual(["--compress=6"]);
    expect(deriveCompression("auto", 18)).toEqual({
      method: "zstd",
      baseBackupArgs: ["--compress=server-zstd:level=1"],
      dumpArgs: ["--compress=zstd:3"],
    });
  });

  it("archive_library is cleared only where it exists", () => {
    const plan = (version: number) =>
      buildPlan(
        {
          hosts: { h: { connection: { type: "local" } } },
          services: { s: { host: "h", postgres: { version, databases: ["app"] } } },
        },
        { baseDir: "/srv/project" },
      ).services[0];
    expect(archiveSettings(plan(14)).map((s) => s.name)).not.toContain("archive_library");
    for (const v of [15, 16, 17, 18]) expect(archiveSettings(plan(v)).map((s) => s.name)).toContain("archive_library");
  });

  describe("incremental base backups", () => {
    const plan = (version: number, incremental?: { fullEvery: string }) =>
      buildPlan(
        {
          hosts: { h: { connection: { type: "local" } } },
          services: {
            s: { host: "h", postgres: { version, databases: ["app"] }, ...(incremental && { incremental }) },
          },
        },
        { baseDir: "/srv/project" },
      ).services[0];
    const settingsOf = (p: ReturnType<typeof plan>) => Object.fromEntries(archiveSettings(p).map((s) => [s.name, s]));

    it("render summarize_wal and a wal_summary_keep_time (minutes) that outlives a chain, both on a reload", () => {
      const weekly = settingsOf(plan(17, { fullEvery: "7d" }));
      expect(weekly.summarize_wal).toEqual({ name: "summarize_wal", value: "on", context: "sighup" });
      // never below PostgreSQL's default of 10 days
      expect(weekly.wal_summary_keep_time).toEqual({
        name: "wal_summary_keep_time",
        value: "14400",
        context: "sighup",
      });
      // fullEvery plus a day beyond that
      expect(settingsOf(plan(18, { fullEvery: "30d" })).wal_summary_keep_time.value).toBe(String(31 * 24 * 60));
      expect(settingsOf(plan(17))).not.toHaveProperty("summarize_wal");
    });

    it("give backup-base the full-backup interval in seconds, 0 when off", () => {
      expect(postgresSettings(plan(17, { fullEvery: "7d" })).INCREMENTAL_FULL_EVERY).toBe(604800);
      expect(postgresSettings(plan(17)).INCREMENTAL_FULL_EVERY).toBe(0);
    });

    it("are refused before 17, and fullEvery must be 1d to 90d, naming the field", () => {
      const problems = (version: number, fullEvery: string) => {
        try {
          plan(version, { fullEvery });
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
          return [...(error as ConfigError).problems];
        }
        return [];
      };
      expect(problems(16, "7d")).toEqual([
        "services.s.incremental: needs PostgreSQL 17 or later (postgres.version is 16): incremental backups read " +
          "the WAL summaries that 17 added",
      ]);
      expect(problems(17, "12h")).toEqual([
        expect.stringMatching(/^services\.s\.incremental\.fullEvery: "12h" must be at least 1d/),
      ]);
      expect(problems(17, "91d")).toEqual([
        expect.stringMatching(/^services\.s\.incremental\.fullEvery: "91d" must be at most/),
      ]);
      expect(problems(17, "7d")).toEqual([]);
    });
  });
});
