export { buildPlan, type DrPlan, type ServicePlan, type HostPlan, type JobPlan } from "./plan/plan";
export { ConfigError } from "./plan/errors";
export { parseDuration, formatDuration } from "./plan/duration";
export { deriveArchiveTimeout } from "./plan/derive";
export { describeServicePlan } from "./plan/describe";
export { loadStackPlan, readStackConfig, rawConfigFromEntries } from "./plan/stackFile";
export { serviceArtifacts, type ServiceArtifacts } from "./artifacts/hostArtifacts";
export type { Artifact, FileArtifact, DirectoryArtifact, StepArtifact } from "./artifacts/types";
export { HostAgent, type HostAgentArgs } from "./host/hostAgent";
export { BackupDirectories, type BackupDirectoriesArgs } from "./host/backupDirectories";
export { WalArchiving, type WalArchivingArgs } from "./postgres/walArchiving";
export { TimerJob, type TimerJobArgs } from "./postgres/timerJob";
export { SandboxPostgres, type SandboxPostgresArgs } from "./postgres/sandboxPostgres";
export { PostgresBackup, type PostgresBackupArgs } from "./postgres/postgresBackup";
export { applyServiceLocally } from "./host/applyLocal";
export { RedisBackup, type RedisBackupArgs } from "./redis/redisBackup";
export { ReplicationPrimary, Standby, type ReplicationPrimaryArgs, type StandbyArgs } from "./postgres/replication";
export {
  MinioTarget,
  SandboxMinio,
  type MinioTargetArgs,
  type SandboxMinioArgs,
  type StoreKeys,
} from "./objectstore/minio";
export { OffsiteShipping, type OffsiteShippingArgs } from "./objectstore/offsiteShipping";
export { S3BackupBucket, type S3BackupBucketArgs } from "./objectstore/s3BackupBucket";
export {
  lifecycleRules,
  toMinioIlmJson,
  toS3LifecycleConfiguration,
  type LifecyclePolicy,
} from "./objectstore/lifecycle";
export { objectStores } from "./objectstore/objectStores";
export { drStack } from "./drStack";
export { renderMarkdown } from "./drill/markdown";
export { renderHtml } from "./drill/html";
export { writeReports } from "./drill/writeReports";
export type { DrillReport, ScenarioResult } from "./drill/report";
export { PostgresCluster, ClusterArgsError, buildClusterManifests } from "./kubernetes";
