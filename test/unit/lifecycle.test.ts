import { describe, expect, it } from "vitest";
import {
  DELETE_MARKER_RULE_ID,
  lifecycleRules,
  NONCURRENT_RULE_ID,
  shortestExpiry,
  toMinioIlmJson,
  toS3LifecycleConfiguration,
  validateLifecyclePolicy,
  type LifecyclePolicy,
} from "../../components/objectstore/lifecycle";

const policy = (overrides: Partial<LifecyclePolicy> = {}): LifecyclePolicy => ({
  services: [
    { prefix: "billing/", days: { base: 90, logical: 365, wal: 91, valkey: 14, config: 400 } },
    { prefix: "search/", days: { base: 30, logical: 30, wal: 31 } },
  ],
  transitions: { infrequentAccessDays: 30, archiveDays: 180, archiveStorageClass: "DEEP_ARCHIVE" },
  noncurrentVersions: { days: 30, keep: 3 },
  abortIncompleteMultipartDays: 7,
  ...overrides,
});

describe("lifecycleRules", () => {
  const rules = lifecycleRules(policy());

  it("writes one expiry rule per backup set and prefix, in a stable order", () => {
    const expiries = rules.filter((r) => r.expirationDays !== undefined);
    expect(expiries.map((r) => [r.prefix, r.expirationDays])).toEqual([
      ["billing/base/", 90],
      ["billing/logical/", 365],
      ["billing/wal/", 91],
      ["billing/valkey/", 14],
      ["billing/config/", 400],
      ["search/base/", 30],
      ["search/logical/", 30],
      ["search/wal/", 31],
    ]);
    expect(expiries.every((r) => r.id === r.prefix)).toBe(true);
  });

  it("transitions a set only when it lives past the transition day", () => {
    const byPrefix = Object.fromEntries(rules.map((r) => [r.prefix ?? r.id, r.transitions]));
    expect(byPrefix["billing/base/"]).toEqual([{ days: 30, storageClass: "STANDARD_IA" }]);
    expect(byPrefix["billing/logical/"]).toEqual([
      { days: 30, storageClass: "STANDARD_IA" },
      { days: 180, storageClass: "DEEP_ARCHIVE" },
    ]);
    expect(byPrefix["billing/valkey/"]).toEqual([]);
    // 30 days of retention and a transition on day 30: S3 requires the expiry after the transition.
    expect(byPrefix["search/base/"]).toEqual([]);
    expect(byPrefix["search/wal/"]).toEqual([{ days: 30, storageClass: "STANDARD_IA" }]);
  });

  it("defaults the archive class to GLACIER", () => {
    const r = lifecycleRules(policy({ transitions: { archiveDays: 60 } }));
    expect(r.find((x) => x.prefix === "billing/base/")!.transitions).toEqual([{ days: 60, storageClass: "GLACIER" }]);
  });

  it("ends with a whole-bucket noncurrent/multipart rule and a delete-marker rule of its own", () => {
    const [noncurrent, markers] = rules.slice(-2);
    expect(noncurrent).toEqual({
      id: NONCURRENT_RULE_ID,
      transitions: [],
      noncurrentExpiration: { days: 30, newerNoncurrentVersions: 3 },
      abortIncompleteMultipartDays: 7,
    });
    expect(markers).toEqual({ id: DELETE_MARKER_RULE_ID, expiredObjectDeleteMarker: true, transitions: [] });
    expect(rules.filter((r) => r.expiredObjectDeleteMarker && r.expirationDays !== undefined)).toEqual([]);
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
  });

  it("leaves NewerNoncurrentVersions out when no versions are kept by count", () => {
    const r = lifecycleRules(policy({ noncurrentVersions: { days: 14 } }));
    expect(r.find((x) => x.id === NONCURRENT_RULE_ID)!.noncurrentExpiration).toEqual({ days: 14 });
  });
});

