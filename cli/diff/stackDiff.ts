import type { DrPlan } from "../../components/plan/plan";
import { hostState, type PlacedItem } from "./hostState";
import { fileEffect, settingChanges, strongest, type Effect, type SettingChange } from "./settingChanges";
import { unifiedDiff } from "./unifiedDiff";

export type ChangeStatus = "added" | "changed" | "removed";

export interface ItemChange {
  readonly host: string;
  readonly service: string;
  readonly kind: PlacedItem["kind"];
  /** A host path, or `step of <service>: <description>`. */
  readonly path: string;
  readonly status: ChangeStatus;
  /** What differs besides the settings: "content", "secret: not shown", "mode 0644 -> 0600", "owner a -> b". */
  readonly details: string[];
  readonly settings: SettingChange[];
  readonly effect: Effect;
  /** The unified diff of the file or step (secret files: never their content, which is not rendered). */
  readonly diff: string;
}

export interface StackDiff {
  readonly stack: string;
  /** What the working tree is compared with: a git revision, as given. */
  readonly base: string;
  readonly changes: ItemChange[];
}

const textOf = (item: PlacedItem | undefined) =>
  item === undefined ? undefined : item.kind === "file" ? item.content : item.kind === "step" ? item.run : "";
const secretOf = (item: PlacedItem | undefined) => (item?.kind === "file" ? item.secretInputs : undefined);

function changeOf(key: string, before: PlacedItem | undefined, after: PlacedItem | undefined): ItemChange | undefined {
  const item = (after ?? before)!;
  const details: string[] = [];
  if (before && after) {
    if ("mode" in before && "mode" in after && before.mode !== after.mode)
      details.push(`mode ${before.mode} -> ${after.mode}`);
    if ("owner" in before && "owner" in after && before.owner !== after.owner)
      details.push(`owner ${before.owner} -> ${after.owner}`);
    if (textOf(before) !== textOf(after)) details.push("content");
    else if (secretOf(before) !== secretOf(after)) details.push("content", "secret: not shown");
    if (details.length === 0) return undefined;
  }
  const status: ChangeStatus = !before ? "added" : !after ? "removed" : "changed";
  let settings: SettingChange[] = [];
  let effect: Effect = item.kind === "directory" ? "none" : "next-run";
  if (item.kind === "file") {
    settings = settingChanges(item.role, textOf(before), textOf(after));
    effect = details.includes("content") || status !== "changed" ? fileEffect(item.role, settings) : "none";
  }
  const diff = secretOf(item) !== undefined ? "" : unifiedDiff(key, textOf(before), textOf(after));
  return {
    host: item.host,
    service: item.service,
    kind: item.kind,
    path: item.path,
    status,
    details,
    settings,
    effect,
    diff,
  };
}

/** Every difference between what two plans of a stack place on their hosts, by host then path. */
export function diffPlans(
  stack: string,
  base: string,
  before: DrPlan | undefined,
  after: DrPlan | undefined,
): StackDiff {
  const old = hostState(before);
  const current = hostState(after);
  const keys = [...new Set([...old.keys(), ...current.keys()])].sort();
  const changes = keys.flatMap((key) => changeOf(key, old.get(key), current.get(key)) ?? []);
  return { stack, base, changes };
}

/** The strongest effect per host, with the settings behind a PostgreSQL restart. */
export function hostEffects(diff: StackDiff): { host: string; effect: Effect; restartSettings: string[] }[] {
  const hosts = [...new Set(diff.changes.map((c) => c.host))].sort();
  return hosts.map((host) => {
    const changes = diff.changes.filter((c) => c.host === host);
    return {
      host,
      effect: strongest(changes.map((c) => c.effect)),
      restartSettings: changes.flatMap((c) => c.settings.filter((s) => s.effect === "restart").map((s) => s.name)),
    };
  });
}
