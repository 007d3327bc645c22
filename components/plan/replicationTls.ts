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
  /** The stack config path of the service's `replication` block, for messages. */
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

/** Whether `leaf` chains up to one of `roots`, through `intermediates`, each link signed by the next. */
function chainsTo(leaf: X509Certificate, intermediates: X509Certificate[], roots: X509Certificate[]): boolean {
  let current = leaf;
  for (let depth = 0; depth < 8; depth++) {
    const signedBy = (c: X509Certificate) => current.checkIssued(c) && current.verify(c.publicKey);
    if (roots.some(signedBy)) return true;
    const next = intermediates.find((c) => c !== current && signedBy(c));
    if (!next) return false;
    current = next;
  }
  return false;
}

/**
 * What is wrong with a service's replication TLS: missing where a standby connects over a network, generated
 * where the CA would have to leave the primary's host, or a certificate that standbys would refuse
 * (not the CA's, not naming the primary's address, expired, not matching its key).
 */
export function replicationTlsProblems(tls: ReplicationTlsInput | undefined, ctx: ReplicationTlsContext): string[] {
  const at = `${ctx.at}.tls`;
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
  if (!chainsTo(leaf, intermediates, cas))
    problems.push(`${at}.certificate: is not signed by tls.ca (subject ${leaf.subject.replace(/\n/g, ", ")})`);
  const address = ctx.primaryAddress;
  const names = isIP(address) ? leaf.checkIP(address) : leaf.checkHost(address);
  if (names === undefined)
    problems.push(
      `${at}.certificate: does not name the primary's address ${address} (subjectAltName: ` +
        `${leaf.subjectAltName ?? "none"}); standbys verify it with sslmode=verify-full`,
    );
  if (new Date(leaf.validTo) <= ctx.now) problems.push(`${at}.certificate: expired on ${leaf.validTo}`);
  if (typeof tls.key === "string") {
    const problem = keyProblem(leaf, tls.key);
    if (problem) problems.push(`${at}.key: ${problem}`);
  }
  return problems;
}

function keyProblem(leaf: X509Certificate, pem: string): string | undefined {
  try {
    return leaf.checkPrivateKey(createPrivateKey(pem)) ? undefined : "is not the private key of tls.certificate";
  } catch {
    return "does not parse as a private key";
  }
}
