/**
 * Why a key cannot go into an mc MC_HOST_<alias> value, or undefined. mc does not URL-decode that variable: it
 * splits it with patterns and uses the keys literally (a percent-encoded key is another key; "/" and "+",
 * common in AWS secret keys, must stay as they are). The value is `<scheme>://<access>:<secret>[:<token>]@<host>`
 * with the host after the last '@', so neither key may hold ':' (it would start the secret or a session token),
 * the access key may not hold '@', and no key may be empty or hold whitespace or control characters.
 */
export function mcKeyProblem(role: "access" | "secret", key: unknown): string | undefined {
  if (typeof key !== "string") return "must be text";
  if (key === "") return "must not be empty";
  if (key.includes(":")) return "must not contain ':' (mc splits MC_HOST_* at ':' and takes the keys literally)";
  if (role === "access" && key.includes("@"))
    return "must not contain '@' (mc takes what follows the last '@' as the host)";
  // eslint-disable-next-line no-control-regex -- matching control characters is the point: mc would take them literally
  if (/[\s\u0000-\u001f\u007f]/.test(key)) return "must not contain whitespace or control characters";
  return undefined;
}

/**
 * The value of MC_HOST_<alias>, the one rule for hosts and pods. A bad key fails with a message that names the
 * store and the key's role, never the value.
 */
export function mcHostUrl(store: string, endpoint: string, accessKey: string, secretKey: string): string {
  for (const [role, key] of [
    ["access", accessKey],
    ["secret", secretKey],
  ] as const) {
    const problem = mcKeyProblem(role, key);
    if (problem) throw new Error(`object store ${store}: the ${role} key (secret) ${problem}`);
  }
  const url = new URL(endpoint);
  return `${url.protocol}//${accessKey}:${secretKey}@${url.host}`;
}

/** The line of a target's 0600 credentials file: the agent reads MC_HOST_<alias> from it into mc's environment. */
export function credentialsFileContent(
  store: string,
  alias: string,
  endpoint: string,
  accessKey: string,
  secretKey: string,
): string {
  return (
    `# drkit: credentials of object store ${store} for mc; keep this file mode ` +
    `0600\nMC_HOST_${alias}=${mcHostUrl(store, endpoint, accessKey, secretKey)}\n`
  );
}
