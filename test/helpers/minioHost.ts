import * as fs from "node:fs";
import * as path from "node:path";
import { minioBinary } from "./minio";
import { waitFor } from "./sandbox";
import type { IssuedCertificate } from "./testCa";
import type { TestHost } from "./testHosts";

export interface MinioService {
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
}

/**
 * MinIO as a systemd service (`minio.service`, its own system user) on a booted test host, serving HTTPS on
 * port 9000 with the given certificate; `caFile` is the CA that signed it (MinIO's certs/CAs, and what the
 * readiness check trusts). The root credentials live in a 0600 environment file, not in argv.
 */
export async function startMinioService(
  host: TestHost,
  certificate: IssuedCertificate,
  caFile: string,
): Promise<MinioService> {
  const accessKey = `drkit-${host.name}`;
  const secretKey = `secret-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  const at = (p: string) => path.join(host.root, p);
  fs.mkdirSync(at("/etc/minio/certs/CAs"), { recursive: true });
  fs.copyFileSync(caFile, at("/etc/minio/certs/CAs/ca.crt"));
  fs.copyFileSync(certificate.certFile, at("/etc/minio/certs/public.crt"));
  fs.copyFileSync(certificate.keyFile, at("/etc/minio/certs/private.key"));
  fs.copyFileSync(minioBinary(), at("/usr/local/bin/minio"));
  fs.chmodSync(at("/usr/local/bin/minio"), 0o755);
  fs.writeFileSync(at("/etc/default/minio"), `MINIO_ROOT_USER=${accessKey}\nMINIO_ROOT_PASSWORD=${secretKey}\n`, {
    mode: 0o600,
  });
  fs.writeFileSync(
    at("/etc/systemd/system/minio.service"),
    [
      "[Unit]",
      "Description=MinIO object store",
      "After=network-online.target",
      "",
      "[Service]",
      "User=minio-user",
      "EnvironmentFile=/etc/default/minio",
      "ExecStart=/usr/local/bin/minio server --quiet --address :9000 --console-address :9001 " +
        "--certs-dir /etc/minio/certs /var/lib/minio",
      "Restart=on-failure",
      "",
      "[Install]",
      "WantedBy=multi-user.target",
      "",
    ].join("\n"),
  );
  const r = await host.exec(
    [
      "set -e",
      "useradd --system --home-dir /var/lib/minio --shell /usr/sbin/nologin minio-user",
      "install -d -o minio-user -g minio-user -m 0750 /var/lib/minio",
      "chown -R minio-user: /etc/minio",
      "systemctl daemon-reload",
      "systemctl enable --now minio.service",
    ].join("\n"),
  );
  if (r.status !== 0) throw new Error(`minio.service on ${host.name} did not start: ${r.stderr}`);
  const endpoint = `https://${host.address}:9000`;
  await waitFor(`minio.service on ${host.name} to be ready`, async () => {
    const ready = await host.exec(
      `curl -fsS --cacert /etc/minio/certs/CAs/ca.crt -o /dev/null https://${host.address}:9000/minio/health/ready`,
    );
    return ready.status === 0 ? true : undefined;
  });
  return { endpoint, accessKey, secretKey };
}
