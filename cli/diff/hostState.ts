import { serviceArtifacts } from "../../components/artifacts/hostArtifacts";
import type { FileRole, SecretSource } from "../../components/artifacts/types";
import type { DrPlan, ServicePlan } from "../../components/plan/plan";
import { hostPathOf } from "../render";

/** One thing drkit places on a host, as `drkit diff` compares it. */
export type PlacedItem =
  | {
      readonly kind: "file";
      readonly service: string;
      readonly host: string;
      readonly path: string;
      readonly content: string;
      readonly mode: string;
      readonly owner: string;
      readonly role: FileRole;
      /** For secret files (whose content is a placeholder): the config values the content is made of, compared
       * only, never shown. */
      readonly secretInputs?: string;
    }
  | {
      readonly kind: "directory";
      readonly service: string;
      readonly host: string;
      readonly path: string;
      readonly mode: string;
      readonly owner: string;
    }
  | {
      readonly kind: "step";
      readonly service: string;
      readonly host: string;
      readonly path: string;
      readonly run: string;
    };

/** What a secret file is made of, as the stack config gives it (plain or a Pulumi secret's ciphertext). */
function secretInputs(plan: ServicePlan, secret: SecretSource): unknown {
  switch (secret.of) {
    case "offsite-credentials": {
      const t = plan.offsite?.targets.find((x) => x.store === secret.store);
      return [t?.endpoint, t?.accessKey, t?.secretKey];
    }
    case "replication-pgpass":
      return [plan.replication?.role, plan.replication?.rewindRole];
    case "replication-tls-key":
      return plan.replication?.tls?.key;
    case "redis-auth":
      return plan.redis?.auth?.password;
    case "redis-tls-key":
      return plan.redis?.tls?.client?.key;
  }
}

/** Everything a plan places, by `host:path` (files and directories) or `host:step of <service>: <description>`. */
export function hostState(plan: DrPlan | undefined): Map<string, PlacedItem> {
  const items = new Map<string, PlacedItem>();
  for (const service of plan?.services ?? []) {
    for (const a of serviceArtifacts(service).all) {
      const host = a.host.name;
      const common = { service: service.name, host };
      let item: PlacedItem;
      if (a.kind === "file") {
        item = {
          ...common,
          kind: "file",
          path: hostPathOf(a.path, a.host.connection.rootPrefix),
          content: a.content,
          mode: a.mode,
          owner: `${a.owner}:${a.group}`,
          role: a.role,
          secretInputs: a.secret && JSON.stringify([secretInputs(service, a.secret)]),
        };
      } else if (a.kind === "directory") {
        item = {
          ...common,
          kind: "directory",
          path: hostPathOf(a.path, a.host.connection.rootPrefix),
          mode: a.mode,
          owner: a.owner,
        };
      } else {
        item = { ...common, kind: "step", path: `step of ${service.name}: ${a.description}`, run: a.run };
      }
      items.set(`${host}:${item.path}`, item);
    }
  }
  return items;
}
