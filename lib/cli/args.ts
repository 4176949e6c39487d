// A small argv parser for the CLI: --flag value, --flag=value, --no-flag, booleans and
// positionals; unknown flags are errors that name the flag and point at --help.
export interface FlagSpec {
  type: 'string' | 'number' | 'boolean';
  help: string;
  default?: string | number | boolean;
  /** Allowed values for string flags. */
  choices?: readonly string[];
}

export interface Parsed {
  flags: Record<string, string | number | boolean | undefined>;
  positionals: string[];
}

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[], spec: Record<string, FlagSpec>, command: string): Parsed {
  const flags: Parsed['flags'] = {};
  const positionals: string[] = [];
  for (const [k, s] of Object.entries(spec)) flags[k] = s.default;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    let name = a.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (name.startsWith('no-') && spec[name.slice(3)]?.type === 'boolean' && value === undefined) {
      flags[name.slice(3)] = false;
      continue;
    }
    const s = spec[name];
    if (!s) throw new UsageError(`${command}: unknown option --${name} (see \`convmae ${command} --help\`)`);
    if (s.type === 'boolean') {
      flags[name] = value === undefined ? true : value !== 'false' && value !== '0';
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`${command}: option --${name} needs a value`);
    }
    if (s.type === 'number') {
      const v = Number(value);
      if (value.trim() === '' || !Number.isFinite(v)) throw new UsageError(`${command}: --${name} expects a number but got ${JSON.stringify(value)}`);
      flags[name] = v;
    } else {
      if (s.choices && !s.choices.includes(value)) {
        throw new UsageError(`${command}: --${name} must be one of ${s.choices.join(', ')} but got ${JSON.stringify(value)}`);
      }
      flags[name] = value;
    }
  }
  return { flags, positionals };
}

export function formatHelp(command: string, usage: string, summary: string, spec: Record<string, FlagSpec>): string {
  const rows = Object.entries(spec).map(([k, s]) => {
    const left = `  --${k}${s.type === 'boolean' ? '' : ` <${s.choices ? s.choices.join('|') : s.type}>`}`;
    const def = s.default !== undefined ? ` (default: ${s.default})` : '';
    return `${left.padEnd(34)} ${s.help}${def}`;
  });
  return [`usage: convmae ${command} ${usage}`, '', summary, '', 'options:', ...rows, `${'  --help'.padEnd(34)} show this help`].join('\n');
}
