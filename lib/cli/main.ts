#!/usr/bin/env node
// The convmae command line: `convmae <command> [options]`; `convmae --help` lists the commands.
import { UsageError } from './args';
import { commands } from './commands';

function usage(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return ['usage: convmae <command> [options]', '', 'commands:', ...rows, '', 'Run `convmae <command> --help` for its options.'].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 1 : 0;
  }
  const cmd = (commands as Record<string, (typeof commands)[keyof typeof commands]>)[name];
  if (!cmd) {
    console.error(`convmae: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(cmd.help());
    return 0;
  }
  return await cmd.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) console.error(e.message);
    else console.error(`convmae: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  },
);
