import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { toolchainBin } from "./engine";
import { exited, freePort, stopProcess, tempRoot, waitFor } from "./sandbox";
import { makeTestCa } from "./testCa";

/**
 * A Kubernetes control plane on loopback for the tests: etcd, kube-apiserver (HTTPS, a static admin token in
 * system:masters, service accounts signed with a key of its own) and kube-controller-manager (the garbage
 * collector that foreground deletion needs, the endpoints and service-account controllers, the StatefulSet and
 * Job controllers). No scheduler and no kubelet: pods are created and stay Pending.
 */
export interface KubeApiServer {
  /** https://127.0.0.1:<port> */
  readonly url: string;
  /** A kubeconfig for the admin, what the Pulumi provider reads through KUBECONFIG. */
  readonly kubeconfig: string;
  /** The API server's own log: where a failed request shows. */
  readonly logFile: string;
  /** A request as the admin; the body is sent as JSON and the answer parsed when it is JSON. */
  request(method: string, apiPath: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** GET as the admin; fails the caller on anything but 200. */
  get(apiPath: string): Promise<any>;
  /** Stops every process and removes the directory. */
  destroy(): Promise<void>;
}

const binary = (name: string) => {
  const file = path.join(toolchainBin(), name);
  if (!fs.existsSync(file)) throw new Error(`no ${name} in ${toolchainBin()}: run "bash toolchain/setup" first`);
  return file;
};

const openssl = (args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });

export async function startKubeApiServer(label: string): Promise<KubeApiServer> {
  const dir = tempRoot(`kube-${label}`);
  const children: ChildProcess[] = [];
  const killAll = () => {
    for (const c of children) if (!exited(c)) c.kill("SIGKILL");
  };
  const onExit = () => {
    killAll();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", onExit);

  const start = (name: string, args: string[]) => {
    const log = fs.openSync(path.join(dir, `${name}.log`), "a");
    // setpriv execs the server with a parent-death signal: it goes with this process however that ends.
    const child = spawn("setpriv", ["--pdeathsig", "SIGKILL", "--", binary(name), ...args], {
      stdio: ["ignore", log, log],
      env: { ...process.env, HOME: dir },
    });
    fs.closeSync(log);
    children.push(child);
    child.on("error", (error) => fs.appendFileSync(path.join(dir, `${name}.log`), `could not start: ${error}\n`));
    return child;
  };
  const logOf = (name: string) => fs.readFileSync(path.join(dir, `${name}.log`), "utf8").slice(-4000);
  const alive = (child: ChildProcess, name: string) => {
    if (exited(child)) throw new Error(`${name} exited:\n${logOf(name)}`);
  };

  try {
    const ca = makeTestCa(path.join(dir, "pki"), "drkit kube test CA");
    const serving = ca.issue("apiserver", { ips: ["127.0.0.1"], dns: ["localhost"] });
    const saKey = path.join(dir, "pki", "service-accounts.key");
    const saPub = path.join(dir, "pki", "service-accounts.pub");
    openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", saKey]);
    openssl(["pkey", "-in", saKey, "-pubout", "-out", saPub]);
    const token = randomBytes(24).toString("hex");
    const tokens = path.join(dir, "pki", "tokens.csv");
    fs.writeFileSync(tokens, `${token},drkit-admin,drkit-admin,"system:masters"\n`, { mode: 0o600 });

    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcd = start("etcd", [
      "--name=test",
      `--data-dir=${path.join(dir, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=test=${peerUrl}`,
      // a test cluster's state is thrown away: no fsync per write
      "--unsafe-no-fsync",
      "--log-level=warn",
    ]);
    const url = `https://127.0.0.1:${apiPort}`;
    const caPem = fs.readFileSync(ca.certFile);
    const agent = new https.Agent({ ca: caPem });
    const request = (method: string, apiPath: string, body?: unknown) =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        const req = https.request(
          `${url}${apiPath}`,
          {
            method,
            agent,
            timeout: 30_000,
            headers: {
              Authorization: `Bearer ${token}`,
              Accept: "application/json",
              ...(body === undefined ? {} : { "Content-Type": "application/json" }),
            },
          },
          (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (d: string) => (text += d));
            res.on("error", reject);
            res.on("aborted", () => reject(new Error(`${method} ${apiPath}: the answer was cut off`)));
            res.on("end", () => {
              let parsed: any = text;
              try {
                parsed = JSON.parse(text);
              } catch {
                // not JSON (readyz answers "ok")
              }
              resolve({ status: res.statusCode ?? 0, body: parsed });
            });
          },
        );
        req.on("timeout", () => req.destroy(new Error(`${method} ${apiPath}: no answer in 30s`)));
        req.on("error", reject);
        if (body !== undefined) req.write(JSON.stringify(body));
        req.end();
      });

    const apiserver = start("kube-apiserver", [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--cert-dir=${path.join(dir, "apiserver-certs")}`,
      `--tls-cert-file=${serving.certFile}`,
      `--tls-private-key-file=${serving.keyFile}`,
      `--client-ca-file=${ca.certFile}`,
      `--token-auth-file=${tokens}`,
      "--authorization-mode=RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      "--service-cluster-ip-range=10.96.0.0/16",
      "--allow-privileged=true",
      "--profiling=false",
    ]);
    await waitFor(
      "kube-apiserver /readyz",
      async () => {
        alive(etcd, "etcd");
        alive(apiserver, "kube-apiserver");
        const r = await request("GET", "/readyz").catch(() => undefined);
        return r?.status === 200 ? true : undefined;
      },
      90,
    );

    const kubeconfig = path.join(dir, "kubeconfig");
    fs.writeFileSync(
      kubeconfig,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: test",
        "  cluster:",
        `    server: ${url}`,
        `    certificate-authority-data: ${caPem.toString("base64")}`,
        "users:",
        "- name: admin",
        "  user:",
        `    token: ${token}`,
        "contexts:",
        "- name: test",
        "  context: { cluster: test, user: admin }",
        "current-context: test",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    const controllers = start("kube-controller-manager", [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      "--secure-port=0",
      `--service-account-private-key-file=${saKey}`,
      `--root-ca-file=${ca.certFile}`,
      "--profiling=false",
    ]);
    // Ready for the tests once the service-account controller has given the default namespace its account.
    await waitFor(
      "kube-controller-manager (the default namespace's service account)",
      async () => {
        alive(controllers, "kube-controller-manager");
        const r = await request("GET", "/api/v1/namespaces/default/serviceaccounts/default");
        return r.status === 200 ? true : undefined;
      },
      90,
    );

    return {
      url,
      kubeconfig,
      logFile: path.join(dir, "kube-apiserver.log"),
      request,
      async get(apiPath) {
        const r = await request("GET", apiPath);
        if (r.status !== 200) throw new Error(`GET ${apiPath}: ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
        return r.body;
      },
      async destroy() {
        // the controllers first, the store last, each given a few seconds to stop
        for (const c of [...children].reverse()) await stopProcess(c);
        process.off("exit", onExit);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    process.off("exit", onExit);
    onExit();
    throw error;
  }
}
