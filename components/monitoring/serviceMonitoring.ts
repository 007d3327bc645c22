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
    this.rulesFile = pulumi.output(m.rulesFile);
    this.textfileDirectory = pulumi.output(m.textfileDirectory);
    this.registerOutputs({ rulesFile: this.rulesFile, textfileDirectory: this.textfileDirectory });
  }
}
