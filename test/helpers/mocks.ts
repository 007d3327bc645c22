import * as pulumi from "@pulumi/pulumi";

/** One resource as the engine would have been asked to create it. */
export interface Registered {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, any>;
  /** The provider reference `<urn>::<id>` the engine would use ("" for the default provider). */
  readonly provider: string;
}

export const keyOf = (type: string, name: string) => `${type}::${name}`;
const keyOfUrn = (urn: string) => {
  const parts = urn.split("::");
  return keyOf(parts[2].split("$").pop()!, parts.slice(3).join("::"));
};

export interface MockRecorder {
  readonly registered: Registered[];
  /** The "<type>::<name>"s a resource waits on (names alone collide across types). */
  dependencies(type: string, name: string): string[] | undefined;
  /** The "<type>::<name>" of a resource's parent, when it has one (components register their children). */
  parentOf(type: string, name: string): string | undefined;
  /** The names a resource waits on, for a resource whose name is unique. */
  dependencyNames(name: string): string[] | undefined;
  /** Resolves once no resource has been registered for a while: registration is asynchronous. */
  settle(): Promise<void>;
}

/**
 * Installs Pulumi's official mocks and records every resource. Call it before importing any component.
 * The mocks' newResource does not see resource options; the RegisterResource request does: its dependency
 * list is every URN the resource waits on (explicit dependsOn, a component expanded to its children, and
 * the sources of its inputs), which is what the engine orders operations by.
 */
export function recordResources(
  options: {
    state?: (args: pulumi.runtime.MockResourceArgs) => Record<string, unknown>;
    call?: (args: pulumi.runtime.MockCallArgs) => Record<string, any>;
  } = {},
): MockRecorder {
  const registered: Registered[] = [];
  const dependencies = new Map<string, string[]>();
  const parents = new Map<string, string>();
  pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider ?? "" });
        return { id: `${args.name}-id`, state: options.state?.(args) ?? args.inputs };
      },
      call: options.call ?? ((args) => args.inputs),
    },
    "drkit",
    "unit",
    false,
  );
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource: (req: any, cb: unknown) => unknown };
  const registerResource = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    dependencies.set(keyOf(req.getType(), req.getName()), (req.getDependenciesList() as string[]).map(keyOfUrn));
    const parent = req.getParent() as string;
    if (parent && !parent.includes("::pulumi:pulumi:Stack::"))
      parents.set(keyOf(req.getType(), req.getName()), keyOfUrn(parent));
    return registerResource(req, cb);
  };
  return {
    registered,
    dependencies: (type, name) => dependencies.get(keyOf(type, name)),
    parentOf: (type, name) => parents.get(keyOf(type, name)),
    dependencyNames: (name) => {
      const found = [...dependencies.entries()].filter(([key]) => key.endsWith(`::${name}`));
      return found.length === 1 ? found[0][1].map((k) => k.split("::").pop()!) : undefined;
    },
    settle: async () => {
      let last = -1;
      while (last !== registered.length) {
        last = registered.length;
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

/** Whether a recorded input value is a Pulumi secret. */
export const isSecret = (v: any) =>
  v !== null && typeof v === "object" && v[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;
