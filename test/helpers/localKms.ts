import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { toolchainBin } from "./engine";
import { exited, freePort, stopProcess, waitFor } from "./sandbox";

/** local-kms (an AWS KMS API) on a loopback port, its keys in a directory of its own. */
export interface LocalKms {
  readonly endpoint: string;
  readonly region: string;
  readonly accountId: string;
  /** One KMS API call (`TrentService.<operation>`, JSON in and out); a KMS error is thrown with its type. */
  call(operation: string, body: Record<string, unknown>): Promise<any>;
  stop(): Promise<void>;
}

export async function startLocalKms(parent: string): Promise<LocalKms> {
  const binary = path.join(toolchainBin(), "local-kms");
  if (!fs.existsSync(binary)) throw new Error(`no local-kms in ${toolchainBin()}: run "bash toolchain/setup" first`);
  const dir = fs.mkdtempSync(path.join(parent, "local-kms-"));
  const port = await freePort();
  const region = "eu-central-1";
  const accountId = "111122223333";
  const log = fs.openSync(path.join(dir, "local-kms.log"), "a");
  // It listens on every address of the port; the tests reach it on 127.0.0.1 only.
  // setpriv execs it with a parent-death signal: it goes with this process however that ends.
  const child: ChildProcess = spawn("setpriv", ["--pdeathsig", "SIGKILL", "--", binary], {
    env: {
      PATH: process.env.PATH ?? "",
      PORT: String(port),
      KMS_REGION: region,
      KMS_ACCOUNT_ID: accountId,
      KMS_DATA_PATH: dir,
    },
    stdio: ["ignore", log, log],
  });
  fs.closeSync(log);
  let spawnError: Error | undefined;
  child.on("error", (error) => (spawnError = error));
  const endpoint = `http://127.0.0.1:${port}`;
  const call = async (operation: string, body: Record<string, unknown>) => {
    const res = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": `TrentService.${operation}` },
      body: JSON.stringify(body),
    });
    const answer = (await res.json()) as any;
    if (res.status !== 200) throw new Error(`${operation}: ${answer.__type ?? res.status}: ${answer.message ?? ""}`);
    return answer;
  };
  const stop = async () => {
    await stopProcess(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      "local-kms",
      async () => {
        if (spawnError) throw spawnError;
        if (exited(child))
          throw new Error(`local-kms exited:\n${fs.readFileSync(path.join(dir, "local-kms.log"), "utf8")}`);
        return (await call("ListKeys", {}).catch(() => undefined)) ? true : undefined;
      },
      30,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, region, accountId, call, stop };
}
