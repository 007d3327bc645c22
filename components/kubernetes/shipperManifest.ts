import { SETTINGS_FILES, agentCommand } from "./layout";
import { meta, serverAwait, type DeploymentManifest } from "./manifestTypes";
import { componentLabels, selectorLabels } from "./names";
import {
  JOB_RESOURCES,
  VOLUMES,
  agentEnv,
  baseVolumes,
  besidePrimary,
  claimVolume,
  containerSecurityContext,
  env,
  mcCopyContainer,
  mounts,
  offsiteVolume,
  podBase,
  toolsVolume,
} from "./podSpecs";
import type { ClusterSpec } from "./spec";

/**
 * With off-site shipping: the agent's shipper (`shipper run`) as a one-pod Deployment beside the primary, the pods'
 * counterpart of the hosts' shipper service. The servers' archive-wal only queues each segment on the backup
 * volume; this pod uploads the queue within seconds, with the backup role's settings (the store's credentials as a
 * file from the offsite Secret). The server pods stay as they are, so turning shipping on restarts nothing.
 * Recreate, not a rolling update: two shippers never run at once (the agent's lock on the backup volume would
 * refuse the second anyway).
 */
export function buildShipperDeployment(spec: ClusterSpec): DeploymentManifest | undefined {
  if (!spec.offsite) return undefined;
  const labels = componentLabels(spec.name, "shipper");
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(spec, spec.names.shipper, labels, serverAwait(spec)),
    spec: {
      replicas: 1,
      strategy: { type: "Recreate" },
      selector: { matchLabels: selectorLabels(spec.name, "shipper") },
      template: {
        metadata: { labels },
        spec: {
          ...podBase(besidePrimary(spec)),
          initContainers: [mcCopyContainer(spec)],
          containers: [
            {
              name: "shipper",
              image: spec.image,
              command: agentCommand("shipper", "run"),
              env: env(agentEnv(SETTINGS_FILES.backup)),
              resources: JOB_RESOURCES,
              securityContext: containerSecurityContext,
              volumeMounts: mounts(
                VOLUMES.config,
                VOLUMES.agent,
                VOLUMES.run,
                VOLUMES.tmp,
                VOLUMES.backups,
                VOLUMES.tools,
                VOLUMES.offsite,
              ),
            },
          ],
          volumes: [
            ...baseVolumes(spec),
            claimVolume(VOLUMES.backups, spec.names.backups),
            toolsVolume(),
            offsiteVolume(spec),
          ],
        },
      },
    },
  };
}
