import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { agentPath, serviceArtifacts } from "../artifacts/hostArtifacts";
import { HostAgent } from "../host/hostAgent";
import { hostCommand, type HostRef } from "../host/hostCommand";
import { hostFile } from "../host/hostFile";
import { stackSecret } from "../host/stackSecret";
import type { ServicePlan, StandbyPlan } from "../plan/plan";
import { postgresDropIn } from "./postgresDropIn";

export interface ReplicationPrimaryArgs {
  readonly plan: ServicePlan;
  readonly host: HostRef;
}

/**
 * The primary's side of streaming replication: a generated password (a Pulumi secret end to end, written
 * only to a 0600 pgpass file), the sized drop-in, and the role, slots and pg_hba entries.
 */
export class ReplicationPrimary extends pulumi.ComponentResource {
  /** The pgpass lines `*:*:*:<role>:<password>` of the replication and rewind roles, secret. */
  readonly pgpass: pulumi.Output<string>;
  /** The replication certificate's key (secret) from the stack config, for standbys that serve TLS once promoted. */
  readonly tlsKey?: pulumi.Output<string>;

  constructor(name: string, args: ReplicationPrimaryArgs, opts?: pulumi.ComponentResourceOptions) {
    const { plan, host } = args;
    const r = plan.replication;
    if (!r) throw new Error(`ReplicationPrimary ${name}: service ${plan.name} declares no standbys`);
    super(
      "drkit:postgres:ReplicationPrimary",
      name,
      {
        service: plan.name,
        standbys: r.standbys.length,
        synchronousStandbys: r.standbys.filter((s) => s.synchronous).length,
        maxSlotWalKeepSizeMb: r.maxSlotWalKeepSizeMb,
      },
      opts,
    );
    const password = new random.RandomPassword(`${name}-password`, { length: 32, special: false }, { parent: this });
    const rewindPassword = new random.RandomPassword(
      `${name}-rewind-password`,
      { length: 32, special: false },
      { parent: this },
    );
    this.pgpass = pulumi.secret(
      pulumi.interpolate`*:*:*:${r.role}:${password.result}\n*:*:*:${r.rewindRole}:${rewindPassword.result}\n`,
    );
    const artifacts = serviceArtifacts(plan);
    const passFile = hostFile(`${name}-pgpass`, host, artifacts.file("pgpass:primary"), { parent: this }, this.pgpass);
    this.tlsKey = replicationTlsKey(plan);
    const tls = replicationTls(name, plan, host, this, this.tlsKey);
    const dropIn = artifacts.file("dropin:replication");
    const applied = postgresDropIn(`${name}-dropin`, host, dropIn, agentPath(plan, "apply-settings"), {
      parent: this,
      dependsOn: tls,
    });
    // Re-run when the standbys, the settings or the password change. The agent (failover and rejoin included)
    // is placed by the service's PostgresBackup.
    const setup = artifacts.step("step:setup-replication");
    hostCommand(
      `${name}-setup`,
      host,
      // A new certificate from the stack config reaches the server with setup's reload.
      {
        create: setup.run,
        triggers: [dropIn.content, this.pgpass, ...(r.tls?.certificate ? [r.tls.certificate] : [])],
      },
      { parent: this, dependsOn: [passFile, applied] },
    );
    this.registerOutputs({ pgpass: this.pgpass });
  }
}

/** The replication certificate's key from the stack config (secret); none when drkit makes it or without TLS. */
function replicationTlsKey(plan: ServicePlan): pulumi.Output<string> | undefined {
  const tls = plan.replication?.tls;
  if (!tls || tls.generate) return undefined;
  return stackSecret(tls.key, `services.${plan.name}.replication.tls.key`).apply((k) => `${k.trim()}\n`);
}

