import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { freePort, tempRoot } from "./sandbox";

export interface Sshd {
  readonly port: number;
  /** The client's private key (OpenSSH format), authorised for root. */
  readonly privateKey: string;
  stop(): void;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.end();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sshd did not listen on 127.0.0.1:${port} within ${timeoutMs}ms`);
}

/** Debian's sshd on a free loopback port, with its own host key and a generated client key for root. */
export async function startSshd(): Promise<Sshd> {
  const dir = tempRoot("sshd");
  const port = await freePort();
  const keygen = (file: string) => execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file]);
  keygen(path.join(dir, "host_ed25519"));
  keygen(path.join(dir, "client_ed25519"));
  fs.copyFileSync(path.join(dir, "client_ed25519.pub"), path.join(dir, "authorized_keys"));
  fs.writeFileSync(
    path.join(dir, "sshd_config"),
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${dir}/host_ed25519`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "StrictModes no",
      "UsePAM no",
      "AcceptEnv *",
      "",
    ].join("\n"),
  );
  fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const child: ChildProcess = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", path.join(dir, "sshd_config")], {
    stdio: "ignore",
  });
  await waitForPort(port, 10_000);
  return {
    port,
    privateKey: fs.readFileSync(path.join(dir, "client_ed25519"), "utf8"),
    stop() {
      child.kill("SIGTERM");
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
