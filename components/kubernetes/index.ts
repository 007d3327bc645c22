/**
 * drkit on Kubernetes. validateManifests lives in ./validateManifests and is not re-exported here: it
 * needs kubernetes-models, a devDependency.
 */
export { PostgresCluster } from "./postgresCluster";
export type { ContainerResources, OffsiteShipping, PostgresClusterArgs, RestoreRequest } from "./args";
export { ClusterArgsError, clusterArgProblems } from "./validation";
export { resolveCluster, type ClusterSpec } from "./spec";
export { buildClusterManifests, manifestList, type ClusterManifests, type Credentials } from "./manifests";
export { REPLICATION_ROLE, SUPERUSER } from "./names";