describe("toS3LifecycleConfiguration", () => {
  const { Rules } = toS3LifecycleConfiguration(lifecycleRules(policy()));

  it("renders the SDK's rule shape with filters, expirations and transitions", () => {
    expect(Rules[1]).toEqual({
      ID: "billing/logical/",
      Status: "Enabled",
      Filter: { Prefix: "billing/logical/" },
      Expiration: { Days: 365 },
      Transitions: [
        { Days: 30, StorageClass: "STANDARD_IA" },
        { Days: 180, StorageClass: "DEEP_ARCHIVE" },
      ],
    });
    expect(Rules[3]).toEqual({
      ID: "billing/valkey/",
      Status: "Enabled",
      Filter: { Prefix: "billing/valkey/" },
      Expiration: { Days: 14 },
    });
  });

  it(
    "puts noncurrent expiry and multipart abort on the whole bucket, and the delete marker alone in its " +
      "Expiration",
    () => {
      expect(Rules.slice(-2)).toEqual([
        {
          ID: NONCURRENT_RULE_ID,
          Status: "Enabled",
          Filter: { Prefix: "" },
          NoncurrentVersionExpiration: { NoncurrentDays: 30, NewerNoncurrentVersions: 3 },
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
        },
        {
          ID: DELETE_MARKER_RULE_ID,
          Status: "Enabled",
          Filter: { Prefix: "" },
          Expiration: { ExpiredObjectDeleteMarker: true },
        },
      ]);
    },
  );
});

describe("toMinioIlmJson", () => {
  const parsed = JSON.parse(toMinioIlmJson(lifecycleRules(policy())));

  it("keeps the S3 rules without transitions, multipart aborts and empty filters", () => {
    expect(parsed.Rules).toHaveLength(10);
    expect(parsed.Rules[1]).toEqual({
      ID: "billing/logical/",
      Status: "Enabled",
      Filter: { Prefix: "billing/logical/" },
      Expiration: { Days: 365 },
    });
    expect(parsed.Rules[8]).toEqual({
      ID: NONCURRENT_RULE_ID,
      Status: "Enabled",
      NoncurrentVersionExpiration: { NoncurrentDays: 30, NewerNoncurrentVersions: 3 },
    });
    expect(parsed.Rules[9]).toEqual({
      ID: DELETE_MARKER_RULE_ID,
      Status: "Enabled",
      Expiration: { ExpiredObjectDeleteMarker: true },
    });
    expect(JSON.stringify(parsed)).not.toMatch(/Transition|AbortIncompleteMultipartUpload/);
  });
});

describe("shortestExpiry", () => {
  it("names the set that expires first", () => {
    expect(shortestExpiry(policy())).toEqual({ days: 14, field: "services[0].days.valkey" });
  });
});

