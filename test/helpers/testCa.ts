import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface IssuedCertificate {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface TestCa {
  /** The CA's certificate (PEM): what a client trusts. */
  readonly certFile: string;
  /** A server (or client) certificate for these names and IP addresses, signed by the CA, valid as long as it. */
  issue(
    name: string,
    altNames: { ips?: string[]; dns?: string[] },
    usage?: "serverAuth" | "clientAuth",
  ): IssuedCertificate;
  /** The system's CA bundle plus this CA, for SSL_CERT_FILE. */
  bundleWithSystem(): string;
}

const openssl = (args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });

/**
 * A private certificate authority in `dir` (P-256 keys), for servers that tests reach over TLS; it and what it
 * issues are valid for `days` days.
 */
export function makeTestCa(dir: string, label = "drkit test CA", days = 2): TestCa {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const certFile = path.join(dir, "ca.crt");
  const keyFile = path.join(dir, "ca.key");
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl([
    "req",
    "-x509",
    ...ecKey,
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    String(days),
    "-subj",
    `/CN=${label}`,
  ]);
  return {
    certFile,
    issue(name, altNames, usage = "serverAuth") {
      if (!/^[a-z0-9][a-z0-9.-]*$/.test(name)) throw new Error(`certificate name "${name}" is not a host name`);
      const base = path.join(dir, name);
      openssl(["req", ...ecKey, "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", `/CN=${name}`]);
      const san = [...(altNames.ips ?? []).map((ip) => `IP:${ip}`), ...(altNames.dns ?? []).map((d) => `DNS:${d}`)];
      if (san.length === 0) throw new Error(`certificate ${name}: give at least one IP address or DNS name`);
      fs.writeFileSync(
        `${base}.ext`,
        [
          `subjectAltName=${san.join(",")}`,
          "basicConstraints=CA:FALSE",
          "keyUsage=digitalSignature",
          `extendedKeyUsage=${usage}`,
          "",
        ].join("\n"),
      );
      openssl(
        ["x509", "-req", "-in", `${base}.csr`, "-CA", certFile, "-CAkey", keyFile, "-CAcreateserial"].concat([
          "-out",
          `${base}.crt`,
          "-days",
          String(days),
          "-extfile",
          `${base}.ext`,
        ]),
      );
      return { certFile: `${base}.crt`, keyFile: `${base}.key` };
    },
    bundleWithSystem() {
      const bundle = path.join(dir, "bundle.crt");
      const system = fs.readFileSync("/etc/ssl/certs/ca-certificates.crt", "utf8");
      fs.writeFileSync(bundle, `${system}\n${fs.readFileSync(certFile, "utf8")}`);
      return bundle;
    },
  };
}

export interface ServerTlsPems {
  readonly ca: string;
  readonly certificate: string;
  readonly key: string;
}

/** PEM texts of a fresh CA and a server certificate and key it signed for these names (a stack's TLS block). */
export function serverTlsPems(altNames: { ips?: string[]; dns?: string[] }, label = "drkit test CA"): ServerTlsPems {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-test-ca-"));
  try {
    const ca = makeTestCa(path.join(dir, "ca"), label);
    const issued = ca.issue("server", altNames);
    const read = (file: string) => fs.readFileSync(file, "utf8");
    return { ca: read(ca.certFile), certificate: read(issued.certFile), key: read(issued.keyFile) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
