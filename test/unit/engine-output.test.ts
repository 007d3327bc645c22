import { describe, expect, it } from "vitest";
import { engineErrorLines, outputSection, policyViolations } from "../../cli/review/engineOutput";

// What `drkit review` reads from `pulumi preview --diff`'s output (the shape the e2e test gets from the real CLI).
const OUTPUT = `Previewing update (shop):
+ pulumi:pulumi:Stack: (create)
    [urn=urn:pulumi:shop::drkit::pulumi:pulumi:Stack::drkit-shop]
    drkit-dr@v0.1.0 [mandatory]  postgres-backup-retention  (drkit:postgres:PostgresBackup: billing)Local daily \
retention meets the configured minimums.
PostgresBackup "billing": retention.dailyDays is 3 days; the rule's minimum is 7 days
    drkit-dr@v0.1.0 [advisory]  postgres-monitoring-configured  (drkit:postgres:PostgresBackup: billing)A service \
publishes metrics.
PostgresBackup "billing": has no monitoring section
    + drkit:postgres:PostgresBackup: (create)
    drkit-dr@v0.1.0 [mandatory]  postgres-backup-retention  (drkit:postgres:PostgresBackup: billing)Local daily \
retention meets the configured minimums.
PostgresBackup "billing": retention.dailyDays is 3 days; the rule's minimum is 7 days
Resources:
    + 55 to create

Policy Packs run:
    Name                                Version
    drkit-dr|local|/work/main/policies  0.1.0
`;

describe("reading pulumi preview's output", () => {
  it("each policy violation once, with its level, pack, rule, resource and message", () => {
    expect(policyViolations(OUTPUT)).toEqual([
      {
        pack: "drkit-dr@v0.1.0",
        level: "mandatory",
        rule: "postgres-backup-retention",
        resource: "drkit:postgres:PostgresBackup: billing",
        message: `PostgresBackup "billing": retention.dailyDays is 3 days; the rule's minimum is 7 days`,
      },
      {
        pack: "drkit-dr@v0.1.0",
        level: "advisory",
        rule: "postgres-monitoring-configured",
        resource: "drkit:postgres:PostgresBackup: billing",
        message: `PostgresBackup "billing": has no monitoring section`,
      },
    ]);
    expect(policyViolations("Resources:\n    + 3 to create\n")).toEqual([]);
  });

  it("a section is its header and the indented lines after it", () => {
    expect(outputSection(OUTPUT, "Resources:")).toBe("Resources:\n    + 55 to create");
    expect(outputSection(OUTPUT, "Policy Packs run:")).toContain("drkit-dr|local|");
    expect(outputSection(OUTPUT, "Outputs:")).toBeUndefined();
  });

  it("a failed run's error lines, each once; else its last lines", () => {
    const failed = "Command failed with exit code 255\nerror: preview failed\nnoise\nerror: preview failed\n";
    expect(engineErrorLines(failed)).toBe("error: preview failed");
    expect(engineErrorLines("a\nb\nc\n", 2)).toBe("b\nc");
  });
});
