import * as pulumi from "@pulumi/pulumi";
import { serviceArtifacts } from "../artifacts/hostArtifacts";
import { hostCommand, type HostRef } from "../host/hostCommand";
import type { ServicePlan } from "../plan/plan";

export interface SandboxPostgresArgs {
  readonly host: HostRef;
  readonly plan: ServicePlan;
}

/**
 * Sandbox hosts only: a PostgreSQL cluster under the root prefix, started by the agent's sandbox-postgres (placed
 * before this); destroy stops it and keeps its data.
 */
export class SandboxPostgres extends pulumi.ComponentResource {
  readonly dataDirectory: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;

  constructor(name: string, args: SandboxPostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drkit:postgres:SandboxPostgres", name, {}, opts);
    const { plan, host } = args;
    if (!plan.postgres.provision)
      throw new Error(`SandboxPostgres ${name}: service ${plan.name} does not set postgres.provision`);
    const start = serviceArtifacts(plan).step("step:sandbox-postgres");
    const server = hostCommand(`${name}-server`, host, { create: start.run, delete: start.undo }, { parent: this });
    this.dataDirectory = server.create.apply(() => plan.postgres.dataDirectory);
    this.port = pulumi.output(plan.postgres.port);
    this.registerOutputs({ dataDirectory: this.dataDirectory, port: this.port });
  }
}
