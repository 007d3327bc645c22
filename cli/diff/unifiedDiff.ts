import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/**
 * The unified diff (diffutils' `diff -u`) between two versions of a text, labelled a/<label> and b/<label>;
 * a missing version is /dev/null. Empty when both are the same.
 */
export function unifiedDiff(label: string, before: string | undefined, after: string | undefined): string {
  if (before === after) return "";
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-diff-"));
  try {
    const side = (name: string, text: string | undefined) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text ?? "");
      return file;
    };
    const result = spawnSync(
      "diff",
      [
        "-u",
        "--label",
        before === undefined ? "/dev/null" : `a/${label}`,
        "--label",
        after === undefined ? "/dev/null" : `b/${label}`,
        side("before", before),
        side("after", after),
      ],
      { encoding: "utf8" },
    );
    if (result.error) throw new Error(`cannot run diff (diffutils): ${result.error.message}`);
    if (result.status !== 0 && result.status !== 1) throw new Error(`diff failed: ${result.stderr.trim()}`);
    return result.stdout;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
