import * as fs from "node:fs";
import type { DrPlan, ServicePlan } from "../components/plan/plan";
import { parseMetrics, serviceStatus, type Sample, type StatusRow } from "../components/monitoring/status";

/** The service's metrics files on a local host: drkit_<service>_*.prom in its textfile directory. */
function localSamples(plan: ServicePlan): Sample[] {
  const dir = plan.monitoring!.textfileDirectory;
  if (plan.host.connection.type !== "local")
    throw new Error(
      `service ${plan.name} runs on host ${plan.host.name}, reached over SSH: give --prometheus <url> to read its ` +
        `metrics from the Prometheus that scrapes it`,
    );
  if (!fs.existsSync(dir)) throw new Error(`service ${plan.name}: no metrics directory ${dir} (not provisioned yet?)`);
  const prefix = `drkit_${plan.name}_`;
  return fs
    .readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith(".prom"))
    .flatMap((f) => parseMetrics(fs.readFileSync(`${dir}/${f}`, "utf8")));
}

/** The service's drkit series from a Prometheus server's query API. */
async function prometheusSamples(url: string, plan: ServicePlan): Promise<Sample[]> {
  const query = `{__name__=~"drkit_.+",service="${plan.name}"}`;
  const response = await fetch(`${url.replace(/\/+$/, "")}/api/v1/query?query=${encodeURIComponent(query)}`, {
    signal: AbortSignal.timeout(10_000),
  });
  if (!response.ok) throw new Error(`Prometheus at ${url} answered ${response.status} to ${query}`);
  const body = (await response.json()) as {
    data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  };
  return body.data.result.map(({ metric, value }) => {
    const { __name__: name, ...labels } = metric;
    return { name, labels, value: Number(value[1]) };
  });
}

/** Every monitored service's status rows; a service without monitoring is named in an error. */
export async function stackStatus(plan: DrPlan, prometheusUrl?: string): Promise<StatusRow[]> {
  const unmonitored = plan.services.filter((s) => !s.monitoring).map((s) => s.name);
  if (unmonitored.length === plan.services.length)
    throw new Error(`no service of this stack has a monitoring section (${unmonitored.join(", ")}): nothing to read`);
  const rows: StatusRow[] = [];
  for (const service of plan.services.filter((s) => s.monitoring)) {
    const samples = prometheusUrl ? await prometheusSamples(prometheusUrl, service) : localSamples(service);
    rows.push(...serviceStatus(service, samples, Date.now() / 1000));
  }
  return rows;
}

export function formatStatus(rows: readonly StatusRow[]): string {
  const header: StatusRow = {
    service: "service",
    what: "what",
    value: "measured",
    objective: "objective",
    verdict: "ok",
  };
  const cells = (r: StatusRow) => [r.service, r.what, r.value, r.objective, r === header ? "verdict" : r.verdict];
  const widths = cells(header).map((_, i) => Math.max(...[header, ...rows].map((r) => cells(r)[i].length)));
  const line = (r: StatusRow) =>
    cells(r)
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
