import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";

/** One write the server acknowledged: its key, the server's commit-side clock, when the client saw the ack. */
export interface Ack {
  readonly seq: number;
  readonly key: string;
  /** Server time of the write (PostgreSQL clock_timestamp(); for Redis the client's send time). */
  readonly at: string;
  readonly ackedAt: number;
}

export interface WorkloadSpec {
  /** The client, kept open for the whole run: psql or redis-cli reading statements on stdin. */
  readonly command: string;
  readonly args: readonly string[];
  /** The statement for write number `seq`; it must print exactly one line when it succeeds. */
  statement(seq: number): string;
  /** Parses that line into the acknowledged key and time, or undefined if it is not an acknowledgement. */
  parse(line: string, seq: number): { key: string; at: string } | undefined;
  readonly intervalMs: number;
}

/**
 * A write workload that logs every acknowledged write: one statement at a time over one client session,
 * the next only after the previous one's reply. The log is what the drill measures RPO against: a write
 * is lost when it was acknowledged here and is missing after recovery.
 */
export class Workload {
  readonly acks: Ack[] = [];
  private child?: ChildProcessWithoutNullStreams;
  private running = false;
  private done?: Promise<void>;
  private stderr = "";

  constructor(private readonly spec: WorkloadSpec) {}

  start(): void {
    if (this.child) throw new Error("the workload is already running");
    const child = spawn(this.spec.command, [...this.spec.args], { stdio: ["pipe", "pipe", "pipe"] });
    this.child = child;
    this.running = true;
    child.stderr.on("data", (d) => (this.stderr = (this.stderr + d).slice(-2000)));
    const lines = createInterface({ input: child.stdout });
    const pending: Array<(line: string | undefined) => void> = [];
    lines.on("line", (line) => pending.shift()?.(line));
    const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
    closed.then(() => pending.splice(0).forEach((r) => r(undefined)));
    child.stdin.on("error", () => undefined);
    this.done = (async () => {
      let seq = 1;
      while (this.running) {
        const reply = new Promise<string | undefined>((resolve) => pending.push(resolve));
        // A client that has exited never drains its stdin.
        if (!child.stdin.write(`${this.spec.statement(seq)}\n`))
          await Promise.race([new Promise((r) => child.stdin.once("drain", r)), closed]);
        const line = await Promise.race([reply, closed.then(() => undefined)]);
        if (line === undefined) break;
        const ack = this.spec.parse(line, seq);
        if (ack) this.acks.push({ seq, ...ack, ackedAt: Date.now() });
        seq++;
        await new Promise((r) => setTimeout(r, this.spec.intervalMs));
      }
    })();
  }

  /** Stops writing and closes the session; the log keeps every acknowledgement received. */
  async stop(): Promise<void> {
    this.running = false;
    this.child?.stdin.end();
    await this.done;
    this.child?.kill("SIGTERM");
  }

  /** Resolves once at least `count` writes are acknowledged (fails if the client died first). */
  async waitForAcks(count: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.acks.length < count) {
      if (this.child && this.child.exitCode !== null)
        throw new Error(`the workload's client exited: ${this.stderr.trim()}`);
      if (Date.now() > deadline)
        throw new Error(
          `only ${this.acks.length} of ${count} writes acknowledged within ${timeoutMs / 1000}s: ${this.stderr.trim()}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  get lastError(): string {
    return this.stderr.trim();
  }
}

const ISO_UTC = `to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * A PostgreSQL writer: one INSERT per write into the drill's table, RETURNING its id and commit clock. The ids
 * are 1, 2, ... after `firstAfter` (a second writer continues the first one's ids).
 */
export function postgresWorkload(
  psql: { command: string; args: readonly string[] },
  table: string,
  intervalMs = 20,
  firstAfter = 0,
): Workload {
  return new Workload({
    ...psql,
    intervalMs,
    statement: (seq) => `INSERT INTO ${table} (seq) VALUES (${seq + firstAfter}) RETURNING seq, ${ISO_UTC};`,
    parse: (line, seq) => {
      const [key, at] = line.split("|");
      return key === String(seq + firstAfter) && at ? { key, at } : undefined;
    },
  });
}

/** A Redis writer: one SET per write; the reply is +OK. */
export function redisWorkload(
  cli: { command: string; args: readonly string[] },
  prefix: string,
  intervalMs = 10,
): Workload {
  return new Workload({
    ...cli,
    intervalMs,
    statement: (seq) => `SET ${prefix}:${seq} ${seq}`,
    parse: (line, seq) =>
      line.trim() === "OK" ? { key: `${prefix}:${seq}`, at: new Date().toISOString() } : undefined,
  });
}
