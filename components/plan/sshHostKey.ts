/**
 * SSH host keys as the stack pins them: one public key, written as in the host's
 * /etc/ssh/ssh_host_<type>_key.pub ("ssh-ed25519 AAAA... comment") or as a known_hosts line
 * ("db1.internal ssh-ed25519 AAAA..."). The key's blob names its own type; a line whose blob says
 * another type than the line is refused, as a copy-paste mix-up would be.
 */

const KEY_TYPES = new Set([
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
]);
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The pinned key as the command provider takes it ("<type> <base64>"), or why the text is not one. */
export function parseSshHostKey(text: string): { key: string } | { problem: string } {
  const fields = text.trim().split(/\s+/);
  const at = fields.findIndex((f) => KEY_TYPES.has(f));
  const expected =
    'must be the host\'s public key: a line of its /etc/ssh/ssh_host_ed25519_key.pub ("ssh-ed25519 AAAA...") ' +
    "or a known_hosts line for it";
  if (fields[0].startsWith("@")) {
    return { problem: `${expected}; a known_hosts marker (${fields[0]}) is not a key to pin` };
  }
  if (at < 0 || at > 1 || fields.length < at + 2) {
    return { problem: `${expected}; key types: ${[...KEY_TYPES].join(", ")}` };
  }
  const [type, data] = [fields[at], fields[at + 1]];
  if (!BASE64.test(data)) return { problem: `${expected}; the part after ${type} is not base64` };
  const blob = Buffer.from(data, "base64");
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  const inner = length > 0 && blob.length >= 4 + length ? blob.subarray(4, 4 + length).toString("latin1") : "";
  if (inner !== type) {
    return {
      problem: inner
        ? `says ${type} but its key data is a ${inner} key: the line is mixed up`
        : `${expected}; the key data after ${type} is cut short`,
    };
  }
  return { key: `${type} ${data}` };
}
