import * as pulumi from "@pulumi/pulumi";
import type { SecretText } from "../plan/types";

/** A secret from the stack config, decrypted by the engine, as a secret output; `what` names its field. */
export function stackSecret(value: SecretText | undefined, what: string): pulumi.Output<string> {
  if (typeof value !== "string") throw new Error(`${what} must be set in the stack config (a Pulumi secret)`);
  return pulumi.secret(value);
}
