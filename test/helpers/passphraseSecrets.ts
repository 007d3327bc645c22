import { createDecipheriv, pbkdf2Sync } from "node:crypto";

/**
 * Pulumi's passphrase secrets, as the engine opens them: the stack file's `encryptionsalt` (v1:<salt>:<a
 * ciphertext of "pulumi">) and the passphrase give an AES-256-GCM key (PBKDF2-SHA256, 1,000,000 rounds); each
 * `secure:` value is v1:<nonce>:<ciphertext and tag>. Returns a function that opens a `secure:` value; it
 * throws when the passphrase is not the stack's.
 */
export function passphraseDecrypter(encryptionSalt: string, passphrase: string): (secure: string) => string {
  const [version, salt, ...check] = encryptionSalt.split(":");
  if (version !== "v1" || !salt) throw new Error(`encryptionsalt "${encryptionSalt}" is not a v1 salt`);
  const key = pbkdf2Sync(passphrase, Buffer.from(salt, "base64"), 1_000_000, 32, "sha256");
  const decrypt = (secure: string) => {
    const [v, nonce, data] = secure.split(":");
    if (v !== "v1" || !nonce || !data) throw new Error("not a v1 secure value");
    const sealed = Buffer.from(data, "base64");
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(nonce, "base64"));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]).toString();
  };
  let opened: string | undefined;
  try {
    opened = decrypt(check.join(":"));
  } catch {
    opened = undefined; // a wrong key fails GCM's authentication
  }
  if (opened !== "pulumi") throw new Error("the passphrase does not open this stack's salt");
  return decrypt;
}

/** A config value with every {secure: ...} in it opened, as the engine hands it to the program. */
export function openSecrets(value: unknown, decrypt: (secure: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => openSecrets(v, decrypt));
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 1 && entries[0][0] === "secure" && typeof entries[0][1] === "string")
      return decrypt(entries[0][1]);
    return Object.fromEntries(entries.map(([k, v]) => [k, openSecrets(v, decrypt)]));
  }
  return value;
}
