import { reapStaleTestHosts } from "./helpers/testHosts";

/**
 * Before and after the run: removes booted test hosts whose test process has gone (a killed worker or an
 * interrupted run), so no container, mount or network namespace outlives the run that made it.
 */
export function setup(): void {
  reapStaleTestHosts();
}

export function teardown(): void {
  reapStaleTestHosts();
}
