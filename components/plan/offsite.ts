import * as path from "node:path";
import { transitionProblems, type LifecyclePolicy, type ServiceRetention } from "../objectstore/lifecycle";
import { kmsKeyProblem } from "../objectstore/s3Validation";
import { parseDuration } from "./duration";
import { parseSize } from "./size";
import type { ParsedObjectStore, ParsedService, ParsedStackConfig } from "./schema";
import type { SecretText } from "./types";
import { epochFolder, type ArchivePlan } from "./archive";

export type { SecretText };

/** One object store (bucket) as the Pulumi side creates it. */
export interface ObjectStorePlan {
  readonly name: string;
  readonly type: "minio" | "s3";
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  /** Absent for a provisioned sandbox server whose keys drkit generates. */
  readonly accessKey?: SecretText;
  readonly secretKey?: SecretText;
  readonly objectLock?: { readonly mode: "GOVERNANCE" | "COMPLIANCE"; readonly days: number };
  /** Expiry per service prefix, derived from each service's retention.offsiteDays. */
  readonly lifecycle: LifecyclePolicy;
  readonly replicateTo?: string;
  /** PEM: the CA mc trusts for this store, besides the system's. */
  readonly caCertificate?: string;
  /** A sandbox MinIO server drkit starts (data directory resolved against the project). */
  readonly provision?: { readonly dataDirectory: string; readonly port: number };
  readonly s3?: {
    readonly kmsKeyArn?: string;
    readonly replication?: {
      readonly region: string;
      readonly bucket?: string;
      readonly kmsKeyArn?: string;
      readonly expireDays: number;
      readonly deleteMarkerReplication: boolean;
      readonly replicationTimeControl: boolean;
    };
  };
}

/** Where one service's backups go in one object store, as the host-side scripts see it. */
export interface OffsiteTargetPlan {
  readonly store: string;
  /** mc alias: MC_HOST_<alias> in the credentials file. */
  readonly alias: string;
  readonly endpoint: string;
  readonly bucket: string;
  /** Key prefix of this service in the bucket, e.g. "billing/". */
  readonly prefix: string;
  /** 0600 file on the host holding MC_HOST_<alias>=<url with keys>. */
  readonly credentialsFile: string;
  readonly accessKey?: SecretText;
  readonly secretKey?: SecretText;
  /** The store's CA (PEM) and the file on the host that holds it, when the store has one. */
  readonly ca?: { readonly file: string; readonly pem: string };
}

export interface OffsitePlan {
  readonly targets: readonly OffsiteTargetPlan[];
  readonly mc: string;
  readonly retryAttempts: number;
  readonly retryInitialDelaySeconds: number;
  /** Confirmation markers: <markerDir>/<store>/<kind>/<id> exists once every file of it is confirmed remote. */
  readonly markerDir: string;
  /** The WAL shipper: uploads at once per store, the bound of one call, the backlog cap per store. */
  readonly parallel: number;
  readonly callTimeoutSeconds: number;
  readonly maxBacklogBytes: number;
  /** How long after archiving a segment is off-site in normal operation (the RPO allows for it). */
  readonly lagBudgetSeconds: number;
  /** age encryption: the recipients file on the host (public keys); the identity stays off the hosts. */
  readonly encryption?: {
    readonly recipientsFile: string;
    readonly recipients: readonly string[];
    readonly identity?: SecretText;
  };
}

/** Days each backup set of a service lives off-site. WAL one day longer: see walDaysFor. */
function offsiteDays(retentionOffsiteDays: number): ServiceRetention["days"] {
  return {
    base: retentionOffsiteDays,
    logical: retentionOffsiteDays,
    // Expiry counts from upload, and the segment a base backup starts in is uploaded before the backup
    // finishes; one more day keeps the oldest base backup restorable until it expires itself.
    wal: retentionOffsiteDays + 1,
    valkey: retentionOffsiteDays,
    config: retentionOffsiteDays,
  };
}

