import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { mcHostUrl } from "../../components/objectstore/mcHost";
import { toolchainBin } from "./engine";
import { freePort, runAsync, stopProcess, type RunResult } from "./sandbox";

/** A single-drive MinIO server on loopback with its own data directory and root credentials. */
export interface MinioServer {
  readonly name: string;
  readonly endpoint: string;
  readonly port: number;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly dataDirectory: string;
  /** `MC_HOST_<alias>` for this server: mc reads credentials from the environment, never argv. */
  mcHostEnv(alias?: string): Record<string, string>;
  /** Runs mc with this server as alias `name` (and any extra env), in a private MC_CONFIG_DIR. */
  mc(args: string[], env?: Record<string, string>): Promise<RunResult>;
  stop(): Promise<void>;
  /** The server's process id while it runs (the benchmarks read its CPU time). */
  pid(): number | undefined;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
  /** Stops the server and removes its directory. */
  destroy(): Promise<void>;
  /** Kills the server (SIGKILL) and removes its directory, synchronously: for exit and signal handlers. */
  kill(): void;
}

export interface MinioOptions {
  /** The address it listens on (its console too); 127.0.0.1 by default. */
  readonly host?: string;
  /** A command the server runs under, e.g. `["ip", "netns", "exec", "<namespace>"]`; it must exec the server. */
  readonly wrapper?: readonly string[];
  /** The directory its own (data, certs, log) is made in; os.tmpdir() by default. */
  readonly parent?: string;
  /** Serve HTTPS with this certificate; the CA that signed it is the one its own mc trusts. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
  /** More of the server's environment, e.g. `MINIO_KMS_SECRET_KEY` (never argv: it may hold a key). */
  readonly env?: Readonly<Record<string, string>>;
}

export const minioBinary = () => path.join(toolchainBin(), "minio");
export const mcBinary = () => path.join(toolchainBin(), "mc");

export const mcHostValue = (endpoint: string, accessKey: string, secretKey: string): string =>
  mcHostUrl("test", endpoint, accessKey, secretKey);

export const mcEnvName = (alias: string) => `MC_HOST_${alias}`;

/** Starts MinIO as `name` (used as the mc alias) and waits until it serves requests. */
export async function startMinio(name: string, options: MinioOptions = {}): Promise<MinioServer> {
  const host = options.host ?? "127.0.0.1";
  if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`minio alias ${name} must be lowercase letters, digits and _`);
  const dir = fs.mkdtempSync(path.join(options.parent ?? os.tmpdir(), `drkit-minio-${name}-`));
  const dataDirectory = path.join(dir, "data");
  fs.mkdirSync(dataDirectory);
  fs.mkdirSync(path.join(dir, "certs"));
  fs.mkdirSync(path.join(dir, "mc"));
  const port = await freePort();
  const consolePort = await freePort();
  const accessKey = `drkit-${name}`;
  const secretKey = `secret-${name}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  if (options.tls) {
    fs.copyFileSync(options.tls.certFile, path.join(dir, "certs", "public.crt"));
    fs.copyFileSync(options.tls.keyFile, path.join(dir, "certs", "private.key"));
    fs.mkdirSync(path.join(dir, "mc", "certs", "CAs"), { recursive: true });
    fs.copyFileSync(options.tls.caFile, path.join(dir, "mc", "certs", "CAs", "ca.crt"));
  }
  const endpoint = `${options.tls ? "https" : "http"}://${host}:${port}`;
  let child: ChildProcess | undefined;

  const mcHostEnv = (alias = name) => ({ [mcEnvName(alias)]: mcHostValue(endpoint, accessKey, secretKey) });
  const mcEnv = { MC_CONFIG_DIR: path.join(dir, "mc"), MC_DISABLE_PAGER: "1", MC_NO_COLOR: "1" };
  const mc = (args: string[], env: Record<string, string> = {}) =>
    runAsync(mcBinary(), args, { ...mcEnv, ...mcHostEnv(), ...env }, 120_000);

  const start = async () => {
    const log = fs.openSync(path.join(dir, "minio.log"), "a");
    const [command, ...wrapperArgs] = [...(options.wrapper ?? []), minioBinary()];
    child = spawn(
      command,
      [
        ...wrapperArgs,
        "server",
        "--quiet",
        "--certs-dir",
        path.join(dir, "certs"),
        "--address",
        `${host}:${port}`,
        "--console-address",
        `${host}:${consolePort}`,
        dataDirectory,
      ],
      {
        env: {
          ...process.env,
          ...options.env,
          HOME: dir,
          MINIO_ROOT_USER: accessKey,
          MINIO_ROOT_PASSWORD: secretKey,
          MINIO_UPDATE: "off",
          MINIO_BROWSER: "off",
        },
        stdio: ["ignore", log, log],
      },
    );
    fs.closeSync(log);
    const exited = new Promise<void>((resolve) => child!.once("exit", () => resolve()));
    for (let i = 0; i < 120; i++) {
      const ready = await mc(["ready", name]);
      if (ready.status === 0) return;
      const done = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 250)),
      ]);
      if (done) throw new Error(`minio ${name} exited:\n${fs.readFileSync(path.join(dir, "minio.log"), "utf8")}`);
    }
    throw new Error(`minio ${name} not ready after 30s:\n${fs.readFileSync(path.join(dir, "minio.log"), "utf8")}`);
  };

  const stop = async () => {
    const c = child;
    child = undefined;
    if (c) await stopProcess(c);
  };

  try {
    await start();
  } catch (error) {
    // A server that never came up (or a binary that is missing) leaves nothing behind either.
    // SIGKILL without waiting: a binary that could not be started never reports an exit.
    child?.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    name,
    endpoint,
    port,
    accessKey,
    secretKey,
    dataDirectory,
    mcHostEnv,
    mc,
    stop,
    pid: () => child?.pid,
    start,
    destroy: async () => {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    kill: () => {
      if (child?.exitCode === null) child.kill("SIGKILL");
      child = undefined;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
