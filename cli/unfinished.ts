/**
 * Runs `command` so that the process never exits 0 before it finished: Node exits, with status 0, once nothing is
 * left to wait for, even while a promise is pending (a wait on an event that can no longer come). A drill that
 * ended that way would look passed. `beforeExit` is emitted only then, not on an explicit process.exit() (such as
 * --help's).
 */
export async function exitNonZeroIfUnfinished(command: () => Promise<void>): Promise<void> {
  const unfinished = () => {
    console.error("drkit: stopped before the command finished (it was waiting for something that cannot happen)");
    process.exitCode = 70;
  };
  process.once("beforeExit", unfinished);
  try {
    await command();
  } finally {
    process.removeListener("beforeExit", unfinished);
  }
}
