/**
 * Runs `body` with SIGINT and SIGTERM handled: either runs `cleanup` (synchronously: nothing asynchronous runs
 * once the process decides to exit) and exits 130 or 143, as the shell reports a process ended by the signal.
 * Without it a signal ends the drill at once: its own servers (Prometheus, node_exporter) keep running, and a
 * decrypted identity stays on disk. Handlers are removed when `body` settles.
 */
export async function cleanUpOnInterrupt<T>(cleanup: () => void, body: () => Promise<T>): Promise<T> {
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = () => {
      process.stderr.write(`drill: ${signal}: stopping the drill's own servers and removing its temporary files\n`);
      try {
        cleanup();
      } finally {
        process.exit(signal === "SIGINT" ? 130 : 143);
      }
    };
    process.once(signal, handler);
    return [signal, handler] as const;
  });
  try {
    return await body();
  } finally {
    for (const [signal, handler] of handlers) process.removeListener(signal, handler);
  }
}
