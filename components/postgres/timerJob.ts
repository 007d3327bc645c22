import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { disableTimerScript, enableTimerScript } from "../host/commands";
import { hostCommand, type HostRef } from "../host/hostCommand";
import { fileResourceName, hostFile } from "../host/hostFile";
import type { JobPlan, ServicePlan } from "../plan/plan";
import { renderServiceFiles } from "../render";
import { serviceUnitPath, timerUnitPath } from "../render/systemd";

export interface TimerJobArgs {
  readonly host: HostRef;
  readonly plan: ServicePlan;
  readonly job: JobPlan;
}

/** One backup job: its script, a oneshot service, a timer when it is scheduled, and the timer enabled. */
export class TimerJob extends pulumi.ComponentResource {
  readonly unit: pulumi.Output<string>;
  readonly calendar: pulumi.Output<string | undefined>;

  constructor(name: string, args: TimerJobArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drkit:systemd:TimerJob", name, {}, opts);
    const { plan, job, host } = args;
    if (!plan.jobs.some((j) => j.id === job.id)) throw new Error(`TimerJob ${name}: job "${job.id}" is not in the plan of service ${plan.name}`);
    const paths = new Set([job.script, serviceUnitPath(plan, job), timerUnitPath(plan, job)]);
    const files = renderServiceFiles(plan).filter((f) => paths.has(f.path));
    const placed = files.map((f) => hostFile(fileResourceName(name, f.path), host, f, { parent: this }));
    const units = files.filter((f) => f.kind === "unit");
    const digest = createHash("sha256").update(units.map((u) => u.content).join("\0")).digest("hex").slice(0, 16);
    const target = { rootPrefix: plan.rootPrefix, timer: job.calendar ? `${job.unit}.timer` : undefined };
    // The digest makes a unit change an update of this command, which reloads systemd and restarts the timer.
    const enable = `# units ${digest}\n${enableTimerScript(target)}`;
    hostCommand(`${name}-enable`, host, { create: enable, update: enable, delete: disableTimerScript(target) }, { parent: this, dependsOn: placed, deleteBeforeReplace: true });
    this.unit = pulumi.output(job.unit);
    this.calendar = pulumi.output(job.calendar);
    this.registerOutputs({ unit: this.unit, calendar: this.calendar });
  }
}
