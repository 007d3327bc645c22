/**
 * A section of the engine's output: the line that is exactly `header` (e.g. "Resources:") and the indented
 * lines after it, up to the next line that is not indented. Undefined when the output has none.
 */
export function outputSection(output: string, header: string): string | undefined {
  const lines = output.split("\n");
  const start = lines.findIndex((line) => line.trim() === header);
  if (start < 0) return undefined;
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() !== "" && !/^\s/.test(line)) break;
    body.push(line);
  }
  while (body.length && body[body.length - 1].trim() === "") body.pop();
  return [header, ...body].join("\n");
}

export interface PolicyViolation {
  /** "mandatory", "advisory", ... */
  readonly level: string;
  readonly pack: string;
  readonly rule: string;
  /** "type: name" of the resource. */
  readonly resource: string;
  readonly message: string;
}

// `    drkit-dr@v0.1.0 [mandatory]  rule-name  (type: name)Rule description.` then the message, not indented.
const VIOLATION = /^\s+(\S+@v\S+) \[([a-z-]+)\]\s+(\S+)\s+\(([^)]*)\)/;

/** The policy violations `pulumi preview --diff` printed, each once. */
export function policyViolations(output: string): PolicyViolation[] {
  const lines = output.split("\n");
  const found = new Map<string, PolicyViolation>();
  lines.forEach((line, i) => {
    const match = VIOLATION.exec(line);
    if (!match) return;
    const message: string[] = [];
    // The message: the unindented lines after it, up to the next indented line or section header ("Resources:").
    for (const next of lines.slice(i + 1)) {
      if (next.trim() === "" || /^\s/.test(next) || /^[A-Z][A-Za-z ]*:$/.test(next)) break;
      message.push(next.trim());
    }
    const v = { pack: match[1], level: match[2], rule: match[3], resource: match[4], message: message.join(" ") };
    found.set(JSON.stringify(v), v);
  });
  return [...found.values()];
}

/** What a failed engine run said went wrong: its `error:` lines, else its last lines. */
export function engineErrorLines(text: string, fallbackLines = 20): string {
  const errors = [...new Set(text.split("\n").filter((line) => line.startsWith("error: ")))];
  return (errors.length ? errors : text.trim().split("\n").slice(-fallbackLines)).join("\n");
}
