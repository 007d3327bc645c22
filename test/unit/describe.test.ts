import { describe, expect, it } from "vitest";
import { describeServicePlan, formatTable } from "../../components/plan/describe";
import { buildPlan } from "../../components/plan/plan";

describe("drkit plan: objective -> setting", () => {
  const plan = buildPlan(
    {
      hosts: { h: { connection: { type: "local", rootPrefix: "/tmp/x" } } },
      services: {
        billing: {
          host: "h",
          rpo: "2m",
          postgres: { databases: ["b"] },
          standbys: [{ name: "s1", host: "h", port: 5433, synchronous: true }],
          redis: {},
        },
      },
    },
    { baseDir: "/tmp" },
  ).services[0];
  const text = formatTable(describeServicePlan(plan));

  it("shows each objective with the setting derived from it", () => {
    expect(text).toMatch(/RPO 2m\s+archive_timeout = 96s/);
    expect(text).toMatch(/synchronous: s1\s+synchronous_standby_names = 'FIRST 1 \("s1"\)'/);
    expect(text).toMatch(/a dead standby cannot fill the disk\s+max_slot_wal_keep_size = 2048MB/);
    expect(text).toMatch(/Redis\/Valkey snapshots\s+OnCalendar=\*-\*-\* \*:00:00, kept 7 days/);
  });
});
