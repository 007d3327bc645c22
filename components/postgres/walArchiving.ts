import * as pulumi from "@pulumi/pulumi";
import { agentPath, serviceArtifacts } from "../artifacts/hostArtifacts";
import { archiveCommandOf, archiveSettings } from "../artifacts/postgresConf";
import type { HostRef } from "../host/hostCommand";
import type { ServicePlan } from "../plan/plan";
import { postgresDropIn } from "./postgresDropIn";

export interface WalArchivingArgs {
  readonly host: HostRef;
  readonly plan: ServicePlan;
}

/**
 * WAL archiving for one PostgreSQL: the conf.d drop-in derived from the RPO (its archive_command is the agent's
 * archive-wal, placed before this), and a reload, or a restart only when a changed setting needs one.
 */
export class WalArchiving extends pulumi.ComponentResource {
  readonly dropInPath: pulumi.Output<string>;
  readonly archiveTimeoutSeconds: pulumi.Output<number>;
  readonly archiveCommand: pulumi.Output<string>;
  /** Settings whose change restarts PostgreSQL; the rest only reload it. */
  readonly restartSettings: pulumi.Output<string[]>;

  constructor(name: string, args: WalArchivingArgs, opts?: pulumi.ComponentResourceOptions) {
    const { plan, host } = args;
    // These props are what the policy pack sees of this resource.
    super(
      "drkit:postgres:WalArchiving",
      name,
      {
        service: plan.name,
        rpoSeconds: plan.rpoSeconds,
        walLevel: "replica",
        archiveMode: "on",
        archiveTimeoutSeconds: plan.archiveTimeoutSeconds,
        // The shipper uploads each archived segment within its lag budget in normal operation.
        offsiteShipIntervalSeconds: plan.offsite?.lagBudgetSeconds ?? 0,
        offsiteTargets: plan.offsite?.targets.map((t) => t.store) ?? [],
      },
      opts,
    );
    if (plan.archiveTimeoutSeconds < 10)
      void pulumi.log.warn(
        `services.${plan.name}.rpo: archive_timeout works out to ${plan.archiveTimeoutSeconds}s (the RPO of ` +
          `${plan.rpoSeconds}s less the off-site lag budget); below 10s an idle server archives a WAL segment that ` +
          `often, each of full size: the archive grows by gigabytes a day. A larger RPO or a synchronous standby ` +
          `(RPO 0 on the primary's host) keeps less data at risk for less.`,
        this,
      );
    const dropIn = serviceArtifacts(plan).file("dropin:archiving");
    const apply = postgresDropIn(`${name}-dropin`, host, dropIn, agentPath(plan, "apply-settings"), { parent: this });
    const settings = archiveSettings(plan);
    this.dropInPath = apply.create.apply(() => dropIn.path);
    this.archiveTimeoutSeconds = pulumi.output(plan.archiveTimeoutSeconds);
    this.archiveCommand = pulumi.output(archiveCommandOf(plan));
    this.restartSettings = pulumi.output(settings.filter((s) => s.context === "postmaster").map((s) => s.name));
    this.registerOutputs({
      dropInPath: this.dropInPath,
      archiveTimeoutSeconds: this.archiveTimeoutSeconds,
      archiveCommand: this.archiveCommand,
      restartSettings: this.restartSettings,
    });
  }
}
