import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { renderHtml } from "./html";
import { renderMarkdown } from "./markdown";
import type { DrillReport } from "./report";

export interface ReportPaths {
  markdown: string;
  json: string;
  html: string;
}

/**
 * Writes a file so that a reader sees the old content or the new one, never a part: temp file in the
 * same directory, fsync, rename over the target. The temp file is removed when anything fails.
 */
export function writeFileAtomic(file: string, content: string): void {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`,
  );
  try {
    const fd = fs.openSync(tmp, "wx", 0o644);
    try {
      fs.writeSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
}

/** Writes report.md, report.json and report.html into dir (created when missing) and returns their paths. */
export function writeReports(report: DrillReport, dir: string): ReportPaths {
  fs.mkdirSync(dir, { recursive: true });
  const paths: ReportPaths = {
    markdown: path.join(dir, "report.md"),
    json: path.join(dir, "report.json"),
    html: path.join(dir, "report.html"),
  };
  // Render everything first: a renderer that throws leaves the previous set of files untouched.
  const contents: Array<[string, string]> = [
    [paths.json, `${JSON.stringify(report, null, 2)}\n`],
    [paths.markdown, renderMarkdown(report)],
    [paths.html, renderHtml(report)],
  ];
  for (const [file, content] of contents) writeFileAtomic(file, content);
  return paths;
}
