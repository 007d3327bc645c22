import { describe, expect, it } from "vitest";
import { lifecycleRules, shortestExpiry } from "../../components/objectstore/lifecycle";
import { serviceSettings } from "../../components/agent/serviceEnv";
import { ConfigError } from "../../components/plan/errors";
import { buildPlan, type DrPlan } from "../../components/plan/plan";
import { HOST_KEY } from "../helpers/hostKeys";
import { serviceArtifacts } from "../../components/artifacts/hostArtifacts";
import { renderMinioTargetScript } from "../../components/objectstore/minioScripts";

/** A CA certificate (PEM) that signed nothing here: what a store's caCertificate holds. */
const TEST_CA = [
  "-----BEGIN CERTIFICATE-----",
  "MIIBgDCCASWgAwIBAgIUKFrFaJK3Iqg3gZ/mNEWuMaa5fwQwCgYIKoZIzj0EAwIw",
  "FTETMBEGA1UEAwwKZXhhbXBsZS1jYTAeFw0yNjEyMDIwNzEwMTVaFw0zNjExMjkw",
  "NzEwMTVaMBUxEzARBgNVBAMMCmV4YW1wbGUtY2EwWTATBgcqhkjOPQIBBggqhkjO",
  "PQMBBwNCAARcK261XM7syVpZ7CLnUz71wsMOeqQkr85hkI8Wl+tNuPy77OFsyZQQ",
  "/uCYMGt+QhRxdWIFG1f3XYKRKkH5A8Xio1MwUTAdBgNVHQ4EFgQUHoWqV7bYNDXY",
  "UxO1xVGxeB4tVdAwHwYDVR0jBBgwFoAUHoWqV7bYNDXYUxO1xVGxeB4tVdAwDwYD",
  "VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEA/tZr+7jqloAs3x9KXVEq",
  "4l8Sa/y9ikzWeOHk12hzYZUCIQDYOBfsy60vJSRNmoS0BMep9srKWNpywFQJ8NlK",
  "nsEGyQ==",
  "-----END CERTIFICATE-----",
].join("\n");

// Off-site copies in the stack config: drkit:objectStores and services.<svc>.offsite. Every rule gives its
// "path: value rule" message through buildPlan, and the plan derives lifecycle, prefixes, credentials and jobs.

type Config = { hosts: Record<string, any>; services: Record<string, any>; objectStores: Record<string, any> };

const minio = (bucket: string, extra: Record<string, unknown> = {}) => ({
  type: "minio",
  endpoint: "https://minio-a.example.com:9000",
  bucket,
  accessKey: "AKMINIO",
  secretKey: "minio-secret",
  ...extra,
});
const s3 = (bucket: string, extra: Record<string, unknown> = {}) => ({
  type: "s3",
  region: "eu-west-1",
  bucket,
  accessKey: "AKIAS3",
  secretKey: "s3-secret",
  ...extra,
});

/** One SSH host, service billing shipping to site-a, two MinIO sites (site-a replicates to site-b). */
const base = (): Config => ({
  hosts: { db1: { connection: { type: "ssh", host: "10.0.0.1", hostKey: HOST_KEY } } },
  services: { billing: { host: "db1", postgres: { databases: ["billing"] }, offsite: { targets: ["site-a"] } } },
  objectStores: {
    "site-a": minio("drkit-billing", { replicateTo: "site-b" }),
    "site-b": minio("drkit-billing-replica", { endpoint: "https://minio-b.example.com:9000" }),
  },
});

