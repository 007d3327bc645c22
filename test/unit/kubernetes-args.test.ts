import { describe, expect, it } from "vitest";
import type { PostgresClusterArgs } from "../../components/kubernetes/args";
import { cronProblem } from "../../components/kubernetes/cron";
import { parseQuantity } from "../../components/kubernetes/formats";
import { mcHostUrl } from "../../components/objectstore/mcHost";
import { resolveCluster } from "../../components/kubernetes/spec";
import { ClusterArgsError, clusterArgProblems } from "../../components/kubernetes/validation";
import { deriveArchiveTimeout } from "../../components/plan/derive";
import { serverTlsPems } from "../helpers/testCa";

const valid: PostgresClusterArgs = {
  name: "billing",
  namespace: "payments",
  databases: ["billing"],
  rpoSeconds: 300,
  storage: { size: "10Gi" },
  backupStorage: { size: "50Gi" },
};
const problems = (patch: object) => clusterArgProblems({ ...valid, ...patch } as PostgresClusterArgs);

describe("argument validation", () => {
  it("accepts the minimal arguments and fills in the defaults", () => {
    expect(clusterArgProblems(valid)).toEqual([]);
    const spec = resolveCluster(valid);
    expect(spec).toMatchObject({
      image: "postgres:15",
      postgresVersion: 15,
      rtoSeconds: 1800,
      standbys: 0,
      synchronous: false,
      schedule: { backup: "0 2 * * *", verify: "0 5 * * *" },
      backupsKept: 7,
      backupStorage: { size: "50Gi", accessMode: "ReadWriteOnce" },
    });
    expect(resolveCluster({ ...valid, postgresVersion: 18 }).image).toBe("postgres:18");
  });

  it.each([
    [
      { name: "Billing" },
      `name: "Billing" must be a DNS-1123 label starting with a letter: lowercase letters, digits and '-', ` +
        `starting and ending with a letter or digit`,
    ],
    [
      { name: "1billing" },
      `name: "1billing" must be a DNS-1123 label starting with a letter: lowercase letters, digits and '-', ` +
        `starting and ending with a letter or digit`,
    ],
    [
      { name: "b".repeat(45) },
      `name: "${"b".repeat(45)}" must be at most 44 characters, so that "${"b".repeat(45)}-standby" ` +
        `fits the StatefulSet limit of 52`,
    ],
    [
      { namespace: "team_db" },
      `namespace: "team_db" must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with ` +
        `a letter or digit, at most 63 characters`,
    ],
    [
      { postgresVersion: 13 },
      "postgresVersion: 13 is past its end of life (November 2025); drkit supports PostgreSQL 14-18",
    ],
    [{ postgresVersion: 19 }, "postgresVersion: 19 must be a PostgreSQL major version drkit supports (14-18)"],
    [{ postgresVersion: 15.5 }, "postgresVersion: 15.5 must be a whole number"],
    [{ rpoSeconds: 604801 }, "rpoSeconds: 604801 must be at most 604800"],
    [{ rtoSeconds: 700000 }, "rtoSeconds: 700000 must be at most 604800"],
    [{ image: "postgres:16.2" }, `image: "postgres:16.2" is PostgreSQL 16 but postgresVersion is 15`],
    [
      { image: "registry local/postgres" },
      `image: "registry local/postgres" must be an image reference without spaces`,
    ],
    [{ databases: [] }, "databases: [] must list at least one database"],
    [
      { databases: ["Billing"] },
      `databases[0]: "Billing" must be a database name: lowercase letters, digits and '_', not starting with a ` +
        `digit, at most 40 characters`,
    ],
    [
      { databases: ["a", "template1"] },
      `databases[1]: "template1" is a PostgreSQL template database, not one of yours`,
    ],
    [{ databases: ["a", "a"] }, `databases[1]: "a" is listed twice`],
    [{ rpoSeconds: 0 }, "rpoSeconds: 0 must be at least 1"],
    [{ rpoSeconds: 2.5 }, "rpoSeconds: 2.5 must be a whole number"],
    [{ rtoSeconds: 30 }, "rtoSeconds: 30 must be at least 60"],
    [{ standbys: 9 }, "standbys: 9 must be at most 8"],
    [{ standbys: -1 }, "standbys: -1 must be at least 0"],
    [{ synchronous: true }, "synchronous: true needs at least 1 standby"],
    [{ storage: { size: "10GB" } }, `storage.size: "10GB" must be a quantity such as "10Gi"`],
    [{ storage: { size: "512Mi" } }, `storage.size: "512Mi" must be at least 1Gi`],
    [
      { storage: { size: "10Gi", storageClassName: "Fast_SSD" } },
      `storage.storageClassName: "Fast_SSD" must be a StorageClass name: lowercase letters, digits and '-', ` +
        `starting and ending with a letter or digit, dot-separated`,
    ],
    [{ backupStorage: undefined }, `backupStorage.size: (missing) must be a quantity such as "50Gi"`],
    [
      { backupStorage: { size: "50Gi", accessMode: "ReadOnlyMany" } },
      `backupStorage.accessMode: "ReadOnlyMany" must be "ReadWriteOnce" or "ReadWriteMany"`,
    ],
    [
      { schedule: { backup: "61 * * * *" } },
      `schedule.backup: "61 * * * *" must be a 5-field cron expression (minute 61 is outside 0-59)`,
    ],
    [
      { schedule: { verify: "@daily" } },
      `schedule.verify: "@daily" must be a 5-field cron expression (it has 1 fields)`,
    ],
    [{ retention: { backups: 0 } }, "retention.backups: 0 must be at least 1"],
    [{ awaitReady: "no" }, `awaitReady: "no" must be true or false`],
    [{ resources: { requests: { cpu: "fast" } } }, `resources.requests.cpu: "fast" must be a quantity such as "500m"`],
    [
      { resources: { requests: { memory: "2Gi" }, limits: { memory: "1Gi" } } },
      `resources.limits.memory: "1Gi" must be at least resources.requests.memory ("2Gi")`,
    ],
    [
      { restore: { fromBackup: "yesterday" } },
      `restore.fromBackup: "yesterday" must be "latest" or a backup id such as "20240115T020000Z"`,
    ],
    [
      { restore: { fromBackup: "latest", targetTime: "2024-01-15 14:30" } },
      `restore.targetTime: "2024-01-15 14:30" must be an ISO 8601 time with a zone, such as "2024-01-15T14:30:00Z"`,
    ],
    [
      { restore: { fromBackup: "latest", targetTime: "2024-01-15T14:30:00" } },
      `restore.targetTime: "2024-01-15T14:30:00" must be an ISO 8601 time with a zone, such as "2024-01-15T14:30:00Z"`,
    ],
    [
      { restore: { fromBackup: "20240115T020000Z", targetTime: "2024-01-15T01:00:00Z" } },
      `restore.targetTime: "2024-01-15T01:00:00Z" is not after backup 20240115T020000Z started`,
    ],
  ])("%j -> %s", (patch, line) => {
    expect(problems(patch)).toEqual([line]);
  });

  it("reports all problems at once in argument order, and resolveCluster throws them as one error", () => {
    const args = { ...valid, name: "Billing", standbys: 9, synchronous: true, backupStorage: { size: "lots" } };
    expect(problems(args)).toEqual([
      `name: "Billing" must be a DNS-1123 label starting with a letter: lowercase letters, digits and '-', ` +
        `starting and ending with a letter or digit`,
      "standbys: 9 must be at most 8",
      `backupStorage.size: "lots" must be a quantity such as "50Gi"`,
    ]);
    let error: unknown;
    try {
      resolveCluster(args as PostgresClusterArgs);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ClusterArgsError);
    expect((error as ClusterArgsError).problems).toHaveLength(3);
    expect((error as Error).message.split("\n").slice(1)).toEqual((error as ClusterArgsError).problems);
  });

  it("lets outputs of other resources through unchecked where only they can be", () => {
    const output = { apply: () => undefined } as unknown as string; // stands in for a pulumi.Output
    expect(problems({ image: output, storage: { size: "10Gi", storageClassName: output } })).toEqual([]);
  });
});

