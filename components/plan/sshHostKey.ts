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
  const fields_ = wireFields(Buffer.from(data, "base64"));
  const inner = fields_?.[0]?.toString("latin1") ?? "";
  if (inner && inner !== type)
    return { problem: `says ${type} but its key data is a ${inner} key: the line is mixed up` };
  // The wire format: the type, then the key's own fields, each length-prefixed, filling the blob exactly.
  const whole = fields_ !== undefined && fields_.length >= 2 && (type !== "ssh-ed25519" || fields_[1].length === 32);
  if (!inner || !whole) return { problem: `${expected}; the key data after ${type} is cut short` };
  return { key: `${type} ${data}` };
}

/** The length-prefixed fields of an SSH public key blob, or undefined when the last one overruns the blob. */
function wireFields(blob: Buffer): Buffer[] | undefined {
  const fields: Buffer[] = [];
  for (let at = 0; at < blob.length;) {
    if (at + 4 > blob.length) return fields.length ? undefined : [];
    const length = blob.readUInt32BE(at);
    if (at + 4 + length > blob.length) return fields.length ? undefined : [];
    fields.push(blob.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return fields;
}