/** The stores `start` replicates into, in order, and whether that chain comes back to `start`. */
function replicationChain(
  stores: Record<string, ParsedObjectStore>,
  start: string,
): { readonly chain: readonly string[]; readonly loopsBack: boolean } {
  const chain: string[] = [];
  let next = stores[start];
  while (next?.type === "minio" && next.replicateTo !== undefined) {
    if (next.replicateTo === start) return { chain, loopsBack: true };
    // A store feeding a loop it is not part of does not loop itself (the stores of the loop are reported).
    if (chain.includes(next.replicateTo)) break;
    chain.push(next.replicateTo);
    next = stores[next.replicateTo];
  }
  return { chain, loopsBack: false };
}

/** The stores whose objects end up in `store`: itself and every minio store whose replication chain reaches it. */
const storesFeeding = (stores: Record<string, ParsedObjectStore>, store: string) =>
  new Set([store, ...Object.keys(stores).filter((start) => replicationChain(stores, start).chain.includes(store))]);

/**
 * The services whose backups a store holds: those that ship to it, and those that ship to a store replicating
 * into it. A replica site needs the same expiry rules: MinIO does not replicate lifecycle expirations, so a
 * replica without its own rules would keep every backup forever.
 */
const servicesStoring = (config: ParsedStackConfig, store: string) => {
  const feeding = storesFeeding(config.objectStores as Record<string, ParsedObjectStore>, store);
  return Object.entries(config.services).filter(([, svc]) => svc.offsite?.targets.some((t) => feeding.has(t)));
};

/** A store's lifecycle: expiry per prefix of every service whose backups it holds. */
function lifecycleOf(config: ParsedStackConfig, name: string, store: ParsedObjectStore): LifecyclePolicy {
  return {
    services: servicesStoring(config, name).map(([svc, s]) => ({
      prefix: `${svc}/`,
      // Every archive epoch after the first has its own folder; the older ones expire like the current one.
      ...(s.archive.epoch > 1
        ? { epochFolders: Array.from({ length: s.archive.epoch - 1 }, (_, i) => epochFolder(i + 2)) }
        : {}),
      days: offsiteDays(s.retention.offsiteDays),
    })),
    transitions: store.type === "s3" && store.transitions ? store.transitions : undefined,
    noncurrentVersions: store.noncurrentVersions,
    abortIncompleteMultipartDays: 7,
  };
}

export function objectStorePlans(config: ParsedStackConfig, baseDir: string): ObjectStorePlan[] {
  return Object.entries(config.objectStores as Record<string, ParsedObjectStore>).map(([name, store]) => {
    const lifecycle = lifecycleOf(config, name, store);
    const common = {
      name,
      bucket: store.bucket,
      accessKey: store.accessKey,
      secretKey: store.secretKey,
      objectLock: store.objectLock,
      caCertificate: store.caCertificate,
      lifecycle,
    };
    if (store.type === "minio") {
      return {
        ...common,
        type: "minio" as const,
        endpoint: store.endpoint.replace(/\/$/, ""),
        region: store.region,
        replicateTo: store.replicateTo,
        provision: store.provision
          ? {
              dataDirectory: path.resolve(baseDir, store.provision.dataDirectory),
              port: Number(new URL(store.endpoint).port),
            }
          : undefined,
      };
    }
    return {
      ...common,
      type: "s3" as const,
      endpoint: (store.endpoint ?? `https://s3.${store.region}.amazonaws.com`).replace(/\/$/, ""),
      region: store.region,
      s3: { kmsKeyArn: store.kmsKeyArn, replication: store.replication },
    };
  });
}

/** The stores in the order they are set up: a replica site before the stores that replicate into it. */
export function storesInCreationOrder(stores: readonly ObjectStorePlan[]): ObjectStorePlan[] {
  const byName = new Map(stores.map((s) => [s.name, s]));
  const ordered: ObjectStorePlan[] = [];
  const visit = (store: ObjectStorePlan) => {
    if (ordered.includes(store)) return;
    const replica = store.replicateTo ? byName.get(store.replicateTo) : undefined;
    if (replica) visit(replica); // validation guarantees the chain does not loop
    ordered.push(store);
  };
  stores.forEach(visit);
  return ordered;
}