describe("off-site shipping arguments", () => {
  const offsite = {
    endpoint: "https://s3.example.com:9000",
    bucket: "dr-copies",
    accessKey: "AKIAOFFSITE",
    secretKey: "wJalr/XUtn+FEMI=K7MDENG",
  };
  const offsiteProblems = (patch: object) => problems({ offsite: { ...offsite, ...patch } });

  it("accepts valid arguments and fills in the prefix and the mc image, keeping the keys out of the spec", () => {
    expect(problems({ offsite })).toEqual([]);
    const spec = resolveCluster({ ...valid, offsite });
    expect(spec.offsite).toEqual({
      endpoint: "https://s3.example.com:9000",
      bucket: "dr-copies",
      prefix: "billing/",
      mcImage: "minio/mc:RELEASE.2025-08-13T08-35-41Z",
      target: "offsite/dr-copies/billing/",
    });
    expect(JSON.stringify(spec)).not.toContain("AKIAOFFSITE");
    expect(JSON.stringify(spec)).not.toContain("wJalr");
    expect(resolveCluster({ ...valid, offsite: { ...offsite, prefix: "prod/eu-1/billing/" } }).offsite?.target).toBe(
      "offsite/dr-copies/prod/eu-1/billing/",
    );
    expect(resolveCluster(valid).offsite).toBeUndefined();
    for (const endpoint of ["http://minio:9000", "https://s3.eu-west-1.amazonaws.com", "http://10.0.0.5:9000/"])
      expect(offsiteProblems({ endpoint })).toEqual([]);
    for (const bucket of ["abc", "dr.copies-2", "a".repeat(63)]) expect(offsiteProblems({ bucket })).toEqual([]);
  });

  const ENDPOINT = 'must be an http(s) URL of a host and optional port, such as "https://minio.example.com:9000"';
  const BUCKET =
    "must be a bucket name: 3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or " +
    "digit, without '..', not an IP address";
  const PREFIX =
    `must be folder names of letters, digits, '.', '_' and '-', each ending in '/', ` +
    `such as "billing/" (at most 256 characters)`;
  it.each([
    [{ endpoint: "s3.example.com" }, `offsite.endpoint: "s3.example.com" ${ENDPOINT}`],
    [{ endpoint: "ftp://s3.example.com" }, `offsite.endpoint: "ftp://s3.example.com" ${ENDPOINT}`],
    [{ endpoint: "https://s3.example.com/bucket" }, `offsite.endpoint: "https://s3.example.com/bucket" ${ENDPOINT}`],
    [
      { endpoint: "https://key:secret@s3.example.com" },
      `offsite.endpoint: "https://key:secret@s3.example.com" ${ENDPOINT}`,
    ],
    [{ endpoint: "https://s3.example.com:99999" }, `offsite.endpoint: "https://s3.example.com:99999" ${ENDPOINT}`],
    [{ endpoint: "https://s3.example.com?x=1" }, `offsite.endpoint: "https://s3.example.com?x=1" ${ENDPOINT}`],
    [{ endpoint: undefined }, `offsite.endpoint: (missing) ${ENDPOINT}`],
    [{ bucket: "ab" }, `offsite.bucket: "ab" ${BUCKET}`],
    [{ bucket: "a".repeat(64) }, `offsite.bucket: "${"a".repeat(64)}" ${BUCKET}`],
    [{ bucket: "DR-Copies" }, `offsite.bucket: "DR-Copies" ${BUCKET}`],
    [{ bucket: "dr_copies" }, `offsite.bucket: "dr_copies" ${BUCKET}`],
    [{ bucket: "-dr-copies" }, `offsite.bucket: "-dr-copies" ${BUCKET}`],
    [{ bucket: "dr..copies" }, `offsite.bucket: "dr..copies" ${BUCKET}`],
    [{ bucket: "192.168.1.10" }, `offsite.bucket: "192.168.1.10" ${BUCKET}`],
    [{ prefix: "billing" }, `offsite.prefix: "billing" ${PREFIX}`],
    [{ prefix: "" }, `offsite.prefix: "" ${PREFIX}`],
    [{ prefix: "/billing/" }, `offsite.prefix: "/billing/" ${PREFIX}`],
    [{ prefix: "prod//billing/" }, `offsite.prefix: "prod//billing/" ${PREFIX}`],
    [{ prefix: "prod/../billing/" }, `offsite.prefix: "prod/../billing/" ${PREFIX}`],
    [{ prefix: "my billing/" }, `offsite.prefix: "my billing/" ${PREFIX}`],
    [{ accessKey: undefined }, "offsite.accessKey: (missing) must be given"],
    [{ secretKey: "" }, 'offsite.secretKey: "" must be given'],
    [{ mcImage: "minio/mc latest" }, `offsite.mcImage: "minio/mc latest" must be an image reference without spaces`],
  ])("%j -> %s", (patch, line) => {
    expect(offsiteProblems(patch)).toEqual([line]);
  });

  it("takes the store's CA as PEM certificates for an https endpoint only, and never shows a pasted key", () => {
    const pem = serverTlsPems({ dns: ["s3.example.com"] });
    expect(offsiteProblems({ caCertificate: pem.ca })).toEqual([]);
    const rule =
      "must be PEM text: one or more -----BEGIN CERTIFICATE----- blocks (the CA that signed the store's " +
      "certificate, never a private key)";
    expect(offsiteProblems({ caCertificate: "not a certificate" })).toEqual([
      `offsite.caCertificate: "not a certificate" ${rule}`,
    ]);
    const pasted = offsiteProblems({ caCertificate: pem.key });
    expect(pasted).toEqual([`offsite.caCertificate: (secret) ${rule}`]);
    expect(offsiteProblems({ endpoint: "http://minio:9000", caCertificate: pem.ca })).toEqual([
      "offsite.caCertificate: is only for an https:// endpoint; http://minio:9000 is plain http",
    ]);
    const spec = resolveCluster({ ...valid, offsite: { ...offsite, caCertificate: pem.ca.trim() } });
    expect(spec.offsite?.caCertificate).toBe(pem.ca.trim() + "\n");
  });

  it("never shows a key in a message", () => {
    const lines = offsiteProblems({ accessKey: "AKIA:OFFSITE", secretKey: "se:cret\nkey" });
    expect(lines).toEqual([
      "offsite.accessKey: (secret) must not contain ':' (mc splits MC_HOST_* at ':' and takes the keys literally)",
      "offsite.secretKey: (secret) must not contain ':' (mc splits MC_HOST_* at ':' and takes the keys literally)",
    ]);
    expect(offsiteProblems({ secretKey: "line\nbreak" })).toEqual([
      "offsite.secretKey: (secret) must not contain whitespace or control characters",
    ]);
    expect(offsiteProblems({ secretKey: 12345 })).toEqual([
      "offsite.secretKey: (secret) must be text or an output of another resource",
    ]);
    expect(problems({ offsite: "https://s3.example.com" })).toEqual([
      `offsite: "https://s3.example.com" must be an object with endpoint, bucket, accessKey and secretKey`,
    ]);
  });

  it("lets keys that are outputs of other resources through, to be checked once known", () => {
    const output = { apply: () => undefined } as unknown as string;
    expect(offsiteProblems({ accessKey: output, secretKey: output })).toEqual([]);
  });

  it("reports off-site problems after the others, all at once", () => {
    expect(problems({ standbys: 9, offsite: { ...offsite, bucket: "x", prefix: "a" } })).toEqual([
      "standbys: 9 must be at most 8",
      `offsite.bucket: "x" ${BUCKET}`,
      `offsite.prefix: "a" ${PREFIX}`,
    ]);
  });

  it("builds MC_HOST_offsite with the keys as they are (the one rule, mcHostUrl): mc does not URL-decode them", () => {
    expect(mcHostUrl("offsite", "https://s3.example.com:9000", "AKIAOFFSITE", "wJalr/XUtn+FEMI=K7MDENG@x")).toBe(
      "https://AKIAOFFSITE:wJalr/XUtn+FEMI=K7MDENG@x@s3.example.com:9000",
    );
    expect(mcHostUrl("offsite", "http://minio:9000/", "a", "b")).toBe("http://a:b@minio:9000");
    expect(mcHostUrl("offsite", "https://s3.amazonaws.com:443", "a", "b")).toBe("https://a:b@s3.amazonaws.com");
    expect(() => mcHostUrl("offsite", "https://s3.example.com", "a", "bad:secret")).toThrow(
      /^object store offsite: the secret key \(secret\) must not contain ':'/,
    );
    try {
      mcHostUrl("offsite", "https://s3.example.com", "a", "bad:secret");
    } catch (e) {
      expect((e as Error).message).not.toContain("bad:secret");
    }
  });
});

