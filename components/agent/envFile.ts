/** A value of the agent's settings file: text, a number, or a list (a bash array). */
export type SettingValue = string | number | readonly string[];
export type Settings = Readonly<Record<string, SettingValue>>;

/** Quotes a value as one shell word. */
export function shq(value: string | number): string {
  const text = String(value);
  if (/^[A-Za-z0-9_./:@%+=,-]+$/.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

const NAME = /^[A-Z][A-Z0-9_]*$/;

/**
 * The agent's settings file: one `NAME=value` (or `NAME=(a b)`) line per setting, sorted, every value quoted,
 * so the verbs can source it. Names are checked here: a bad one is a bug in drkit, not in the stack config.
 */
export function renderEnvFile(title: string, settings: Settings): string {
  const lines = Object.keys(settings)
    .sort()
    .map((name) => {
      if (!NAME.test(name)) throw new Error(`agent setting name "${name}" is not an upper-case shell name`);
      const value = settings[name]!;
      return Array.isArray(value)
        ? `${name}=(${(value as readonly string[]).map(shq).join(" ")})`
        : `${name}=${shq(value as string | number)}`;
    });
  return (
    `# ${title}\n# Rendered by drkit from the stack config; the agent's verbs source it. ` +
    `Edit the stack config instead.\n${lines.join("\n")}\n`
  );
}
