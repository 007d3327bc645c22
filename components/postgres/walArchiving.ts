import * as pulumi from "@pulumi/pulumi";
import type { HostRef } from "../host/hostCommand";
import { fileResourceName, hostFile } from "../host/hostFile";
import type { ServicePlan } from "../plan/plan";
import { renderPostgresDropIn, renderServiceFiles } from "../render";
import { applySettingsScriptPath, archiveScriptPath, archiveSettings } from "../render/archiving";
import { postgresDropIn } from "./postgresDropIn";

export interface WalArchivingArgs {
  readonly host: HostRef;
  readonly plan: ServicePlan;
}

/**
 * WAL archiving for one PostgreSQL: the archive command, the conf.d drop-in derived from the RPO, and
 * a reload, or a restart only when a changed setting needs one.
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
    super("drkit:postgres:WalArchiving", name, {
      service: plan.name,
      rpoSeconds: plan.rpoSeconds,
      walLevel: "replica",
      archiveMode: "on",
      archiveTimeoutSeconds: plan.archiveTimeoutSeconds,
      // archive-wal uploads each segment before it reports success, so off-site lags by no interval.
      offsiteShipIntervalSeconds: 0,
      offsiteTargets: plan.offsite?.targets.map((t) => t.store) ?? [],
    }, opts);
    const wanted = new Set([archiveScriptPath(plan), applySettingsScriptPath(plan)]);
    const scripts = renderServiceFiles(plan)
      .filter((f) => wanted.has(f.path))
      .map((f) => hostFile(fileResourceName(name, f.path), host, f, { parent: this }));
    const dropIn = renderPostgresDropIn(plan);
    const apply = postgresDropIn(`${name}-dropin`, host, plan, dropIn, { parent: this, dependsOn: scripts });
    const settings = archiveSettings(plan);
    this.dropInPath = apply.create.apply(() => dropIn.path);
    this.archiveTimeoutSeconds = pulumi.output(plan.archiveTimeoutSeconds);
    this.archiveCommand = pulumi.output(settings.find((s) => s.name === "archive_command")!.value);
    this.restartSettings = pulumi.output(settings.filter((s) => s.context === "postmaster").map((s) => s.name));
    this.registerOutputs({
      dropInPath: this.dropInPath,
      archiveTimeoutSeconds: this.archiveTimeoutSeconds,
      archiveCommand: this.archiveCommand,
      restartSettings: this.restartSettings,
    });
  }
}