/** The primary's replication TLS files, placed from the stack config or made on its host; none without TLS. */
function replicationTls(
  name: string,
  plan: ServicePlan,
  host: HostRef,
  parent: pulumi.Resource,
  key: pulumi.Output<string> | undefined,
): pulumi.Resource[] {
  const tls = plan.replication!.tls;
  if (!tls) return [];
  const artifacts = serviceArtifacts(plan);
  if (tls.generate) {
    const make = artifacts.step("step:replication-tls");
    return [
      hostCommand(
        `${name}-tls`,
        host,
        { create: make.run, delete: make.undo, triggers: [plan.replication!.primaryAddress] },
        { parent },
      ),
    ];
  }
  return [
    hostFile(`${name}-tls-ca`, host, artifacts.file("tls:ca"), { parent }),
    hostFile(`${name}-tls-certificate`, host, artifacts.file("tls:certificate"), { parent }),
    hostFile(`${name}-tls-key`, host, artifacts.file("tls:key"), { parent }, key),
  ];
}

export interface StandbyArgs {
  readonly plan: ServicePlan;
  readonly standby: StandbyPlan;
  readonly host: HostRef;
  /** The primary's pgpass line (secret), copied to the standby's host. */
  readonly pgpass: pulumi.Input<string>;
  /** The replication certificate's key (secret), for a standby that serves TLS once promoted. */
  readonly tlsKey?: pulumi.Input<string>;
}

/**
 * One standby: its passfile, the agent and its settings on its host, and the clone; destroy stops it, keeps its data.
 */
export class Standby extends pulumi.ComponentResource {
  readonly port: pulumi.Output<number>;

  constructor(name: string, args: StandbyArgs, opts?: pulumi.ComponentResourceOptions) {
    const { plan, standby, host } = args;
    super(
      "drkit:postgres:Standby",
      name,
      { service: plan.name, standby: standby.name, synchronous: standby.synchronous, port: standby.port },
      opts,
    );
    const artifacts = serviceArtifacts(plan);
    const own = `standby:${standby.name}:`;
    const passFile = artifacts.has(`pgpass:${standby.name}`)
      ? [hostFile(`${name}-pgpass`, host, artifacts.file(`pgpass:${standby.name}`), { parent: this }, args.pgpass)]
      : [];
    const tlsCa = artifacts.has(`${own}tls-ca`)
      ? [hostFile(`${name}-tls-ca`, host, artifacts.file(`${own}tls-ca`), { parent: this })]
      : [];
    const servedCertificate = artifacts.has(`${own}tls-certificate`)
      ? artifacts.file(`${own}tls-certificate`)
      : undefined;
    const serverTls = servedCertificate
      ? [
          hostFile(`${name}-tls-certificate`, host, servedCertificate, { parent: this }),
          hostFile(`${name}-tls-key`, host, artifacts.file(`${own}tls-key`), { parent: this }, args.tlsKey),
        ]
      : [];
    const agent = new HostAgent(
      `${name}-agent`,
      { host, files: [...artifacts.matching(`${own}agent:`, "file"), artifacts.file(`${own}settings`)] },
      { parent: this },
    );
    // A standby on the primary's host is checked against the archive first (it never claims it).
    const checkId = `step:check-archive:${standby.name}`;
    const check = artifacts.has(checkId)
      ? [
          hostCommand(
            `${name}-check-archive`,
            host,
            { create: artifacts.step(checkId).run },
            { parent: this, dependsOn: [agent] },
          ),
        ]
      : [];
    const clone = artifacts.step(`step:clone:${standby.name}`);
    hostCommand(
      `${name}-clone`,
      host,
      // The standby's settings and the certificate it serves as stdin (unread): when they change (TLS turned on,
      // another primary address, a renewed certificate) the clone step runs again in place and brings an existing
      // standby up to date.
      {
        create: clone.run,
        update: clone.run,
        delete: clone.undo,
        stdin: artifacts.file(`${own}settings`).content + (servedCertificate?.content ?? ""),
      },
      { parent: this, dependsOn: [...passFile, ...tlsCa, ...serverTls, agent, ...check] },
    );
    this.port = pulumi.output(standby.port);
    this.registerOutputs({ port: this.port });
  }
}
