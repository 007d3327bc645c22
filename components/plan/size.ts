/** Sizes in stack config: "512MB", "4GB", "1TB" (powers of 1024, as PostgreSQL reads them). */
const UNIT_BYTES: Record<string, number> = { MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
export const SIZE = /^([1-9][0-9]*)(MB|GB|TB)$/;

/** Parses a size into bytes; undefined when the text is not a size. */
export function parseSize(value: string): number | undefined {
  const m = SIZE.exec(value.trim());
  return m ? Number(m[1]) * UNIT_BYTES[m[2]] : undefined;
}
