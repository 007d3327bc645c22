import * as pulumi from "@pulumi/pulumi";
import { hostCommand, type HostRef } from "../host/hostCommand";
import { fileResourceName, hostFile } from "../host/hostFile";
import type { ServicePlan } from "../plan/plan";
import { renderServiceFiles } from "../render";
import { provisionScriptPath } from "../render/sandbox";
import { shq } from "../render/shell";

export interface SandboxPostgresArgs {
  readonly host: HostRef;
  readonly plan: ServicePlan;
}

/** Sandbox hosts only: a PostgreSQL cluster under the root prefix, started; destroy stops it and keeps its data. */
export class SandboxPostgres extends pulumi.ComponentResource {
  readonly dataDirectory: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;

  constructor(name: string, args: SandboxPostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drkit:postgres:SandboxPostgres", name, {}, opts);
    const { plan, host } = args;
    if (!plan.postgres.provision) throw new Error(`SandboxPostgres ${name}: service ${plan.name} does not set postgres.provision`);
    const scriptPath = provisionScriptPath(plan);
    const file = renderServiceFiles(plan).find((f) => f.path === scriptPath)!;
    const script = hostFile(fileResourceName(name, scriptPath), host, file, { parent: this });
    const server = hostCommand(
      `${name}-server`,
      host,
      { create: `${shq(scriptPath)} start >&2`, delete: `${shq(scriptPath)} stop >&2` },
      { parent: this, dependsOn: [script] },
    );
    this.dataDirectory = server.create.apply(() => plan.postgres.dataDirectory);
    this.port = pulumi.output(plan.postgres.port);
    this.registerOutputs({ dataDirectory: this.dataDirectory, port: this.port });
  }
}