describe("cron expressions", () => {
  it.each([
    "0 2 * * *",
    "*/15 * * * *",
    "0 2 * * MON-FRI",
    "0 0 1 jan,jul ?",
    "5,35 0-23/2 1-31 1-12 0-6",
    "0 3 ? * sun",
  ])("accepts %s", (schedule) => {
    expect(cronProblem(schedule)).toBeUndefined();
  });
  it.each([
    ["* * * *", "it has 4 fields"],
    ["0 24 * * *", "hour 24 is outside 0-23"],
    ["0 2 * * 7", "day of week 7 is outside 0-6"],
    ["5-1 * * * *", 'minute range "5-1" runs backwards'],
    ["*/0 * * * *", 'minute "*/0" has a bad step'],
    ["0 2 * foo *", 'month "foo" is not a number, name, range or *'],
    ["? * * * *", 'minute "?" is not a number, name, range or *'],
  ])("rejects %s (%s)", (schedule, why) => {
    expect(cronProblem(schedule)).toBe(why);
  });
});

describe("replicationTls", () => {
  const names = ["billing-primary-0.billing-headless", "billing-rw"];
  const tlsProblems = (tls: unknown) => problems({ replicationTls: tls });

  it("takes a certificate that chains to the CA, matches its key and names both addresses the pods use", () => {
    const pems = serverTlsPems({ dns: names });
    expect(tlsProblems({ ca: pems.ca, certificate: pems.certificate, key: pems.key })).toEqual([]);
    // a key given as a Pulumi output is checked where the server loads it
    expect(tlsProblems({ ca: pems.ca, certificate: pems.certificate, key: { promise: true } })).toEqual([]);
  });

  it("names each problem: not PEM, a pasted key, a missing key, a name the pods do not use, another key", () => {
    const pems = serverTlsPems({ dns: names });
    expect(tlsProblems({ ca: "ca.pem", certificate: pems.certificate, key: pems.key })[0]).toMatch(
      /^replicationTls\.ca: "ca\.pem" must be PEM text/,
    );
    expect(tlsProblems({ ca: pems.ca, certificate: pems.key, key: pems.key })).toEqual([
      expect.stringMatching(/^replicationTls\.certificate: \(secret\) must be PEM text/),
    ]);
    expect(tlsProblems({ ca: pems.ca, certificate: pems.certificate })).toEqual([
      "replicationTls.key: (secret) must be the certificate's PEM private key",
    ]);
    const onlyRw = serverTlsPems({ dns: ["billing-rw"] });
    expect(tlsProblems({ ca: onlyRw.ca, certificate: onlyRw.certificate, key: onlyRw.key })).toEqual([
      expect.stringMatching(
        /^replicationTls\.certificate: does not name the primary's address billing-primary-0\.billing-headless/,
      ),
    ]);
    const other = serverTlsPems({ dns: names });
    expect(tlsProblems({ ca: pems.ca, certificate: pems.certificate, key: other.key })).toEqual([
      "replicationTls.key: is not the private key of the certificate",
    ]);
    expect(tlsProblems("yes")).toEqual(['replicationTls: "yes" must be an object with ca, certificate and key']);
  });
});