describe("validateLifecyclePolicy", () => {
  const errorsOf = (p: Partial<LifecyclePolicy>) => validateLifecyclePolicy(policy(p), "lifecycle");
  const withBilling = (days: Partial<LifecyclePolicy["services"][number]["days"]>) =>
    errorsOf({
      services: [{ prefix: "billing/", days: { base: 7, logical: 30, wal: 8, ...days } }],
      transitions: undefined,
    });

  it("accepts a sound policy", () => {
    expect(validateLifecyclePolicy(policy(), "lifecycle")).toEqual([]);
  });

  it("refuses WAL kept no longer than base backups", () => {
    expect(withBilling({ wal: 7 })).toEqual([
      "lifecycle.services[0].days.wal: 7 must be greater than days.base (7): PITR from the oldest base backup " +
        "needs the WAL uploaded before it finished",
    ]);
    expect(withBilling({ wal: 3 })).toHaveLength(1);
    expect(withBilling({ wal: 8 })).toEqual([]);
  });

  it("refuses days that are not positive whole numbers", () => {
    expect(withBilling({ base: 0, logical: 1.5, valkey: -1, config: "7" as unknown as number })).toEqual([
      "lifecycle.services[0].days.base: 0 must be a positive whole number of days",
      "lifecycle.services[0].days.logical: 1.5 must be a positive whole number of days",
      "lifecycle.services[0].days.valkey: -1 must be a positive whole number of days",
      'lifecycle.services[0].days.config: "7" must be a positive whole number of days',
    ]);
    expect(errorsOf({ noncurrentVersions: { days: 0 }, abortIncompleteMultipartDays: 2.5 })).toEqual([
      "lifecycle.noncurrentVersions.days: 0 must be a positive whole number of days",
      "lifecycle.abortIncompleteMultipartDays: 2.5 must be a positive whole number of days",
    ]);
    expect(errorsOf({ transitions: { infrequentAccessDays: 30.5 } })).toEqual([
      "lifecycle.transitions.infrequentAccessDays: 30.5 must be a positive whole number of days",
    ]);
  });

  it("refuses a transition on or after the expiry of every set", () => {
    const services = [{ prefix: "a/", days: { base: 30, logical: 60, wal: 31 } }];
    expect(errorsOf({ services, transitions: { infrequentAccessDays: 60 } })).toEqual([
      "lifecycle.transitions.infrequentAccessDays: 60 is not before the expiry of any backup set (the longest is " +
        "60 days); retention is shorter than the transition",
    ]);
    expect(errorsOf({ services, transitions: { infrequentAccessDays: 30, archiveDays: 90 } })).toEqual([
      "lifecycle.transitions.archiveDays: 90 is not before the expiry of any backup set (the longest is 60 days); " +
        "retention is shorter than the transition",
    ]);
    expect(errorsOf({ services, transitions: { infrequentAccessDays: 59 } })).toEqual([]);
  });

  it("refuses infrequent access before the S3 minimum of 30 days", () => {
    expect(errorsOf({ transitions: { infrequentAccessDays: 29 } })).toEqual([
      "lifecycle.transitions.infrequentAccessDays: 29 must be at least 30 (the S3 minimum for STANDARD_IA)",
    ]);
  });

  it("refuses an archive transition not later than infrequent access", () => {
    expect(errorsOf({ transitions: { infrequentAccessDays: 60, archiveDays: 60 } })).toEqual([
      "lifecycle.transitions.archiveDays: 60 must be later than infrequentAccessDays (60)",
    ]);
    expect(errorsOf({ transitions: { infrequentAccessDays: 60, archiveDays: 45 } })).toHaveLength(1);
    expect(errorsOf({ transitions: { archiveStorageClass: "STANDARD" as "GLACIER" } })).toEqual([
      'lifecycle.transitions.archiveStorageClass: "STANDARD" must be GLACIER, DEEP_ARCHIVE or GLACIER_IR',
    ]);
  });

  it("refuses duplicate and overlapping prefixes", () => {
    const days = { base: 7, logical: 7, wal: 8 };
    expect(
      errorsOf({
        services: [
          { prefix: "billing/", days },
          { prefix: "billing/", days },
        ],
        transitions: undefined,
      }),
    ).toEqual([
      'lifecycle.services[1].prefix: "billing/" duplicates services[0].prefix; each service needs its own prefix',
    ]);
    expect(
      errorsOf({
        services: [
          { prefix: "billing/", days },
          { prefix: "billing/eu/", days },
        ],
        transitions: undefined,
      }),
    ).toEqual([
      'lifecycle.services[1].prefix: "billing/eu/" overlaps services[0].prefix "billing/"; one service\'s rules ' +
        "would expire the other's objects",
    ]);
    expect(
      errorsOf({
        services: [
          { prefix: "", days },
          { prefix: "search/", days },
        ],
        transitions: undefined,
      }),
    ).toHaveLength(1);
    expect(
      errorsOf({
        services: [
          { prefix: "billing/", days },
          { prefix: "billing-eu/", days },
        ],
        transitions: undefined,
      }),
    ).toEqual([]);
  });

  it("refuses prefixes that are not folder paths", () => {
    const days = { base: 7, logical: 7, wal: 8 };
    const errors = errorsOf({
      services: [
        { prefix: "billing", days },
        { prefix: "/search/", days },
      ],
      transitions: undefined,
    });
    expect(errors).toEqual([
      `lifecycle.services[0].prefix: "billing" must be "" or folder names (letters, digits, '.', '_', '-') ` +
        `each ending in '/'`,
      `lifecycle.services[1].prefix: "/search/" must be "" or folder names (letters, digits, '.', '_', '-') ` +
        `each ending in '/'`,
    ]);
  });

  it("refuses a policy without services and a kept-version count S3 does not allow", () => {
    expect(errorsOf({ services: [] })).toEqual(["lifecycle.services: [] must list at least one service"]);
    expect(errorsOf({ noncurrentVersions: { days: 30, keep: 101 } })).toEqual([
      "lifecycle.noncurrentVersions.keep: 101 must be a whole number from 1 to 100",
    ]);
    expect(errorsOf({ noncurrentVersions: { days: 30, keep: 0 } })).toHaveLength(1);
  });

  it("reports every problem at once", () => {
    const errors = validateLifecyclePolicy(
      {
        services: [{ prefix: "x/", days: { base: 10, logical: 0, wal: 10 } }],
        transitions: { infrequentAccessDays: 10 },
        noncurrentVersions: { days: -1 },
        abortIncompleteMultipartDays: 0,
      },
      "p",
    );
    expect(errors.map((e) => e.split(":")[0])).toEqual([
      "p.services[0].days.logical",
      "p.services[0].days.wal",
      "p.transitions.infrequentAccessDays",
      "p.transitions.infrequentAccessDays",
      "p.noncurrentVersions.days",
      "p.abortIncompleteMultipartDays",
    ]);
  });
});
