/**
 * drkit on Kubernetes. validateManifests lives in ./validateManifests and is not re-exported here: it
 * needs kubernetes-models, a devDependency.
 */
export { PostgresCluster } from "./postgresCluster";
export type { ContainerResources, OffsiteShipping, PostgresClusterArgs, RestoreRequest } from "./args";
export { ClusterArgsError } from "./validation";
export { buildClusterManifests } from "./manifests";