describe("quantities", () => {
  it.each([
    ["10Gi", 10 * 2 ** 30],
    ["1.5G", 1.5e9],
    ["500m", 0.5],
    ["2e9", 2e9],
    ["100", 100],
  ])("%s = %d", (text, value) => expect(parseQuantity(text)).toBe(value));
  it.each(["10GB", "-1Gi", "Gi", "1 Gi", ""])("%j is not a quantity", (text) =>
    expect(parseQuantity(text)).toBeUndefined(),
  );
});

describe("derived settings", () => {
  it("archive_timeout comes from the RPO through the one derivation the host flavour uses", () => {
    for (const rpo of [1, 30, 300, 3600])
      expect(resolveCluster({ ...valid, rpoSeconds: rpo }).derived.archiveTimeoutSeconds).toBe(
        deriveArchiveTimeout(rpo),
      );
    expect(resolveCluster(valid).derived.archiveTimeoutSeconds).toBe(240);
  });

  it("sizes replication for the standbys and caps slot WAL at a quarter of the volume", () => {
    const d = resolveCluster({ ...valid, standbys: 3, synchronous: true, storage: { size: "20Gi" } }).derived;
    expect(d).toMatchObject({
      maxWalSenders: 7,
      maxReplicationSlots: 5,
      maxSlotWalKeepSizeMb: 5120,
      slots: ["drkit_standby_0", "drkit_standby_1", "drkit_standby_2"],
    });
    expect(d.synchronousStandbyNames).toBe('FIRST 1 ("billing-standby-0", "billing-standby-1", "billing-standby-2")');
    expect(resolveCluster({ ...valid, standbys: 3 }).derived.synchronousStandbyNames).toBe("");
  });

  it("compresses base backups with zstd on the server from 15 on, gzip below", () => {
    expect(resolveCluster(valid).derived.baseBackupArgs).toEqual(["--compress=server-zstd:level=1"]);
    expect(resolveCluster({ ...valid, postgresVersion: 14 }).derived.baseBackupArgs).toEqual([
      "--gzip",
      "--compress=6",
    ]);
  });

  it("gives servers at least ten minutes to start, more when the RTO allows it", () => {
    expect(resolveCluster({ ...valid, rtoSeconds: 60 }).derived.serverStartSeconds).toBe(600);
    expect(resolveCluster({ ...valid, rtoSeconds: 7200 }).derived.serverStartSeconds).toBe(7200);
  });

  it("normalises a restore target to UTC for recovery_target_time and names the request", () => {
    expect(
      resolveCluster({ ...valid, restore: { fromBackup: "latest", targetTime: "2024-01-15T16:30:00+02:00" } }).restore,
    ).toEqual({
      fromBackup: "latest",
      targetTime: "2024-01-15 14:30:00.000+00",
      targetEpoch: Date.UTC(2024, 0, 15, 14, 30) / 1000,
      requestId: "latest@2024-01-15T14:30:00.000Z",
    });
    expect(resolveCluster({ ...valid, restore: { fromBackup: "20240115T020000Z" } }).restore).toEqual({
      fromBackup: "20240115T020000Z",
      requestId: "20240115T020000Z@end-of-archive",
    });
  });
});
