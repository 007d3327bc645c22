import type { ServicePlan } from "../plan/plan";
import { backupIdPattern, retentionFunction } from "./retention";
import { header, lock, settings } from "./shell";

/** Copies config and secret files (env files) into a dated set: files 0600, directories 0700. */
export function renderConfigBackupScript(plan: ServicePlan): string {
  return `${header({
    job: `drkit-${plan.name}-config`,
    purpose: `Backup of ${plan.name}'s config and secret files; every copy is mode 0600. Runs as root.`,
  })}
${settings({ CONFIG_DIR: plan.paths.configDir, FILES: plan.configFiles })}
${retentionFunction(plan.retention)}
${lock(plan.paths.lockDir, "config")}
id=$(date -u +%Y%m%dT%H%M%SZ)
work=$CONFIG_DIR/.partial-$id
trap 'rm -rf -- "$work"' EXIT
install -d -m 0700 -- "$CONFIG_DIR" "$work"
for file in "\${FILES[@]}"; do
  [[ -f $file ]] || die "config file $file does not exist"
  install -D -m 0600 -- "$file" "$work$file"
done
find "$work" -type d -exec chmod 0700 {} +
sync -- "$work"
mv -T -- "$work" "$CONFIG_DIR/$id"
log "copied \${#FILES[@]} file(s) to $CONFIG_DIR/$id"

while read -r verdict old _; do
  if [[ $verdict == drop ]]; then
    rm -rf -- "\${CONFIG_DIR:?}/$old"
    log "removed config backup $old"
  fi
done < <(find "$CONFIG_DIR" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended -regex '.*/${backupIdPattern}' -printf '%f\\n' | sort -r | retention_plan "$(date -u +%s)")
`;
}
