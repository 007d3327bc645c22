import { describe, expect, it } from "vitest";
import { archiveSettings } from "../../components/artifacts/postgresConf";
import { deriveCompression } from "../../components/plan/derive";
import {
  postgresFeatures,
  postgresVersionProblem,
  SUPPORTED_POSTGRES_VERSIONS,
} from "../../components/plan/postgresVersion";
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
});
