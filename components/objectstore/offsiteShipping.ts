import * as pulumi from "@pulumi/pulumi";
import { installMcCommand } from "../host/commands";
import { hostCommand, type HostRef } from "../host/hostCommand";
import { fileResourceName, hostFile } from "../host/hostFile";
import type { ServicePlan } from "../plan/plan";
import { offsiteCredentialFiles, renderServiceFiles } from "../render";
import { fetchScriptPath } from "../render/offsite";
import type { StoreKeys } from "./minio";

export interface OffsiteShippingArgs {
  readonly host: HostRef;
  readonly plan: ServicePlan;
  /** Keys of every target store, by store name (Pulumi secrets). */
  readonly keys: Readonly<Record<string, StoreKeys>>;
}

/**
 * The host side of the off-site copies that is not a job: the 0600 credentials file of each target (a secret
 * end to end), the fetch-offsite script restores use, and on a sandbox host the mc binary the scripts call.
 * The uploads themselves are archive-wal's and the backup jobs' (ship-offsite, placed by its TimerJob).
 */
export class OffsiteShipping extends pulumi.ComponentResource {
  readonly targets: pulumi.Output<string[]>;

  constructor(name: string, args: OffsiteShippingArgs, opts?: pulumi.ComponentResourceOptions) {
    const { plan, host } = args;
    super("drkit:objectstore:OffsiteShipping", name, { service: plan.name, targets: plan.offsite?.targets.map((t) => t.store) ?? [] }, opts);
    if (!plan.offsite) throw new Error(`OffsiteShipping ${name}: service ${plan.name} has no offsite section`);
    const missing = plan.offsite.targets.filter((t) => !args.keys[t.store]).map((t) => t.store);
    if (missing.length) throw new Error(`OffsiteShipping ${name}: no keys given for object store(s) ${missing.join(", ")}`);

    // Rendered with placeholders only to get path, mode and owner; the content is the secret Output below.
    const files = offsiteCredentialFiles(plan, () => ({ accessKey: "-", secretKey: "-" }));
    plan.offsite.targets.forEach((target, i) => {
      const keys = args.keys[target.store];
      const content = pulumi.secret(
        pulumi.all([keys.accessKey, keys.secretKey]).apply(([accessKey, secretKey]) => offsiteCredentialFiles(plan, () => ({ accessKey, secretKey }))[i].content),
      );
      hostFile(fileResourceName(name, files[i].path), host, files[i], { parent: this }, content);
    });
    const fetch = renderServiceFiles(plan).find((f) => f.path === fetchScriptPath(plan))!;
    hostFile(fileResourceName(name, fetch.path), host, fetch, { parent: this });
    if (plan.rootPrefix && plan.host.connection.type === "local") {
      const install = installMcCommand(plan);
      hostCommand(`${name}-mc`, host, { create: install, update: install }, { parent: this });
    }
    this.targets = pulumi.output(plan.offsite.targets.map((t) => t.store));
    this.registerOutputs({ targets: this.targets });
  }
}
