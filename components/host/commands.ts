/**
 * The small shell programs the host components run through @pulumi/command. Pure functions, so tests
 * can shellcheck them and run them against a temp directory.
 */
import { shq } from "../agent/envFile";

export interface FileMeta {
  readonly path: string;
  readonly mode: string;
  readonly owner: string;
  readonly group: string;
}

const strict = "set -euo pipefail";

/** Writes stdin to the path atomically (temp file in the same directory, fsync, rename). */
export function placeFileScript(f: FileMeta): string {
  return `${strict}
dest=${shq(f.path)}
dir=$(dirname -- "$dest")
[[ -d $dir ]] || install -d -m 0755 -- "$dir"
tmp=$(mktemp "$dir/.drkit-tmp.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat >"$tmp"
chmod ${shq(f.mode)} -- "$tmp"
chown ${shq(`${f.owner}:${f.group}`)} -- "$tmp"
sync -- "$tmp"
mv -f -- "$tmp" "$dest"
trap - EXIT`;
}

export function removeFileScript(path: string): string {
  return `${strict}
rm -f -- ${shq(path)}`;
}

/** Removes these folders and then their parents named "drkit", each only when empty. */
export function removeEmptyFoldersScript(folders: readonly string[]): string {
  const parents = [...new Set(folders.map((f) => f.replace(/\/[^/]+$/, "")))].filter((p) => p.endsWith("/drkit"));
  return `${strict}
${[...folders, ...parents].map((d) => `rmdir --ignore-fail-on-non-empty -- ${shq(d)} 2>/dev/null || true`).join("\n")}`;
}

export interface DirectorySpec {
  readonly path: string;
  readonly mode: string;
  readonly owner: string;
  /** The user whose primary group owns the directory (default: the owner's). */
  readonly groupOf?: string;
  /**
   * The group reads the whole tree: what is already inside gets the directory's group and group read access,
   * and every directory in it hands its group down to what is made there later (setgid).
   */
  readonly groupReadsTree?: boolean;
}

/** Creates directories with owner and mode; on delete only empty ones go: backups are never removed. */
export function makeDirectoriesScript(dirs: readonly DirectorySpec[]): string {
  return [
    strict,
    ...dirs.flatMap((d) => {
      const group = `"$(id -gn ${shq(d.groupOf ?? d.owner)})"`;
      const made = `install -d -m ${shq(d.mode)} -o ${shq(d.owner)} -g ${group} -- ${shq(d.path)}`;
      // -R changes neither what a symbolic link points to nor anything reached through one.
      return d.groupReadsTree
        ? [
            made,
            `chgrp -R -P ${group} -- ${shq(d.path)}`,
            `chmod -R g+rX -- ${shq(d.path)}`,
            `find ${shq(d.path)} -type d -exec chmod g+s -- {} +`,
          ]
        : [made];
    }),
  ].join("\n");
}

export function removeEmptyDirectoriesScript(dirs: readonly DirectorySpec[]): string {
  const deepestFirst = [...dirs].sort((a, b) => b.path.length - a.path.length);
  return [
    strict,
    ...deepestFirst.map((d) => `rmdir --ignore-fail-on-non-empty -- ${shq(d.path)} 2>/dev/null || true`),
  ].join("\n");
}

export interface TimerTarget {
  /** Sandbox root for `systemctl --root`; empty on a real host. */
  readonly rootPrefix: string;
  readonly timer?: string;
}

/** Enables (and on a real host starts) a timer after its units changed; a sandbox only gets the symlinks. */
export function enableTimerScript(t: TimerTarget): string {
  if (t.rootPrefix) {
    return t.timer
      ? `${strict}\nsystemctl --root=${shq(t.rootPrefix)} enable ${shq(t.timer)} 2>/dev/null`
      : `${strict}\ntrue`;
  }
  return t.timer
    ? `${strict}\nsystemctl daemon-reload\nsystemctl enable ${shq(t.timer)}\nsystemctl restart ${shq(t.timer)}`
    : `${strict}\nsystemctl daemon-reload`;
}

export function disableTimerScript(t: TimerTarget): string {
  if (t.rootPrefix) {
    return t.timer
      ? `${strict}\nsystemctl --root=${shq(t.rootPrefix)} disable ${shq(t.timer)} 2>/dev/null || true`
      : `${strict}\ntrue`;
  }
  return t.timer
    ? `${strict}\nsystemctl disable --now ${shq(t.timer)} || true\nsystemctl daemon-reload`
    : `${strict}\nsystemctl daemon-reload`;
}

export interface DaemonTarget {
  /** Sandbox root; empty on a real host. */
  readonly rootPrefix: string;
  readonly unit: string;
  /** The agent verb that runs it (start and stop it where no systemd runs the host). */
  readonly script: string;
}

/**
 * Starts (or restarts, to pick up changed files) a long-running service: systemd on a real host; on a sandbox,
 * which no systemd runs, the agent verb's own start/stop.
 */
export function enableDaemonScript(t: DaemonTarget): string {
  if (t.rootPrefix)
    return `${strict}
${shq(t.script)} stop >&2
${shq(t.script)} start >&2`;
  const unit = shq(`${t.unit}.service`);
  return `${strict}
systemctl daemon-reload
systemctl enable ${unit}
systemctl restart ${unit}`;
}

export function disableDaemonScript(t: DaemonTarget): string {
  if (t.rootPrefix)
    return `${strict}
${shq(t.script)} stop >&2 || true`;
  return `${strict}
systemctl disable --now ${shq(`${t.unit}.service`)} || true
systemctl daemon-reload`;
}

/** Places the drop-in from stdin, then makes PostgreSQL load it (reload, restart only if needed). */
export function applyDropInScript(f: FileMeta, applyScript: string): string {
  return `${placeFileScript(f)}
${shq(applyScript)} >&2`;
}

export function removeDropInScript(path: string, applyScript: string): string {
  return `${strict}
rm -f -- ${shq(path)}
if [[ -x ${shq(applyScript)} ]]; then ${shq(applyScript)} --removed >&2; fi`;
}

/** Wraps a program for the remote shell, which may not be bash. */
export function bashCommand(script: string): string {
  return `bash -c ${shq(script)}`;
}

/**
 * A sandbox host has no packages of its own: copy the mc the toolchain built (on PATH where drkit runs) to
 * the path the service's scripts call, under the sandbox root.
 */
export function installMcCommand(plan: { readonly offsite?: { readonly mc: string } }): string {
  if (!plan.offsite) throw new Error("installMcCommand: the service has no offsite section");
  return (
    `${strict}
src=$(command -v mc) || { echo "mc is not on PATH: run toolchain/setup (it builds mc into ` +
    `~/.cache/drkit-toolchain/bin)" >&2; exit 1; }
dest=${shq(plan.offsite.mc)}
if ! cmp -s -- "$src" "$dest"; then
  install -d -m 0755 -- "$(dirname -- "$dest")"
  install -m 0755 -- "$src" "$dest.drkit-tmp"
  mv -f -- "$dest.drkit-tmp" "$dest"
fi`
  );
}
