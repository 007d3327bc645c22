import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { serviceArtifacts } from "../artifacts/hostArtifacts";
import { hostCommand, type HostRef } from "../host/hostCommand";
import { artifactResourceName, hostFile } from "../host/hostFile";
import type { JobPlan, ServicePlan } from "../plan/plan";

export interface TimerJobArgs {
  readonly host: HostRef;
  readonly plan: ServicePlan;
  readonly job: JobPlan;
}

/** One backup job: a oneshot service running its agent verb, a timer when it is scheduled, the timer enabled. */
export class TimerJob extends pulumi.ComponentResource {
  readonly unit: pulumi.Output<string>;
  readonly calendar: pulumi.Output<string | undefined>;

  constructor(name: string, args: TimerJobArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drkit:systemd:TimerJob", name, {}, opts);
    const { plan, job, host } = args;
    if (!plan.jobs.some((j) => j.id === job.id))
      throw new Error(`TimerJob ${name}: job "${job.id}" is not in the plan of service ${plan.name}`);
    const artifacts = serviceArtifacts(plan);
    const units = [`unit:${job.id}.service`, `unit:${job.id}.timer`]
      .filter((id) => artifacts.has(id))
      .map((id) => artifacts.file(id));
    const placed = units.map((f) => hostFile(artifactResourceName(name, f.id), host, f, { parent: this }));
    // A long-running service also restarts when its agent files or its settings change.
    const inputs = job.daemon ? [...units, artifacts.file("settings"), ...artifacts.matching("agent:", "file")] : units;
    const digest = createHash("sha256")
      .update(inputs.map((u) => u.content).join("\0"))
      .digest("hex")
      .slice(0, 16);
    const enable = artifacts.step(`step:enable:${job.id}`);
    // The digest makes a unit change an update of this command, which reloads systemd and restarts the timer.
    const run = `# units ${digest}\n${enable.run}`;
    hostCommand(
      `${name}-enable`,
      host,
      { create: run, update: run, delete: enable.undo },
      { parent: this, dependsOn: placed, deleteBeforeReplace: true },
    );
    this.unit = pulumi.output(job.unit);
    this.calendar = pulumi.output(job.calendar);
    this.registerOutputs({ unit: this.unit, calendar: this.calendar });
  }
}
