import {
  UnknownValueError,
  unknownCheckingProxy,
  type PolicyResource,
  type ResourceValidationPolicy,
  type StackValidationPolicy,
} from "@pulumi/policy";

export interface FakeResource {
  readonly type: string;
  readonly name: string;
  readonly props: Record<string, unknown>;
  /** URN of the parent resource, if any. */
  readonly parent?: string;
}

export interface Diagnostic {
  readonly policy: string;
  readonly level: string;
  readonly message: string;
}

export type PackConfig = Record<
  string,
  { enforcementLevel?: "advisory" | "mandatory" | "disabled"; [key: string]: unknown }
>;

export const urnOf = (r: FakeResource) => `urn:pulumi:test::drkit::${r.type}::${r.name}`;

/**
 * Evaluates policies the way the analyzer does: props wrapped in @pulumi/policy's unknown-checking
 * proxy, config defaults from each policy's schema overlaid with the pack config, enforcement level
 * from the config, then the policy, then the pack; an unknown value turns into an advisory note.
 */
export async function evaluate(
  policies: Array<ResourceValidationPolicy | StackValidationPolicy>,
  resources: FakeResource[],
  config: PackConfig = {},
  packLevel = "mandatory",
): Promise<Diagnostic[]> {
  const diagnostics: Diagnostic[] = [];
  for (const policy of policies) {
    const { enforcementLevel, ...overrides } = config[policy.name] ?? {};
    const level = enforcementLevel ?? policy.enforcementLevel ?? packLevel;
    if (level === "disabled") continue;
    const defaults = Object.fromEntries(
      Object.entries(policy.configSchema?.properties ?? {}).map(([k, v]) => [k, (v as { default?: unknown }).default]),
    );
    const policyConfig = { ...defaults, ...overrides };
    const report = (message: string) => diagnostics.push({ policy: policy.name, level, message });
    const notApplicable = (reason?: string): never => {
      throw new Error(`not applicable: ${reason}`);
    };
    try {
      if ("validateResource" in policy) {
        for (const r of resources) {
          const props = unknownCheckingProxy(r.props);
          const args = {
            type: r.type,
            props,
            urn: urnOf(r),
            name: r.name,
            opts: {} as any,
            stackTags: new Map(),
            getConfig: () => policyConfig as any,
            isType: () => false,
            asType: () => undefined,
            notApplicable,
          };
          const validations = Array.isArray(policy.validateResource)
            ? policy.validateResource
            : [policy.validateResource];
          for (const v of validations) if (v) await v(args as any, report);
        }
      } else {
        const built = resources.map(
          (r) =>
            ({
              type: r.type,
              name: r.name,
              urn: urnOf(r),
              props: unknownCheckingProxy(r.props),
              opts: {} as any,
              dependencies: [],
              propertyDependencies: {},
              isType: () => false,
              asType: () => undefined,
            }) as unknown as PolicyResource,
        );
        resources.forEach((r, i) => {
          if (r.parent) (built[i] as any).parent = built.find((b) => b.urn === r.parent);
        });
        await (policy as StackValidationPolicy).validateStack(
          { resources: built, getConfig: () => policyConfig as any, stackTags: new Map(), notApplicable } as any,
          report,
        );
      }
    } catch (error) {
      if (error instanceof UnknownValueError)
        diagnostics.push({
          policy: policy.name,
          level: "advisory",
          message: `can't run policy '${policy.name}' during preview: ${(error as Error).message}`,
        });
      else throw error;
    }
  }
  return diagnostics;
}