function problemsOf(mutate: (c: Config) => void): string[] {
  const config = base();
  mutate(config);
  try {
    buildPlan(config, { baseDir: "/srv/project" });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error("config was accepted");
}

const planOf = (mutate: (c: Config) => void = () => {}, baseDir = "/srv/project"): DrPlan => {
  const config = base();
  mutate(config);
  return buildPlan(config, { baseDir });
};

describe("off-site validation names the field, the value and the rule", () => {
  const cases: Array<[string, (c: Config) => void, RegExp]> = [
    [
      "incremental chains longer than the off-site expiry",
      (c) => {
        c.services.billing.postgres.version = 17;
        c.services.billing.incremental = { fullEvery: "30d" };
      },
      // eslint-disable-next-line max-len
      /^services\.billing\.incremental\.fullEvery: "30d" must be shorter than retention\.offsiteDays \(30 days\): off-site objects expire by age, so an incremental backup would outlive its full backup there$/,
    ],
    [
      "a target that is no declared store",
      (c) => (c.services.billing.offsite.targets = ["site-x"]),
      // eslint-disable-next-line max-len
      /^services\.billing\.offsite\.targets\[0\]: "site-x" is not a declared object store \(declared: site-a, site-b\)$/,
    ],
    [
      "a CA certificate that is not PEM",
      (c) => (c.objectStores["site-a"].caCertificate = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----"),
      /^objectStores\.site-a\.caCertificate: .* must be PEM text: one or more -----BEGIN CERTIFICATE----- blocks/,
    ],
    [
      "a CA certificate for a plain http endpoint",
      (c) => {
        c.objectStores["site-b"].endpoint = "http://127.0.0.1:9001";
        c.objectStores["site-b"].caCertificate = TEST_CA;
      },
      /^objectStores\.site-b\.caCertificate: is only for an https:\/\/ endpoint; "http:\/\/127\.0\.0\.1:9001" is plain/,
    ],
    [
      "a target listed twice",
      (c) => (c.services.billing.offsite.targets = ["site-a", "site-a"]),
      /^services\.billing\.offsite\.targets: lists "site-a" twice$/,
    ],
    [
      "no targets",
      (c) => (c.services.billing.offsite.targets = []),
      /^services\.billing\.offsite\.targets: \[\] must list at least one object store$/,
    ],
    [
      "a target name with shell characters",
      (c) => (c.services.billing.offsite.targets = ["a;b"]),
      /^services\.billing\.offsite\.targets\[0\]: "a;b" must be a object store name/,
    ],
    [
      "replication to the store itself",
      (c) => (c.objectStores["site-a"].replicateTo = "site-a"),
      /^objectStores\.site-a\.replicateTo: "site-a" is the store itself; replication needs a second site$/,
    ],
    [
      "replication to an s3 store",
      (c) => {
        c.objectStores["site-a"].replicateTo = "aws";
        c.objectStores.aws = s3("acme-billing");
      },
      /^objectStores\.site-a\.replicateTo: "aws" is an s3 store; MinIO replicates to another minio store$/,
    ],
    [
      "replication to an undeclared store",
      (c) => (c.objectStores["site-a"].replicateTo = "site-z"),
      /^objectStores\.site-a\.replicateTo: "site-z" is not a declared object store \(declared: site-a, site-b\)$/,
    ],
    [
      "a replication loop a -> b -> a",
      (c) => (c.objectStores["site-b"].replicateTo = "site-a"),
      /^objectStores\.site-a\.replicateTo: "site-b" replicates back to "site-a"; replication chains must not loop$/,
    ],
    [
      "a provisioned server that is not on loopback",
      (c) => (c.objectStores["site-a"].provision = { dataDirectory: ".sandbox/minio/a" }),
      // eslint-disable-next-line max-len
      /^objectStores\.site-a\.endpoint: "https:\/\/minio-a\.example\.com:9000" must be http:\/\/127\.0\.0\.1:<port> when provision is set/,
    ],
    [
      "a provisioned server without a port",
      (c) => {
        c.objectStores["site-a"].endpoint = "http://127.0.0.1";
        c.objectStores["site-a"].provision = { dataDirectory: "a" };
      },
      /^objectStores\.site-a\.endpoint: "http:\/\/127\.0\.0\.1" must be http:\/\/127\.0\.0\.1:<port>/,
    ],
    [
      "a provisioned server over https (the sandbox serves http)",
      (c) => {
        c.objectStores["site-a"].endpoint = "https://127.0.0.1:59000";
        c.objectStores["site-a"].provision = { dataDirectory: "a" };
      },
      /^objectStores\.site-a\.endpoint: "https:\/\/127\.0\.0\.1:59000" must be http:\/\/127\.0\.0\.1:<port>/,
    ],
    [
      "a store without an access key that is not provisioned",
      (c) => delete c.objectStores["site-a"].accessKey,
      /^objectStores\.site-a\.accessKey: is required \(only a provisioned sandbox server gets generated keys\)$/,
    ],
    [
      "an empty access key, without showing it",
      (c) => (c.objectStores["site-a"].accessKey = ""),
      /^objectStores\.site-a\.accessKey: \(secret, not shown\) must not be empty$/,
    ],
    [
      "a secret key of two lines, without showing it",
      (c) => (c.objectStores["site-b"].secretKey = "first-half\nsecond-half"),
      /^objectStores\.site-b\.secretKey: \(secret, not shown\) must be one line of printable characters, without/,
    ],
    [
      "a store without a secret key that is not provisioned",
      (c) => delete c.objectStores["site-b"].secretKey,
      /^objectStores\.site-b\.secretKey: is required \(only a provisioned sandbox server gets generated keys\)$/,
    ],
    [
      "an s3 store without keys",
      (c) => {
        c.objectStores.aws = s3("acme-billing");
        delete c.objectStores.aws.secretKey;
      },
      /^objectStores\.aws\.secretKey: \(missing\) must be text or a Pulumi secret$/,
    ],
    [
      "object lock longer than the shortest offsiteDays",
      (c) => {
        c.objectStores["site-a"].objectLock = { mode: "GOVERNANCE", days: 40 };
        c.services.ledger = {
          host: "db1",
          postgres: { databases: ["ledger"], port: 5433, dataDirectory: "/var/lib/postgresql/15/ledger" },
          retention: { offsiteDays: 60 },
          offsite: { targets: ["site-a"] },
        };
      },
      // eslint-disable-next-line max-len
      /^objectStores\.site-a\.objectLock\.days: 40 is longer than the shortest off-site retention of its services \(30 days, retention\.offsiteDays\): locked objects would outlive their expiry$/,
    ],
    [
      "object lock on a replica site longer than what it receives",
      (c) => (c.objectStores["site-b"].objectLock = { mode: "COMPLIANCE", days: 31 }),
      // eslint-disable-next-line max-len
      /^objectStores\.site-b\.objectLock\.days: 31 is longer than the shortest off-site retention of its services \(30 days/,
    ],
    [
      "an object lock mode that does not exist",
      (c) => (c.objectStores["site-a"].objectLock = { mode: "STRICT", days: 7 }),
      /^objectStores\.site-a\.objectLock\.mode: "STRICT" must be "GOVERNANCE" or "COMPLIANCE"$/,
    ],
    [
      "s3 replication into the bucket's own region",
      (c) => {
        c.objectStores.aws = s3("acme-billing", { replication: { region: "eu-west-1" } });
        c.services.billing.offsite.targets = ["aws"];
      },
      // eslint-disable-next-line max-len
      /^objectStores\.aws\.replication\.region: "eu-west-1" is the bucket's own region; cross-region replication needs another region$/,
    ],
    [
      "a KMS alias instead of a key ARN (the bucket's encryption takes a key)",
      (c) => {
        c.objectStores.aws = s3("acme-billing", { kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:alias/backups" });
        c.services.billing.offsite.targets = ["aws"];
      },
      /^objectStores\.aws\.kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:alias\/backups" must be a KMS key ARN /,
    ],
    [
      "a replica's KMS key in another region than the replica",
      (c) => {
        const key = "arn:aws:kms:eu-west-1:123456789012:key/0f6c2d7e-8a51-4c1b-9e3d-5b7a2c9e4f10";
        c.objectStores.aws = s3("acme-billing", { replication: { region: "eu-central-1", kmsKeyArn: key } });
        c.services.billing.offsite.targets = ["aws"];
      },
      // eslint-disable-next-line max-len
      /^objectStores\.aws\.replication\.kmsKeyArn: ".*" is in eu-west-1; S3 needs the key in the bucket's region eu-central-1$/,
    ],
    [
      "infrequent access before day 30",
      (c) => {
        c.objectStores.aws = s3("acme-billing", { transitions: { infrequentAccessDays: 10 } });
        c.services.billing.offsite.targets = ["aws"];
      },
      // eslint-disable-next-line max-len
      /^objectStores\.aws\.transitions\.infrequentAccessDays: 10 must be at least 30 \(the S3 minimum for STANDARD_IA\)$/,
    ],
    [
      "archive not after infrequent access",
      (c) => {
        c.objectStores.aws = s3("acme-billing", { transitions: { infrequentAccessDays: 60, archiveDays: 60 } });
        c.services.billing.offsite.targets = ["aws"];
        c.services.billing.retention = { offsiteDays: 365 };
      },
      /^objectStores\.aws\.transitions\.archiveDays: 60 must be later than infrequentAccessDays \(60\)$/,
    ],
    [
      "a first transition after every expiry",
      (c) => {
        c.objectStores.aws = s3("acme-billing", { transitions: { infrequentAccessDays: 31 } });
        c.services.billing.offsite.targets = ["aws"];
      },
      // eslint-disable-next-line max-len
      /^objectStores\.aws\.transitions\.infrequentAccessDays: 31 is not before the expiry of any backup set \(the longest is 31 days\); retention is shorter than the transition$/,
    ],
    [
      "an archive class that does not exist",
      (c) => {
        c.objectStores.aws = s3("acme-billing", { transitions: { archiveStorageClass: "TAPE" } });
      },
      /^objectStores\.aws\.transitions\.archiveStorageClass: "TAPE" must be "GLACIER", "DEEP_ARCHIVE" or "GLACIER_IR"$/,
    ],
    [
      "an s3 region that is no region",
      (c) => (c.objectStores.aws = s3("acme-billing", { region: "Europe West" })),
      /^objectStores\.aws\.region: "Europe West" must be a region name such as "eu-west-1"$/,
    ],
    [
      "an upper-case bucket name",
      (c) => (c.objectStores["site-a"].bucket = "Drkit_Billing"),
      // eslint-disable-next-line max-len
      /^objectStores\.site-a\.bucket: "Drkit_Billing" must be a bucket name: 3-63 lowercase letters, digits, '\.' and '-', starting and ending with a letter or digit, not an IP address$/,
    ],
    [
      "a bucket name of two characters",
      (c) => (c.objectStores["site-a"].bucket = "ab"),
      /^objectStores\.site-a\.bucket: "ab" must be a bucket name: 3-63/,
    ],
    [
      "a bucket name ending in '-'",
      (c) => (c.objectStores["site-a"].bucket = "backups-"),
      /^objectStores\.site-a\.bucket: "backups-" must be a bucket name/,
    ],
    [
      "a bucket named like an IP address",
      (c) => (c.objectStores["site-a"].bucket = "192.168.1.10"),
      /^objectStores\.site-a\.bucket: "192\.168\.1\.10" must be a bucket name/,
    ],
    [
      "a bucket name with '..'",
      (c) => (c.objectStores["site-a"].bucket = "drkit..billing"),
      /^objectStores\.site-a\.bucket: "drkit\.\.billing" must not contain '\.\.'$/,
    ],
    [
      "a bucket name that is not text",
      (c) => (c.objectStores["site-a"].bucket = 42),
      /^objectStores\.site-a\.bucket: 42 must be a bucket name \(text\)$/,
    ],
    [
      "one bucket for two stores on one server",
      (c) => {
        c.objectStores["site-b"].endpoint = "https://minio-a.example.com:9000/";
        c.objectStores["site-b"].bucket = "drkit-billing";
      },
      /^objectStores\.site-b\.bucket: "drkit-billing" is already the bucket of object store "site-a"$/,
    ],
    [
      "one AWS bucket name in two regions (one global namespace)",
      (c) => {
        c.objectStores.east = s3("acme-billing", { region: "us-east-1" });
        c.objectStores.west = s3("acme-billing", { region: "us-west-2" });
      },
      /^objectStores\.west\.bucket: "acme-billing" is already the bucket of object store "east"$/,
    ],
    [
      "an endpoint that is no URL",
      (c) => (c.objectStores["site-a"].endpoint = "minio.example.com"),
      /^objectStores\.site-a\.endpoint: "minio\.example\.com" must be an http\(s\) URL of a host and optional port/,
    ],
    [
      "an unknown store type",
      (c) => (c.objectStores["site-a"].type = "gcs"),
      /^objectStores\.site-a\.type: "gcs" must say what kind of object store it is: type "minio" or "s3"$/,
    ],
    [
      "a misspelled store field",
      (c) => (c.objectStores["site-a"].replicate_to = "site-b"),
      /^objectStores\.site-a: unknown field "replicate_to"/,
    ],
    [
      "a store name with upper case",
      (c) => (c.objectStores.SiteC = minio("drkit-c")),
      /^objectStores\.SiteC: "SiteC" must be a object store name/,
    ],
    [
      "a retry count of zero",
      (c) => (c.services.billing.offsite.retry = { attempts: 0 }),
      /^services\.billing\.offsite\.retry\.attempts: 0 must be at least 1$/,
    ],
    [
      "a relative mc path",
      (c) => (c.services.billing.offsite.mc = "bin/mc"),
      /^services\.billing\.offsite\.mc: "bin\/mc" must be an absolute path/,
    ],
    [
      "a catch-up schedule with shell characters",
      (c) => (c.services.billing.offsite.schedule = "hourly; reboot"),
      /^services\.billing\.offsite\.schedule: "hourly; reboot" must be a systemd OnCalendar expression/,
    ],
    [
      "two sandbox servers whose ports overlap (port + 1 is the console)",
      (c) => {
        c.objectStores["site-a"] = {
          ...minio("drkit-billing", { replicateTo: "site-b" }),
          endpoint: "http://127.0.0.1:59000",
          provision: { dataDirectory: "minio/a" },
        };
        c.objectStores["site-b"] = {
          ...minio("drkit-billing-replica"),
          endpoint: "http://127.0.0.1:59001",
          provision: { dataDirectory: "minio/b" },
        };
      },
      // eslint-disable-next-line max-len
      /^objectStores\.site-b\.endpoint: "http:\/\/127\.0\.0\.1:59001" clashes with the sandbox server of object store "site-a" \(each uses its port and port \+ 1 for its console\)$/,
    ],
    [
      "two sandbox servers in one data directory",
      (c) => {
        c.objectStores["site-a"] = {
          ...minio("drkit-billing", { replicateTo: "site-b" }),
          endpoint: "http://127.0.0.1:59000",
          provision: { dataDirectory: "minio/a" },
        };
        c.objectStores["site-b"] = {
          ...minio("drkit-billing-replica"),
          endpoint: "http://127.0.0.1:59100",
          provision: { dataDirectory: "minio/a/" },
        };
      },
      // eslint-disable-next-line max-len
      /^objectStores\.site-b\.provision\.dataDirectory: "minio\/a\/" is already the data directory of object store "site-a"$/,
    ],
  ];
  for (const [what, mutate, expected] of cases) {
    it(`rejects ${what}`, () => {
      const problems = problemsOf(mutate);
      expect(
        problems.some((p) => expected.test(p)),
        problems.join("\n"),
      ).toBe(true);
    });
  }

  it("every host ships over https, or plain http only to its own loopback; sandbox hosts too", () => {
    expect(problemsOf((c) => (c.objectStores["site-a"].endpoint = "http://minio-a.example.com:9000"))).toEqual([
      'objectStores.site-a.endpoint: "http://minio-a.example.com:9000" must be https:// for service billing on host ' +
        '"db1": the store\'s keys and every backup would cross the network in clear text (plain http is only for a ' +
        "store on the host's own loopback)",
    ]);
    for (const loopback of ["http://127.0.0.1:9000", "http://127.0.2.1:9000", "http://localhost:9000"]) {
      expect(() => planOf((c) => (c.objectStores["site-a"].endpoint = loopback)), loopback).not.toThrow();
    }
    const sandboxHost = (endpoint: string) => (c: any) => {
      c.hosts.db1 = { connection: { type: "local", rootPrefix: "/srv/sandbox" } };
      c.objectStores["site-a"].endpoint = endpoint;
    };
    expect(problemsOf(sandboxHost("http://10.200.0.2:9000"))).toEqual([
      expect.stringMatching(/^objectStores\.site-a\.endpoint: "http:\/\/10\.200\.0\.2:9000" must be https:\/\//),
    ]);
    expect(planOf(sandboxHost("http://127.0.0.1:9000")).services[0].offsite?.targets[0].endpoint).toBe(
      "http://127.0.0.1:9000",
    );
  });

  it("a loop a -> b -> a names both stores; a store that only feeds a loop b -> c -> b is not blamed for it", () => {
    expect(problemsOf((c) => (c.objectStores["site-b"].replicateTo = "site-a"))).toEqual([
      'objectStores.site-a.replicateTo: "site-b" replicates back to "site-a"; replication chains must not loop',
      'objectStores.site-b.replicateTo: "site-a" replicates back to "site-b"; replication chains must not loop',
    ]);
    const feeding = problemsOf((c) => {
      c.objectStores["site-b"].replicateTo = "site-c";
      c.objectStores["site-c"] = minio("drkit-billing-c", {
        endpoint: "https://minio-c.example.com:9000",
        replicateTo: "site-b",
      });
    });
    expect(feeding).toEqual([
      'objectStores.site-b.replicateTo: "site-c" replicates back to "site-b"; replication chains must not loop',
      'objectStores.site-c.replicateTo: "site-b" replicates back to "site-c"; replication chains must not loop',
    ]);
  });

  it("reports every off-site problem at once", () => {
    const problems = problemsOf((c) => {
      c.services.billing.offsite.targets = ["site-a", "site-x"];
      c.objectStores["site-a"].replicateTo = "site-a";
      delete c.objectStores["site-b"].accessKey;
    });
    expect(problems).toHaveLength(3);
  });

  it(
    "accepts what the rules allow: a lock as long as the retention, a transition that only the longer-kept " +
      "service reaches",
    () => {
      expect(() =>
        planOf((c) => (c.objectStores["site-a"].objectLock = { mode: "GOVERNANCE", days: 30 })),
      ).not.toThrow();
      const plan = planOf((c) => {
        c.objectStores.aws = s3("acme-billing", { transitions: { infrequentAccessDays: 90 } });
        c.services.billing.offsite.targets = ["aws"];
        c.services.ledger = {
          host: "db1",
          postgres: { databases: ["ledger"], port: 5433, dataDirectory: "/var/lib/postgresql/15/ledger" },
          retention: { offsiteDays: 365 },
          offsite: { targets: ["aws"] },
        };
      });
      const rules = lifecycleRules(plan.objectStores.find((s) => s.name === "aws")!.lifecycle);
      expect(rules.find((r) => r.id === "billing/base/")!.transitions).toEqual([]);
      expect(rules.find((r) => r.id === "ledger/base/")!.transitions).toEqual([
        { days: 90, storageClass: "STANDARD_IA" },
      ]);
    },
  );
});

describe("a store's own CA certificate", () => {
  const plan = planOf((c) => (c.objectStores["site-a"].caCertificate = TEST_CA));
  const billing = plan.services[0];

  it("is a file on the host, readable by every job, named in the settings beside its store", () => {
    expect(billing.offsite!.targets[0].ca).toEqual({ file: "/etc/drkit/billing/ca-site-a.crt", pem: TEST_CA });
    const ca = serviceArtifacts(billing).file("ca:site-a");
    expect(ca).toMatchObject({ path: "/etc/drkit/billing/ca-site-a.crt", mode: "0644", owner: "root" });
    expect(ca.content).toBe(`${TEST_CA}\n`);
    expect(ca.secret).toBeUndefined();
    expect(serviceSettings(billing).OFFSITE_CA_FILES).toEqual(["/etc/drkit/billing/ca-site-a.crt"]);
    expect(serviceSettings(planOf().services[0]).OFFSITE_CA_FILES).toEqual([""]);
    expect(serviceArtifacts(planOf().services[0]).has("ca:site-a")).toBe(false);
  });

  it("is trusted by the bucket configuration's mc too (its certs/CAs folder), for the store and its replica", () => {
    const siteA = plan.objectStores.find((s) => s.name === "site-a")!;
    const script = renderMinioTargetScript(
      siteA,
      plan.objectStores.find((s) => s.name === "site-b"),
    );
    expect(script).toContain(`cat >"$mc_home/certs/CAs/site-a.crt" <<'CA'\n${TEST_CA}\nCA\n`);
    expect(script).not.toContain("site-b.crt");
    expect(renderMinioTargetScript(planOf().objectStores[0])).not.toContain("certs/CAs");
  });
});

describe("the derived off-site plan", () => {
  const plan = planOf();
  const siteA = plan.objectStores.find((s) => s.name === "site-a")!;
  const siteB = plan.objectStores.find((s) => s.name === "site-b")!;
  const billing = plan.services[0];

  it("expires each backup set after offsiteDays, WAL one day later, in the store's lifecycle", () => {
    expect(siteA.lifecycle.services).toEqual([
      { prefix: "billing/", days: { base: 30, logical: 30, wal: 31, valkey: 30, config: 30 } },
    ]);
    const rules = lifecycleRules(siteA.lifecycle);
    const expiry = Object.fromEntries(
      rules.filter((r) => r.expirationDays !== undefined).map((r) => [r.id, r.expirationDays]),
    );
    expect(expiry).toEqual({
      "billing/base/": 30,
      "billing/logical/": 30,
      "billing/wal/": 31,
      "billing/valkey/": 30,
      "billing/config/": 30,
    });
    expect(shortestExpiry(siteA.lifecycle)?.days).toBe(30);
    expect(siteA.lifecycle.noncurrentVersions).toEqual({ days: 7, keep: 30 });

    const longer = planOf((c) => (c.services.billing.retention = { offsiteDays: 90 }));
    const walRule = lifecycleRules(longer.objectStores[0].lifecycle).find((r) => r.id === "billing/wal/")!;
    expect(walRule.expirationDays).toBe(91);
  });

  it(
    "gives the replica site the same expiry rules as the store replicating into it (MinIO does not replicate " +
      "expirations)",
    () => {
      expect(siteB.lifecycle.services).toEqual(siteA.lifecycle.services);
      expect(shortestExpiry(siteB.lifecycle)?.days).toBe(30);
      expect(siteA.replicateTo).toBe("site-b");
      expect(siteB.replicateTo).toBeUndefined();
      const unused = planOf(
        (c) => (c.objectStores["site-c"] = minio("drkit-unused", { endpoint: "https://minio-c.example.com:9000" })),
      );
      expect(unused.objectStores.find((s) => s.name === "site-c")!.lifecycle.services).toEqual([]);
      expect(shortestExpiry(unused.objectStores.find((s) => s.name === "site-c")!.lifecycle)).toBeUndefined();
    },
  );

  it("puts each service under its own prefix, in the bucket and in the host's target list", () => {
    const two = planOf((c) => {
      c.services.ledger = {
        host: "db1",
        postgres: { databases: ["ledger"], port: 5433, dataDirectory: "/var/lib/postgresql/15/ledger" },
        retention: { offsiteDays: 60 },
        offsite: { targets: ["site-a"] },
      };
    });
    expect(two.objectStores[0].lifecycle.services.map((s) => [s.prefix, s.days.wal])).toEqual([
      ["billing/", 31],
      ["ledger/", 61],
    ]);
    expect(two.services.map((s) => s.offsite!.targets[0].prefix)).toEqual(["billing/", "ledger/"]);
    expect(shortestExpiry(two.objectStores[0].lifecycle)?.days).toBe(30);
  });

  it("describes each target for the host: alias, endpoint, bucket, credentials file, keys", () => {
    expect(billing.offsite!.targets).toEqual([
      {
        store: "site-a",
        alias: "drkit_site_a",
        endpoint: "https://minio-a.example.com:9000",
        bucket: "drkit-billing",
        prefix: "billing/",
        credentialsFile: "/etc/drkit/billing/offsite-site-a.env",
        accessKey: "AKMINIO",
        secretKey: "minio-secret",
      },
    ]);
    expect(billing.offsite!.mc).toBe("/usr/local/bin/mc");
    expect(billing.offsite!.retryAttempts).toBe(5);
    expect(billing.offsite!.retryInitialDelaySeconds).toBe(2);
    expect(billing.offsite!.markerDir).toBe("/var/lib/billing/backups/.offsite");
  });

  it(
    "puts the credentials file and mc under a sandbox host's root prefix; resolves a provisioned store against " +
      "the project",
    () => {
      const sandbox = planOf((c) => {
        c.hosts.db1 = { connection: { type: "local", rootPrefix: ".sandbox/local" } };
        c.objectStores["site-a"] = {
          type: "minio",
          endpoint: "http://127.0.0.1:59000/",
          bucket: "drkit-billing",
          replicateTo: "site-b",
          provision: { dataDirectory: ".sandbox/minio/site-a" },
        };
      });
      const target = sandbox.services[0].offsite!.targets[0];
      expect(target.credentialsFile).toBe("/srv/project/.sandbox/local/etc/drkit/billing/offsite-site-a.env");
      expect(target.endpoint).toBe("http://127.0.0.1:59000");
      expect(target.accessKey).toBeUndefined();
      expect(sandbox.services[0].offsite!.mc).toBe("/srv/project/.sandbox/local/usr/local/bin/mc");
      expect(sandbox.services[0].offsite!.markerDir).toBe(
        "/srv/project/.sandbox/local/var/lib/billing/backups/.offsite",
      );
      const store = sandbox.objectStores.find((s) => s.name === "site-a")!;
      expect(store.provision).toEqual({ dataDirectory: "/srv/project/.sandbox/minio/site-a", port: 59000 });
      expect(store.endpoint).toBe("http://127.0.0.1:59000");
      expect(store.accessKey).toBeUndefined();
    },
  );

  it("adds the off-site catch-up job: ship-offsite as the PostgreSQL user on its calendar", () => {
    const job = billing.jobs.find((j) => j.id === "offsite")!;
    expect(job).toMatchObject({
      unit: "drkit-billing-offsite",
      script: "/usr/local/lib/drkit/billing/ship-offsite",
      calendar: "*-*-* *:20:00",
      runAs: "postgres",
    });
    expect(job.readWritePaths).toEqual(["/var/lib/billing/backups/.offsite", "/var/lib/billing/backups/.locks"]);
    const custom = planOf((c) => (c.services.billing.offsite.schedule = "*-*-* *:05,35:00"));
    expect(custom.services[0].jobs.find((j) => j.id === "offsite")!.calendar).toBe("*-*-* *:05,35:00");
    // Backup jobs may write confirmation markers; without offsite nothing of it is planned.
    expect(billing.jobs.find((j) => j.id === "base")!.readWritePaths).toContain("/var/lib/billing/backups/.offsite");
    const none = planOf((c) => delete c.services.billing.offsite);
    expect(none.services[0].jobs.map((j) => j.id)).not.toContain("offsite");
    expect(none.services[0].offsite).toBeUndefined();
    expect(none.services[0].jobs.find((j) => j.id === "base")!.readWritePaths.some((p) => p.includes(".offsite"))).toBe(
      false,
    );
  });

  it("triggers the off-site job after each Redis snapshot only when off-site is on", () => {
    const redis = { port: 6380 };
    const withOffsite = planOf((c) => (c.services.billing.redis = redis));
    expect(withOffsite.services[0].jobs.find((j) => j.id === "redis")!.onSuccess).toBe("drkit-billing-offsite.service");
    const without = planOf((c) => {
      c.services.billing.redis = redis;
      delete c.services.billing.offsite;
    });
    expect(without.services[0].jobs.find((j) => j.id === "redis")!.onSuccess).toBeUndefined();
  });

  it(
    "gives the agent the stores archive-wal ships each segment to before it succeeds " +
      "(test/agent/archive-wal.bats)",
    () => {
      const settings = serviceSettings(billing);
      expect(settings.OFFSITE_STORES).toEqual(billing.offsite!.targets.map((t) => t.store));
      expect(settings.OFFSITE_CREDENTIALS).toEqual(billing.offsite!.targets.map((t) => t.credentialsFile));
      expect(settings.OFFSITE_PREFIX).toBe("billing/");
    },
  );

  it("describes s3 stores with the AWS endpoint of their region and their replication", () => {
    const aws = planOf((c) => {
      c.objectStores.aws = s3("acme-billing", {
        replication: { region: "eu-central-1" },
        transitions: { infrequentAccessDays: 30 },
      });
      c.services.billing.offsite.targets = ["site-a", "aws"];
    });
    const store = aws.objectStores.find((s) => s.name === "aws")!;
    expect(store.endpoint).toBe("https://s3.eu-west-1.amazonaws.com");
    expect(store.s3!.replication).toEqual({
      region: "eu-central-1",
      expireDays: 90,
      deleteMarkerReplication: false,
      replicationTimeControl: false,
    });
    expect(store.lifecycle.transitions).toEqual({ infrequentAccessDays: 30, archiveStorageClass: "GLACIER" });
    expect(aws.services[0].offsite!.targets.map((t) => [t.store, t.alias, t.endpoint])).toEqual([
      ["site-a", "drkit_site_a", "https://minio-a.example.com:9000"],
      ["aws", "drkit_aws", "https://s3.eu-west-1.amazonaws.com"],
    ]);
  });
});
