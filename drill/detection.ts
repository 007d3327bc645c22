import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { ServicePlan } from "../components/plan/plan";
import { sleep } from "./context";

/** When an alert that watches a disaster fired, seen by the Prometheus the drill runs beside the sandbox. */
export interface Detection {
  readonly alert: string;
  readonly firedAt: Date;
}

/**
 * A node_exporter (textfile collector on the service's metrics directory) and a Prometheus evaluating the
 * service's rendered rules, both on loopback, scraping and evaluating every second: what the drill asks whether
 * a disaster was detected, and when.
 */
export class Detector {
  private constructor(
    /** Prometheus's HTTP API, for callers that query it themselves. */
    readonly url: string,
    private readonly children: readonly ChildProcess[],
    private readonly dir: string,
  ) {}

  /**
   * Starts both servers; resolves once Prometheus has scraped the exporter and evaluated the rules. `started`
   * gets the detector as soon as its servers exist, so an interrupted wait can still stop them.
   */
  static async start(
    plan: ServicePlan,
    progress: (line: string) => void,
    started?: (detector: Detector) => void,
  ): Promise<Detector> {
    const m = plan.monitoring;
    if (!m) throw new Error(`service ${plan.name} has no monitoring section: nothing to detect a disaster with`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-drill-prometheus-"));
    const [exporterPort, prometheusPort] = [await freePort(), await freePort()];
    fs.writeFileSync(
      path.join(dir, "prometheus.yml"),
      [
        "global: { scrape_interval: 1s, evaluation_interval: 1s }",
        `rule_files: [${JSON.stringify(m.rulesFile)}]`,
        `scrape_configs: [{ job_name: node, static_configs: [{ targets: ["127.0.0.1:${exporterPort}"] }] }]`,
        "",
      ].join("\n"),
    );
    const log = fs.openSync(path.join(dir, "servers.log"), "a");
    const run = (command: string, args: string[]) => spawn(command, args, { stdio: ["ignore", log, log] });
    const children = [
      run("runuser", [
        "-u",
        "prometheus",
        "--",
        "prometheus-node-exporter",
        `--web.listen-address=127.0.0.1:${exporterPort}`,
        "--collector.disable-defaults",
        "--collector.textfile",
        `--collector.textfile.directory=${m.textfileDirectory}`,
      ]),
      run("prometheus", [
        `--config.file=${path.join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${path.join(dir, "tsdb")}`,
        `--web.listen-address=127.0.0.1:${prometheusPort}`,
      ]),
    ];
    fs.closeSync(log);
    const detector = new Detector(`http://127.0.0.1:${prometheusPort}`, children, dir);
    started?.(detector);
    try {
      for (let i = 0; ; i++) {
        if (await detector.ready()) break;
        if (i >= 120)
          throw new Error(
            `Prometheus did not scrape the sandbox's metrics within 60s: ` +
              fs.readFileSync(path.join(dir, "servers.log"), "utf8").slice(-1000),
          );
        await sleep(500);
      }
    } catch (error) {
      await detector.stop();
      throw error;
    }
    progress(`monitoring: Prometheus on ${detector.url} evaluates ${m.rulesFile} every second`);
    return detector;
  }

  private async get<T>(api: string): Promise<T | undefined> {
    try {
      const response = await fetch(`${this.url}${api}`, { signal: AbortSignal.timeout(5000) });
      return response.ok ? ((await response.json()) as { data: T }).data : undefined;
    } catch {
      return undefined;
    }
  }

  private async ready(): Promise<boolean> {
    const up = await this.get<{ result: Array<{ value: [number, string] }> }>("/api/v1/query?query=up");
    const rules = await this.get<{ groups: Array<{ lastEvaluation: string }> }>("/api/v1/rules");
    return up?.result[0]?.value[1] === "1" && (rules?.groups.length ?? 0) > 0;
  }

  /**
   * Waits until one of the alerts fires (its `for:` has passed) and reports which and since when; undefined when
   * none fired within the bound.
   */
  async firing(alerts: readonly string[], boundSeconds: number, since: Date): Promise<Detection | undefined> {
    const deadline = Date.now() + boundSeconds * 1000;
    while (Date.now() < deadline) {
      // Only an alert that became active after the disaster: one still firing from an earlier one does not count.
      const fired = (await this.active(alerts)).find(
        (a) => a.state === "firing" && Date.parse(a.activeAt) >= since.getTime(),
      );
      if (fired) return { alert: fired.labels.alertname, firedAt: new Date() };
      await sleep(500);
    }
    return undefined;
  }

  /** Waits until none of the alerts is pending or firing (monitoring sees the service back); false past the bound. */
  async quiet(alerts: readonly string[], boundSeconds: number): Promise<boolean> {
    const deadline = Date.now() + boundSeconds * 1000;
    while (Date.now() < deadline) {
      if ((await this.active(alerts)).length === 0) return true;
      await sleep(500);
    }
    return false;
  }

  private async active(alerts: readonly string[]) {
    const data = await this.get<{
      alerts: Array<{ labels: Record<string, string>; state: string; activeAt: string }>;
    }>("/api/v1/alerts");
    return (data?.alerts ?? []).filter((a) => alerts.includes(a.labels.alertname));
  }

  /** At once, for a process about to exit: both servers killed, Prometheus's data removed. */
  kill(): void {
    // runuser passes SIGTERM on to node_exporter (SIGKILL would orphan it); Prometheus must not write into its
    // folder once that is removed.
    for (const child of this.children)
      if (child.exitCode === null && child.signalCode === null)
        child.kill(child.spawnfile === "runuser" ? "SIGTERM" : "SIGKILL");
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Stops both servers (each is given 10 s) and removes Prometheus's data. */
  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
            child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill("SIGTERM");
          }),
      ),
    );
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