/** Cross-field rules of object stores and the services' off-site settings. */
export function offsiteProblems(config: ParsedStackConfig): string[] {
  const problems: string[] = [];
  const stores = config.objectStores as Record<string, ParsedObjectStore>;
  const names = Object.keys(stores);
  for (const [svcName, svc] of Object.entries(config.services)) {
    svc.offsite?.targets.forEach((t, i) => {
      if (!stores[t])
        problems.push(
          `services.${svcName}.offsite.targets[${i}]: "${t}" is not a declared object store ` +
            `(declared: ${names.join(", ") || "none"})`,
        );
    });
    const dupes = (svc.offsite?.targets ?? []).filter((t, i, all) => all.indexOf(t) !== i);
    if (dupes.length) problems.push(`services.${svcName}.offsite.targets: lists "${dupes[0]}" twice`);
    // Keys and backups cross the network to the store: plain HTTP only to a store on the host's own loopback,
    // sandbox hosts included.
    for (const t of svc.offsite?.targets ?? []) {
      const endpoint = stores[t]?.endpoint;
      if (endpoint?.startsWith("http://") && !isLoopbackUrl(endpoint))
        problems.push(
          `objectStores.${t}.endpoint: ${JSON.stringify(endpoint)} must be https:// for service ${svcName} on host ` +
            `"${svc.host}": the store's keys and every backup would cross the network in clear text ` +
            `(plain http is only for a store on the host's own loopback)`,
        );
    }
  }
  const seenBuckets = new Map<string, string>();
  // Sandbox servers of provisioned stores: each listens on its port and its console on port + 1.
  const sandboxPorts = new Map<number, string>();
  const sandboxDirs = new Map<string, string>();
  for (const [name, store] of Object.entries(stores)) {
    const at = `objectStores.${name}`;
    if (store.caCertificate && store.endpoint?.startsWith("http://"))
      problems.push(
        `${at}.caCertificate: is only for an https:// endpoint; ${JSON.stringify(store.endpoint)} is plain http`,
      );
    // One bucket namespace per server; AWS S3 (no endpoint) has one global namespace for every region.
    const server =
      store.type === "minio" || store.endpoint !== undefined ? store.endpoint!.replace(/\/$/, "") : "aws-s3";
    const key = `${server}/${store.bucket}`;
    if (seenBuckets.has(key))
      problems.push(`${at}.bucket: "${store.bucket}" is already the bucket of object store "${seenBuckets.get(key)}"`);
    else seenBuckets.set(key, name);
    // A replica site holds (and locks) the same objects as the stores replicating into it.
    const holders = servicesStoring(config, name);
    const shortestHeld = Math.min(...holders.map(([, s]) => s.retention.offsiteDays));
    if (store.objectLock && holders.length && store.objectLock.days > shortestHeld) {
      problems.push(
        `${at}.objectLock.days: ${store.objectLock.days} is longer than the shortest off-site retention of its ` +
          `services (${shortestHeld} days, retention.offsiteDays): locked objects would outlive their expiry`,
      );
    }
    if (store.type === "minio") {
      if (store.replicateTo !== undefined) {
        const target = stores[store.replicateTo];
        if (!target)
          problems.push(
            `${at}.replicateTo: "${store.replicateTo}" is not a declared object store (declared: ${names.join(", ")})`,
          );
        else if (store.replicateTo === name)
          problems.push(`${at}.replicateTo: "${name}" is the store itself; replication needs a second site`);
        else if (target.type !== "minio")
          problems.push(
            `${at}.replicateTo: "${store.replicateTo}" is an ${target.type} store; MinIO replicates to another ` +
              `minio store`,
          );
        else if (replicationChain(stores, name).loopsBack)
          problems.push(
            `${at}.replicateTo: "${store.replicateTo}" replicates back to "${name}"; replication chains must not loop`,
          );
      }
      if (!store.provision && (store.accessKey === undefined || store.secretKey === undefined)) {
        problems.push(
          `${at}.${store.accessKey === undefined ? "accessKey" : "secretKey"}: is required (only a provisioned ` +
            `sandbox server gets generated keys)`,
        );
      }
      if (store.provision) {
        const url = new URL(store.endpoint);
        if (url.protocol !== "http:" || !["127.0.0.1", "localhost"].includes(url.hostname) || !url.port) {
          problems.push(
            `${at}.endpoint: "${store.endpoint}" must be http://127.0.0.1:<port> when provision is set (drkit ` +
              `starts that sandbox server on loopback)`,
          );
        } else {
          const port = Number(url.port);
          const clash = [port, port + 1].map((p) => sandboxPorts.get(p)).find((other) => other !== undefined);
          if (clash)
            problems.push(
              `${at}.endpoint: "${store.endpoint}" clashes with the sandbox server of object store "${clash}" ` +
                `(each uses its port and port + 1 for its console)`,
            );
          else [port, port + 1].forEach((p) => sandboxPorts.set(p, name));
        }
        const dir = path.posix.normalize(store.provision.dataDirectory).replace(/\/$/, "");
        if (sandboxDirs.has(dir))
          problems.push(
            `${at}.provision.dataDirectory: "${store.provision.dataDirectory}" is already the data directory of ` +
              `object store "${sandboxDirs.get(dir)}"`,
          );
        else sandboxDirs.set(dir, name);
      }
    } else {
      if (store.replication && store.replication.region === store.region) {
        problems.push(
          `${at}.replication.region: "${store.region}" is the bucket's own region; cross-region replication needs ` +
            `another region`,
        );
      }
      const keys = [
        ["kmsKeyArn", store.kmsKeyArn, store.region],
        ["replication.kmsKeyArn", store.replication?.kmsKeyArn, store.replication?.region],
      ] as const;
      for (const [field, key, region] of keys) {
        const problem = key && region ? kmsKeyProblem(key, region) : undefined;
        if (problem) problems.push(`${at}.${field}: ${problem}`);
      }
      problems.push(...transitionProblems(lifecycleOf(config, name, store), at));
    }
  }
  return problems;
}

