/**
 * Runs `body` so that `cleanup` runs however the process ends while `body` is pending: on SIGINT and SIGTERM it
 * runs `cleanup` (synchronously: nothing asynchronous runs once the process decides to exit) and exits 130 or 143,
 * as the shell reports a process ended by the signal; on any other exit before `body` settled (a `process.exit`
 * elsewhere, or the event loop emptied while `body` waited for something that cannot come) it runs `cleanup` as the
 * process exits. Without it the drill's own servers (Prometheus, node_exporter) keep running, and a decrypted
 * identity or an SSH key stays on disk. The handlers are removed when `body` settles; the caller cleans up then.
 */
export async function cleanUpOnInterrupt<T>(cleanup: () => void, body: () => Promise<T>): Promise<T> {
  let cleaned = false;
  const cleanOnce = () => {
    if (cleaned) return;
    cleaned = true;
    cleanup();
  };
  const signals = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = () => {
      process.stderr.write(`drill: ${signal}: stopping the drill's own servers and removing its temporary files\n`);
      try {
        cleanOnce();
      } finally {
        process.exit(signal === "SIGINT" ? 130 : 143);
      }
    };
    process.once(signal, handler);
    return [signal, handler] as const;
  });
  const onExit = () => {
    if (cleaned) return;
    process.stderr.write("drill: exiting before the drill finished: stopping its own servers, removing its files\n");
    // an exception here would replace the exit status and skip the other exit listeners
    try {
      cleanOnce();
    } catch (error) {
      process.stderr.write(`drill: the clean-up failed: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  };
  process.once("exit", onExit);
  try {
    return await body();
  } finally {
    for (const [signal, handler] of signals) process.removeListener(signal, handler);
    process.removeListener("exit", onExit);
  }
}
