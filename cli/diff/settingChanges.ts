import { settingContext } from "../../components/artifacts/postgresConf";
import type { FileRole } from "../../components/artifacts/types";

/** What a change needs to take effect on its host, from least to most disruptive. */
const EFFECTS = ["none", "next-run", "monitoring", "daemon-reload", "redis-live", "reload", "restart"] as const;
export type Effect = (typeof EFFECTS)[number];

export const EFFECT_TEXT: Record<Effect, string> = {
  none: "no effect (comments only)",
  "next-run": "read by the next job run",
  monitoring: "Prometheus reads it on its next rule reload or scrape",
  "daemon-reload": "systemd reloads its units",
  "redis-live": "Redis/Valkey takes it live (CONFIG SET)",
  reload: "PostgreSQL reloads",
  restart: "PostgreSQL restarts",
};

export const strongest = (effects: Iterable<Effect>): Effect => {
  let rank = 0;
  for (const e of effects) rank = Math.max(rank, EFFECTS.indexOf(e));
  return EFFECTS[rank];
};

export interface SettingChange {
  readonly name: string;
  /** Undefined when the setting is new. */
  readonly from?: string;
  /** Undefined when the setting is gone. */
  readonly to?: string;
  readonly effect: Effect;
}

/** How each kind of settings file writes a setting: `name = value`, `name value`, `NAME=value`, `Key=value`. */
const SETTING_LINE: Partial<Record<FileRole, RegExp>> = {
  "postgres-conf": /^\s*([A-Za-z_][\w.]*)\s*=?\s*(.*?)\s*$/,
  "redis-conf": /^\s*([A-Za-z][\w-]*)\s+(.*?)\s*$/,
  settings: /^([A-Za-z_]\w*)=(.*)$/,
  unit: /^([A-Za-z]\w*)=(.*)$/,
};

/**
 * The settings a file holds, by name (repeated names joined with "; "): PostgreSQL drop-ins, Redis/Valkey config,
 * agent settings, and systemd units (`[Section] Key`), comments left out. Undefined for files that hold no
 * settings (scripts, secrets, monitoring).
 */
export function settingsOf(role: FileRole, content: string): Map<string, string> | undefined {
  const line = SETTING_LINE[role];
  if (!line) return undefined;
  const settings = new Map<string, string>();
  let section = "";
  for (const text of content.split("\n")) {
    if (/^\s*(#|;|$)/.test(text)) continue;
    const header = /^\[(.+)\]$/.exec(text.trim());
    if (header && role === "unit") {
      section = `[${header[1]}] `;
      continue;
    }
    const match = line.exec(text);
    if (!match) continue;
    const name = section + match[1];
    const previous = settings.get(name);
    settings.set(name, previous === undefined ? match[2] : `${previous}; ${match[2]}`);
  }
  return settings;
}

/** What changing one setting of a file with this role needs. */
function settingEffect(role: FileRole, name: string): Effect {
  if (role === "postgres-conf") return settingContext(name) === "postmaster" ? "restart" : "reload";
  if (role === "redis-conf") return "redis-live";
  if (role === "unit") return "daemon-reload";
  if (role === "monitoring") return "monitoring";
  return "next-run";
}

/** The settings that differ between two versions of a file (either may be missing), in name order. */
export function settingChanges(role: FileRole, before: string | undefined, after: string | undefined): SettingChange[] {
  const from = settingsOf(role, before ?? "") ?? new Map<string, string>();
  const to = settingsOf(role, after ?? "") ?? new Map<string, string>();
  const names = [...new Set([...from.keys(), ...to.keys()])].sort();
  return names
    .filter((name) => from.get(name) !== to.get(name))
    .map((name) => ({ name, from: from.get(name), to: to.get(name), effect: settingEffect(role, name) }));
}

/**
 * What a changed file needs: for a file of settings, its settings' strongest effect ("none" when only comments
 * changed); Prometheus reads monitoring files; every other file is read by the next job run.
 */
export function fileEffect(role: FileRole, changes: readonly SettingChange[]): Effect {
  if (SETTING_LINE[role]) return strongest(changes.map((c) => c.effect));
  return role === "monitoring" ? "monitoring" : "next-run";
}
