import * as pulumi from "@pulumi/pulumi";
import { serviceArtifacts } from "../artifacts/hostArtifacts";
import { hostCommand, type HostRef } from "../host/hostCommand";
import { artifactResourceName, hostFile } from "../host/hostFile";
import type { ServicePlan } from "../plan/plan";
import { credentialsFileContent } from "./mcHost";
import type { StoreKeys } from "./minio";

export interface OffsiteShippingArgs {
  readonly host: HostRef;
  readonly plan: ServicePlan;
  /** Keys of every target store, by store name (Pulumi secrets). */
  readonly keys: Readonly<Record<string, StoreKeys>>;
}

/**
 * The host side of the off-site copies that is not a job: the 0600 credentials file of each target (a secret
 * end to end), the CA certificate of a target that has its own, the age recipients of a service that encrypts,
 * and on a sandbox host the mc binary the agent calls. The uploads themselves are the agent's (archive-wal and the
 * backup jobs call ship-offsite; restores call fetch-offsite).
 */
export class OffsiteShipping extends pulumi.ComponentResource {
  readonly targets: pulumi.Output<string[]>;

  constructor(name: string, args: OffsiteShippingArgs, opts?: pulumi.ComponentResourceOptions) {
    const { plan, host } = args;
    super(
      "drkit:objectstore:OffsiteShipping",
      name,
      { service: plan.name, targets: plan.offsite?.targets.map((t) => t.store) ?? [] },
      opts,
    );
    if (!plan.offsite) throw new Error(`OffsiteShipping ${name}: service ${plan.name} has no offsite section`);
    const missing = plan.offsite.targets.filter((t) => !args.keys[t.store]).map((t) => t.store);
    if (missing.length)
      throw new Error(`OffsiteShipping ${name}: no keys given for object store(s) ${missing.join(", ")}`);

    const artifacts = serviceArtifacts(plan);
    for (const target of plan.offsite.targets) {
      const keys = args.keys[target.store];
      const content = pulumi.secret(
        pulumi
          .all([keys.accessKey, keys.secretKey])
          .apply(([accessKey, secretKey]) =>
            credentialsFileContent(target.store, target.alias, target.endpoint, accessKey, secretKey),
          ),
      );
      const file = artifacts.file(`credentials:${target.store}`);
      hostFile(artifactResourceName(name, file.id), host, file, { parent: this }, content);
      if (target.ca) {
        const ca = artifacts.file(`ca:${target.store}`);
        hostFile(artifactResourceName(name, ca.id), host, ca, { parent: this });
      }
    }
    // The age recipients: public keys, which every object is encrypted to before it leaves.
    if (artifacts.has("offsite:recipients")) {
      const recipients = artifacts.file("offsite:recipients");
      hostFile(artifactResourceName(name, recipients.id), host, recipients, { parent: this });
    }
    if (artifacts.has("step:install-mc")) {
      const install = artifacts.step("step:install-mc").run;
      hostCommand(`${name}-mc`, host, { create: install, update: install }, { parent: this });
    }
    this.targets = pulumi.output(plan.offsite.targets.map((t) => t.store));
    this.registerOutputs({ targets: this.targets });
  }
}
