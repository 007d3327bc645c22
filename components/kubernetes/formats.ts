/** Syntax of Kubernetes values that the API server would otherwise reject only at apply time. */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** RFC 1123 label: what namespaces and most object names must be. */
export const isDns1123Label = (value: string) => value.length <= 63 && DNS1123_LABEL.test(value);

/** RFC 1123 subdomain: dot-separated labels, at most 253 characters (StorageClass names). */
export const isDns1123Subdomain = (value: string) =>
  value.length <= 253 && value.split(".").every((part) => DNS1123_LABEL.test(part));

const SUFFIX_BYTES: Record<string, number> = {
  "": 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * The value of a Kubernetes quantity ("10Gi", "500m", "1.5G", "2e9"), or undefined when it is not one.
 * Only the forms `kubectl` users write: an unsigned decimal with an optional SI or binary suffix or exponent.
 */
export function parseQuantity(text: string): number | undefined {
  const match = /^([0-9]+(?:\.[0-9]+)?)(?:(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)|[eE]([0-9]+))?$/.exec(text);
  if (!match) return undefined;
  const [, number, suffix, exponent] = match;
  return Number(number) * (exponent !== undefined ? 10 ** Number(exponent) : SUFFIX_BYTES[suffix ?? ""]);
}

export const GIB = 2 ** 30;
export const MIB = 2 ** 20;
