import * as fs from "node:fs";
import * as path from "node:path";

/** The project's own policy pack (policies/PulumiPolicy.yaml), else the one drkit ships. */
export function defaultPolicyPack(projectDir: string): string {
  // drkit's own: policies/ beside cli/ in the sources, dist/policies beside dist/cli in the package
  const candidates = [path.join(projectDir, "policies"), path.resolve(__dirname, "../../policies")];
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, "PulumiPolicy.yaml")));
  if (!found) throw new Error(`no policy pack: none in ${candidates.join(" or ")}; give --policy-pack <dir>`);
  return found;
}
