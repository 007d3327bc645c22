import { processAlive } from "./sandbox";
import { reapStaleTestHosts } from "./testHosts";

/**
 * Started detached by bootTestHosts: waits for the process that booted the hosts to go, however it went (a
 * killed worker or an interrupted run runs no exit handler), then removes what it left, and nothing of any other
 * run. Bounded by the owner's life; when the owner removed its hosts itself, there is nothing left to do.
 */
const owner = Number(process.argv[2]);
if (!Number.isInteger(owner) || owner <= 1) throw new Error(`testHostsWatchdog: not a process id: ${process.argv[2]}`);
const timer = setInterval(() => {
  if (processAlive(owner)) return;
  clearInterval(timer);
  reapStaleTestHosts(owner);
}, 500);
