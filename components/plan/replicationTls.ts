import { createPrivateKey, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import type { SecretText } from "./types";

export interface ReplicationTlsInput {
  readonly generate: boolean;
  readonly ca?: string;
  readonly certificate?: string;
  readonly key?: SecretText;
}

/** Where a standby connects and which standbys connect across a network. */
export interface ReplicationTlsContext {
  /** The path of the TLS block in the config or arguments, for messages. */
  readonly at: string;
  readonly primaryAddress: string;
  /** Standbys on another host than the primary's, as "name (host)". */
  readonly remoteStandbys: readonly string[];
  readonly now: Date;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM text, or the reason it does not parse. */
function parseCertificates(pem: string): X509Certificate[] | string {
  try {
    return (pem.match(PEM_BLOCK) ?? []).map((block) => new X509Certificate(block));
  } catch (e) {
    return `does not parse as X.509 (${(e as Error).message})`;
  }
}

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const selfSigned = (c: X509Certificate) => c.checkIssued(c) && c.verify(c.publicKey);

/**
 * The issuers from `leaf` up to a self-signed root in `roots` (libpq accepts no partial chain), each link signed
 * by the next and a CA; undefined when there is no such path.
 */
function chainTo(
  leaf: X509Certificate,
  intermediates: X509Certificate[],
  roots: X509Certificate[],
): X509Certificate[] | undefined {
  const issuers: X509Certificate[] = [];
  let current = leaf;
  for (let depth = 0; depth < 8; depth++) {
    const signedBy = (c: X509Certificate) => c.ca && current.checkIssued(c) && current.verify(c.publicKey);
    const root = roots.find((c) => signedBy(c) && selfSigned(c));
    if (root) return [...issuers, root];
    const next = intermediates.find((c) => c !== current && signedBy(c));
    if (!next) return undefined;
    issuers.push(next);
    current = next;
  }
  return undefined;
}

/** What makes a certificate unusable on `now`: not yet valid, or expired. */
function validityProblem(c: X509Certificate, now: Date): string | undefined {
  if (new Date(c.validFrom) > now) return `not valid before ${c.validFrom}`;
  if (new Date(c.validTo) <= now) return `expired on ${c.validTo}`;
  return undefined;
}

const leafNames = (leaf: X509Certificate, address: string) =>
  (isIP(address) ? leaf.checkIP(address) : leaf.checkHost(address)) !== undefined;

/**
 * What is wrong with a service's replication TLS: missing where a standby connects over a network, generated
 * where the CA would have to leave the primary's host, or a certificate that standbys would refuse
 * (not the CA's, not naming the primary's address, expired, not matching its key).
 */
export function replicationTlsProblems(tls: ReplicationTlsInput | undefined, ctx: ReplicationTlsContext): string[] {
  const at = ctx.at;
  if (!tls) {
    return ctx.remoteStandbys.length === 0
      ? []
      : [
          `${at}: is required when a standby connects over a network (${ctx.remoteStandbys.join(", ")}): ` +
            `give ca, certificate and key for the primary's address ${ctx.primaryAddress}`,
        ];
  }
  if (tls.generate) {
    return ctx.remoteStandbys.length === 0
      ? []
      : [
          `${at}.generate: true only works when every standby is on the primary's host (the generated CA stays ` +
            `there); ${ctx.remoteStandbys.join(", ")} is not: give ca, certificate and key`,
        ];
  }
  const cas = parseCertificates(tls.ca!);
  const chain = parseCertificates(tls.certificate!);
  if (typeof cas === "string") return [`${at}.ca: ${cas}`];
  if (typeof chain === "string") return [`${at}.certificate: ${chain}`];
  const [leaf, ...intermediates] = chain;
  const problems: string[] = [];
  const issuers = chainTo(leaf, intermediates, cas);
  if (!issuers)
    problems.push(
      `${at}.certificate: does not chain to a self-signed CA in ca (subject ${leaf.subject.replace(/\n/g, ", ")})`,
    );
  for (const c of issuers ?? []) {
    const problem = validityProblem(c, ctx.now);
    if (problem) problems.push(`${at}.ca: ${c.subject.replace(/\n/g, ", ")} is ${problem}`);
  }
  const usages = leaf.keyUsage;
  if (usages && !usages.includes(SERVER_AUTH))
    problems.push(`${at}.certificate: its extended key usage (${usages.join(", ")}) does not allow a TLS server`);
  const address = ctx.primaryAddress;
  if (!leafNames(leaf, address))
    problems.push(
      `${at}.certificate: does not name the primary's address ${address} (subjectAltName: ` +
        `${leaf.subjectAltName ?? "none"}); standbys verify it with sslmode=verify-full`,
    );
  const leafValidity = validityProblem(leaf, ctx.now);
  if (leafValidity) problems.push(`${at}.certificate: ${leafValidity}`);
  if (typeof tls.key === "string") {
    const problem = keyProblem(leaf, tls.key);
    if (problem) problems.push(`${at}.key: ${problem}`);
  }
  return problems;
}

/** True when the first certificate of a PEM chain names this address (an IP or a host name). */
export function certificateNames(pem: string, address: string): boolean {
  const chain = parseCertificates(pem);
  return typeof chain !== "string" && chain.length > 0 && leafNames(chain[0], address);
}

function keyProblem(leaf: X509Certificate, pem: string): string | undefined {
  try {
    return leaf.checkPrivateKey(createPrivateKey(pem)) ? undefined : "is not the private key of the certificate";
  } catch {
    return "does not parse as a private key";
  }
}
