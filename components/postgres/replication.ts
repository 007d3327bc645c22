import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { hostCommand, type HostRef } from "../host/hostCommand";
import { fileResourceName, hostFile } from "../host/hostFile";
import type { ServicePlan, StandbyPlan } from "../plan/plan";
import { renderReplicationDropInFile, renderServiceFiles, renderStandbyFiles, type RenderedFile } from "../render";
import { failoverScriptPath, rejoinScriptPath, setupReplicationScriptPath } from "../render/replication";
import { shq } from "../render/shell";
import { postgresDropIn } from "./postgresDropIn";

const pgpassFile = (plan: ServicePlan, path: string): RenderedFile => ({
  path,
  content: "",
  mode: "0600",
  owner: plan.postgres.osUser,
  group: plan.postgres.osUser,
  kind: "postgres-conf",
  secret: true,
});

export interface ReplicationPrimaryArgs {
  readonly plan: ServicePlan;
  readonly host: HostRef;
}

/**
 * The primary's side of streaming replication: a generated password (a Pulumi secret end to end, written
 * only to a 0600 pgpass file), the sized drop-in, and the role, slots and pg_hba entries.
 */
export class ReplicationPrimary extends pulumi.ComponentResource {
  /** The pgpass line `*:*:*:<role>:<password>`, secret. */
  readonly pgpass: pulumi.Output<string>;

  constructor(name: string, args: ReplicationPrimaryArgs, opts?: pulumi.ComponentResourceOptions) {
    const { plan, host } = args;
    const r = plan.replication;
    if (!r) throw new Error(`ReplicationPrimary ${name}: service ${plan.name} declares no standbys`);
    super("drkit:postgres:ReplicationPrimary", name, {
      service: plan.name,
      standbys: r.standbys.length,
      synchronousStandbys: r.standbys.filter((s) => s.synchronous).length,
      maxSlotWalKeepSizeMb: r.maxSlotWalKeepSizeMb,
    }, opts);
    const password = new random.RandomPassword(`${name}-password`, { length: 32, special: false }, { parent: this });
    this.pgpass = pulumi.secret(pulumi.interpolate`*:*:*:${r.role}:${password.result}\n`);
    const passFile = hostFile(`${name}-pgpass`, host, pgpassFile(plan, r.passFile), { parent: this }, this.pgpass);
    const setupPath = setupReplicationScriptPath(plan);
    const setupScript = hostFile(fileResourceName(name, setupPath), host, renderServiceFiles(plan).find((f) => f.path === setupPath)!, { parent: this });
    // The runbook scripts an operator (or the drill) runs: fail over to a standby, rejoin the old primary.
    const runbooks = new Set([failoverScriptPath(plan), rejoinScriptPath(plan)]);
    for (const file of renderServiceFiles(plan).filter((f) => runbooks.has(f.path))) {
      hostFile(fileResourceName(name, file.path), host, file, { parent: this });
    }
    const dropIn = renderReplicationDropInFile(plan);
    const applied = postgresDropIn(`${name}-dropin`, host, plan, dropIn, { parent: this });
    // Re-run when the standbys, the settings or the password change.
    hostCommand(`${name}-setup`, host, { create: `${shq(setupPath)} >&2`, triggers: [dropIn.content, this.pgpass] }, { parent: this, dependsOn: [passFile, setupScript, applied] });
    this.registerOutputs({ pgpass: this.pgpass });
  }
}

export interface StandbyArgs {
  readonly plan: ServicePlan;
  readonly standby: StandbyPlan;
  readonly host: HostRef;
  /** The primary's pgpass line (secret), copied to the standby's host. */
  readonly pgpass: pulumi.Input<string>;
}

/** One standby: its passfile, its clone script, and the clone; destroy stops it and keeps its data. */
export class Standby extends pulumi.ComponentResource {
  readonly port: pulumi.Output<number>;

  constructor(name: string, args: StandbyArgs, opts?: pulumi.ComponentResourceOptions) {
    const { plan, standby, host } = args;
    super("drkit:postgres:Standby", name, { service: plan.name, standby: standby.name, synchronous: standby.synchronous, port: standby.port }, opts);
    const passFile = hostFile(`${name}-pgpass`, host, pgpassFile(plan, standby.passFile), { parent: this }, args.pgpass);
    const file = renderStandbyFiles(plan).find((f) => f.standby === standby.name)!;
    const script = hostFile(fileResourceName(name, file.path), host, file, { parent: this });
    const stop =
      standby.manager.type === "systemd"
        ? `systemctl stop ${shq(standby.manager.unit)}`
        : `if runuser -u ${shq(plan.postgres.osUser)} -- ${shq(`${plan.postgres.binDirectory}/pg_ctl`)} -D ${shq(standby.dataDirectory)} status >/dev/null 2>&1; then runuser -u ${shq(plan.postgres.osUser)} -- ${shq(`${plan.postgres.binDirectory}/pg_ctl`)} -D ${shq(standby.dataDirectory)} -m fast -w stop >&2; fi`;
    hostCommand(`${name}-clone`, host, { create: `${shq(file.path)} >&2`, delete: stop }, { parent: this, dependsOn: [passFile, script] });
    this.port = pulumi.output(standby.port);
    this.registerOutputs({ port: this.port });
  }
}
