import * as pulumi from "@pulumi/pulumi";
import { agentPath, serviceArtifacts } from "../artifacts/hostArtifacts";
import { hostCommand, type HostRef } from "../host/hostCommand";
import { artifactResourceName, hostFile } from "../host/hostFile";
import { stackSecret } from "../host/stackSecret";
import type { ServicePlan } from "../plan/plan";
import { TimerJob } from "../postgres/timerJob";

export interface RedisBackupArgs {
  readonly plan: ServicePlan;
  readonly privateKey?: pulumi.Input<string>;
}

/**
 * Redis/Valkey persistence and snapshots for one service: the persistence drop-in applied with CONFIG SET
 * (no restart) and the snapshot job on a timer with retention. The agent's verbs (backup-redis, restore-redis)
 * are placed by the service's PostgresBackup: depend on it.
 */
export class RedisBackup extends pulumi.ComponentResource {
  readonly backupDirectory: pulumi.Output<string>;
  readonly restoreScript: pulumi.Output<string>;

  constructor(name: string, args: RedisBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    const { plan } = args;
    const r = plan.redis;
    if (!r) throw new Error(`RedisBackup ${name}: service ${plan.name} has no redis section in its plan`);
    super(
      "drkit:redis:RedisBackup",
      name,
      {
        service: plan.name,
        appendonly: r.persistence.appendonly,
        appendfsync: r.persistence.appendfsync,
        savePoints: r.persistence.savePoints.map(([s, c]) => [s, c]),
        snapshotMaxIntervalHours: r.snapshotMaxIntervalHours,
        snapshotRetentionDays: r.snapshotRetentionDays,
      },
      opts,
    );
    const host: HostRef = { plan: plan.host, privateKey: args.privateKey };
    const artifacts = serviceArtifacts(plan);
    const dropIn = artifacts.file("dropin:redis");
    const placedDropIn = hostFile(artifactResourceName(name, dropIn.id), host, dropIn, { parent: this });
    const auth = (artifacts.has("credentials:redis") ? [artifacts.file("credentials:redis")] : []).map((file) => {
      const password = stackSecret(r.auth?.password, `services.${plan.name}.redis.auth.password`);
      const content = password.apply((p) => `${p}\n`);
      return hostFile(artifactResourceName(name, file.id), host, file, { parent: this }, content);
    });
    const tls = r.tls ? redisTlsFiles(name, host, plan, this) : [];
    const server = artifacts.has("step:sandbox-redis")
      ? [artifacts.step("step:sandbox-redis")].map((s) =>
          hostCommand(
            `${name}-server`,
            host,
            { create: s.run, delete: s.undo },
            { parent: this, dependsOn: [placedDropIn, ...auth] },
          ),
        )
      : [];
    // Re-run when the drop-in changes: CONFIG SET makes the running server take it without a restart.
    const apply = artifacts.step("step:apply-redis-settings");
    hostCommand(
      `${name}-apply`,
      host,
      { create: apply.run, triggers: [dropIn.content] },
      { parent: this, dependsOn: [placedDropIn, ...auth, ...tls, ...server] },
    );
    const job = plan.jobs.find((j) => j.id === "redis")!;
    new TimerJob(`${name}-snapshot`, { host, plan, job }, { parent: this, dependsOn: [...auth, ...tls] });
    this.backupDirectory = pulumi.output(r.backupDir);
    this.restoreScript = pulumi.output(agentPath(plan, "restore-redis"));
    this.registerOutputs({ backupDirectory: this.backupDirectory, restoreScript: this.restoreScript });
  }
}

/** The CA the jobs trust for TLS to the server and, when given, their client certificate and its key. */
function redisTlsFiles(name: string, host: HostRef, plan: ServicePlan, parent: pulumi.Resource): pulumi.Resource[] {
  const artifacts = serviceArtifacts(plan);
  const place = (id: string, content?: pulumi.Input<string>) =>
    hostFile(artifactResourceName(name, id), host, artifacts.file(id), { parent }, content);
  if (!plan.redis!.tls!.client) return [place("redis-tls:ca")];
  const key = stackSecret(plan.redis!.tls!.client.key, `services.${plan.name}.redis.tls.key`);
  return [
    place("redis-tls:ca"),
    place("redis-tls:certificate"),
    place(
      "redis-tls:key",
      key.apply((k) => `${k.trim()}\n`),
    ),
  ];
}