/** mc aliases are MC_HOST_<alias> variable names: letters, digits and '_'. */
const aliasOf = (store: string) => `drkit_${store.replace(/-/g, "_")}`;

export function offsitePlan(
  service: string,
  offsite: NonNullable<ParsedService["offsite"]>,
  stores: Record<string, ParsedObjectStore>,
  onHost: (p: string) => string,
  archive: ArchivePlan,
): OffsitePlan {
  return {
    targets: offsite.targets.map((name) => {
      const store = stores[name];
      const endpoint =
        store.type === "minio" ? store.endpoint : (store.endpoint ?? `https://s3.${store.region}.amazonaws.com`);
      return {
        store: name,
        alias: aliasOf(name),
        endpoint: endpoint.replace(/\/$/, ""),
        bucket: store.bucket,
        prefix: archive.current.prefix,
        credentialsFile: onHost(`/etc/drkit/${service}/offsite-${name}.env`),
        accessKey: store.accessKey,
        secretKey: store.secretKey,
        ...(store.caCertificate
          ? { ca: { file: onHost(`/etc/drkit/${service}/ca-${name}.crt`), pem: store.caCertificate } }
          : {}),
      };
    }),
    mc: onHost(offsite.mc),
    retryAttempts: offsite.retry.attempts,
    retryInitialDelaySeconds: parseDuration(offsite.retry.initialDelay)!,
    parallel: offsite.parallel,
    callTimeoutSeconds: parseDuration(offsite.callTimeout)!,
    maxBacklogBytes: parseSize(offsite.maxBacklog)!,
    lagBudgetSeconds: parseDuration(offsite.lagBudget)!,
    markerDir: archive.current.markerDir,
    ...(offsite.encryption
      ? {
          encryption: {
            recipientsFile: onHost(`/etc/drkit/${service}/offsite-recipients.txt`),
            recipients: offsite.encryption.recipients,
            identity: offsite.encryption.identity,
          },
        }
      : {}),
  };
}

/** An http(s) URL whose host is a loopback address (127.0.0.0/8) or localhost. */
function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname;
  return host === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
