import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { HostPlan } from "../plan/plan";
import { bashCommand } from "./commands";

export interface HostCommandArgs {
  readonly create: pulumi.Input<string>;
  readonly update?: pulumi.Input<string>;
  readonly delete?: pulumi.Input<string>;
  readonly stdin?: pulumi.Input<string>;
  readonly triggers?: pulumi.Input<unknown[]>;
}

/** How a host is reached: the connection args of an SSH host, with the private key kept secret. */
export function sshConnection(
  host: HostPlan,
  privateKey?: pulumi.Input<string>,
): command.types.input.remote.ConnectionArgs {
  if (host.connection.type !== "ssh") throw new Error(`host ${host.name} is not reached over SSH`);
  const key = privateKey ?? (typeof host.connection.privateKey === "string" ? host.connection.privateKey : undefined);
  if (host.connection.hostKey === undefined) warnOnce(host.name);
  return {
    host: host.connection.host,
    port: host.connection.port,
    user: host.connection.user,
    ...(host.connection.hostKey !== undefined ? { hostKey: host.connection.hostKey } : {}),
    ...(key !== undefined ? { privateKey: pulumi.secret(key) } : {}),
  };
}

const warned = new Set<string>();
function warnOnce(hostName: string): void {
  if (warned.has(hostName)) return;
  warned.add(hostName);
  void pulumi.log.warn(
    `host ${hostName}: acceptAnyHostKey is true, so its SSH host key is not checked: whoever answers at its ` +
      "address receives drkit's commands and the secrets they carry. Pin it with hosts.<name>.connection.hostKey.",
  );
}

export interface HostRef {
  readonly plan: HostPlan;
  /** Overrides the plan's SSH private key, e.g. with a value read from a secret store. */
  readonly privateKey?: pulumi.Input<string>;
}

/**
 * Runs a program on a host: local hosts (sandboxes included) through command.local.Command, SSH hosts
 * through command.remote.Command. Output is not logged: programs here print nothing secret, and say
 * what they did on stderr.
 */
export function hostCommand(
  name: string,
  host: HostRef,
  args: HostCommandArgs,
  opts: pulumi.CustomResourceOptions,
): command.local.Command | command.remote.Command {
  const wrap = (script: pulumi.Input<string> | undefined) =>
    script === undefined ? undefined : pulumi.output(script).apply(bashCommand);
  const common = {
    create: wrap(args.create)!,
    update: wrap(args.update),
    delete: wrap(args.delete),
    stdin: args.stdin,
    triggers: args.triggers,
    logging: "stderr" as const,
  };
  if (host.plan.connection.type === "local") {
    return new command.local.Command(name, common, opts);
  }
  return new command.remote.Command(name, { ...common, connection: sshConnection(host.plan, host.privateKey) }, opts);
}
