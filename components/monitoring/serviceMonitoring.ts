import * as pulumi from "@pulumi/pulumi";
import { serviceArtifacts } from "../artifacts/hostArtifacts";
import { hostCommand, type HostRef } from "../host/hostCommand";
import { artifactResourceName, hostFile } from "../host/hostFile";
import type { ServicePlan } from "../plan/plan";

export interface ServiceMonitoringArgs {
  readonly host: HostRef;
  readonly plan: ServicePlan;
}

/** The metrics directory every job writes to, the objectives as metrics, and the alert rules, on a service's host. */
export class ServiceMonitoring extends pulumi.ComponentResource {
  readonly rulesFile: pulumi.Output<string>;
  readonly textfileDirectory: pulumi.Output<string>;

  constructor(name: string, args: ServiceMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    const m = args.plan.monitoring;
    if (!m) throw new Error(`ServiceMonitoring ${name}: service ${args.plan.name} has no monitoring section`);
    super("drkit:monitoring:ServiceMonitoring", name, {}, opts);
    const artifacts = serviceArtifacts(args.plan);
    const directory = artifacts.step("step:metrics-directory");
    const placed = hostCommand(
      `${name}-directory`,
      args.host,
      { create: directory.run, update: directory.run },
      { parent: this },
    );
    for (const id of ["metrics:objectives", "metrics:rules"]) {
      hostFile(artifactResourceName(name, id), args.host, artifacts.file(id), { parent: this, dependsOn: [placed] });
    }
    // The exporters, in list order: the role before the exporter that logs in with it, a drop-in before its restart.
    let previous: pulumi.Resource = placed;
    for (const a of artifacts.all.filter((x) => x.id.startsWith("exporter:") || x.id.startsWith("step:exporter:"))) {
      const resource = artifactResourceName(name, a.id);
      const opts = { parent: this, dependsOn: [previous] };
      if (a.kind === "file") previous = hostFile(resource, args.host, a, opts);
      else if (a.kind === "step")
        previous = hostCommand(resource, args.host, { create: a.run, update: a.run, delete: a.undo }, opts);
    }
    this.rulesFile = pulumi.output(m.rulesFile);
    this.textfileDirectory = pulumi.output(m.textfileDirectory);
    this.registerOutputs({ rulesFile: this.rulesFile, textfileDirectory: this.textfileDirectory });
  }
}
