import * as pulumi from "@pulumi/pulumi";
import { hostCommand, type HostRef } from "../host/hostCommand";
import { fileResourceName, hostFile } from "../host/hostFile";
import type { ServicePlan } from "../plan/plan";
import { renderRedisDropInFile, renderServiceFiles } from "../render";
import { redisScripts } from "../render/redis";
import { shq } from "../render/shell";
import { TimerJob } from "../postgres/timerJob";

export interface RedisBackupArgs {
  readonly plan: ServicePlan;
  readonly privateKey?: pulumi.Input<string>;
}

/**
 * Redis/Valkey persistence and snapshots for one service: the persistence drop-in applied with CONFIG SET
 * (no restart), the snapshot job on a timer with retention, and the restore script.
 */
export class RedisBackup extends pulumi.ComponentResource {
  readonly backupDirectory: pulumi.Output<string>;
  readonly restoreScript: pulumi.Output<string>;

  constructor(name: string, args: RedisBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    const { plan } = args;
    const r = plan.redis;
    if (!r) throw new Error(`RedisBackup ${name}: service ${plan.name} has no redis section in its plan`);
    super("drkit:redis:RedisBackup", name, {
      service: plan.name,
      appendonly: r.persistence.appendonly,
      appendfsync: r.persistence.appendfsync,
      savePoints: r.persistence.savePoints.map(([s, c]) => [s, c]),
      snapshotMaxIntervalHours: r.snapshotMaxIntervalHours,
      snapshotRetentionDays: r.snapshotRetentionDays,
    }, opts);
    const host: HostRef = { plan: plan.host, privateKey: args.privateKey };
    const scripts = redisScripts(plan);
    const wanted = new Set([scripts.apply, scripts.restore, scripts.sandbox]);
    const files = renderServiceFiles(plan)
      .filter((f) => wanted.has(f.path))
      .map((f) => hostFile(fileResourceName(name, f.path), host, f, { parent: this }));
    const dropIn = renderRedisDropInFile(plan);
    const placedDropIn = hostFile(fileResourceName(name, dropIn.path), host, dropIn, { parent: this });
    const server = r.provision
      ? [hostCommand(`${name}-server`, host, { create: `${shq(scripts.sandbox)} start >&2`, delete: `${shq(scripts.sandbox)} stop >&2` }, { parent: this, dependsOn: [...files, placedDropIn] })]
      : [];
    // Re-run when the drop-in changes: CONFIG SET makes the running server take it without a restart.
    hostCommand(`${name}-apply`, host, { create: `${shq(scripts.apply)} >&2`, triggers: [dropIn.content] }, { parent: this, dependsOn: [...files, placedDropIn, ...server] });
    const job = plan.jobs.find((j) => j.id === "redis")!;
    new TimerJob(`${name}-snapshot`, { host, plan, job }, { parent: this, dependsOn: files });
    this.backupDirectory = pulumi.output(r.backupDir);
    this.restoreScript = pulumi.output(scripts.restore);
    this.registerOutputs({ backupDirectory: this.backupDirectory, restoreScript: this.restoreScript });
  }
}
