import * as path from "node:path";
import { ConfigError } from "../../components/plan/errors";
import { stackFileOf } from "../../components/plan/stackFile";
import { changedPaths, revisionPlan, workingTreePlan } from "../diff/revisionPlan";
import { diffPlans } from "../diff/stackDiff";
import { previewWithPolicies } from "../engine";
import type { StackReview } from "./reviewComment";

export interface ReviewOptions {
  readonly base: string;
  readonly stacks: readonly string[];
  readonly policyPacks: readonly string[];
  readonly policyPackConfigs: readonly string[];
  /** Preview every stack and fail on any change (a drift check of the main branch). */
  readonly expectNoChanges: boolean;
  /** Progress, one line per step. */
  readonly log: (line: string) => void;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Why a stack needs a preview, or undefined: its rendered files or its config file changed, or a project file
 * outside the stack config directory did (the program, its dependencies), which may change any stack.
 */
function previewReason(stackFile: string, changed: readonly string[], filesChanged: boolean): string | undefined {
  if (filesChanged) return "its files on the hosts change";
  if (changed.includes(stackFile)) return "its config changed";
  const configDir = path.dirname(stackFile);
  const outside = changed.find((file) => !(configDir === "." ? !file.includes("/") : file.startsWith(`${configDir}/`)));
  return outside && `${outside} changed`;
}

/** Reviews each stack: drkit diff against the base, then pulumi preview with the policy packs where needed. */
export async function reviewStacks(projectDir: string, options: ReviewOptions): Promise<StackReview[]> {
  const changed = changedPaths(projectDir, options.base);
  const reviews: StackReview[] = [];
  for (const stack of options.stacks) {
    options.log(`review of ${stack}: drkit diff against ${options.base}`);
    let after;
    let review: StackReview;
    try {
      after = workingTreePlan(projectDir, stack);
      const diff = diffPlans(stack, options.base, revisionPlan(projectDir, options.base, stack), after);
      review = { stack, diff };
    } catch (error) {
      review = { stack, problem: error instanceof ConfigError ? error.message : `drkit: ${messageOf(error)}` };
    }
    const reason = options.expectNoChanges
      ? "a drift check previews every stack"
      : previewReason(stackFileOf(projectDir, stack), changed, (review.diff?.changes.length ?? 0) > 0);
    if (!after) {
      const why = review.problem ? "the config does not validate" : "the stack has no config file now";
      reviews.push({ ...review, notPreviewed: why });
      continue;
    }
    if (!reason) {
      reviews.push({ ...review, notPreviewed: "nothing it depends on changed" });
      continue;
    }
    options.log(`review of ${stack}: pulumi preview --diff with the policy packs (${reason})`);
    const preview = await previewWithPolicies(projectDir, stack, after, {
      policyPacks: [...options.policyPacks],
      policyPackConfigs: [...options.policyPackConfigs],
      expectNoChanges: options.expectNoChanges,
    });
    options.log(`review of ${stack}: preview ${preview.ok ? "passed" : "failed"}`);
    reviews.push({ ...review, preview });
  }
  return reviews;
}
