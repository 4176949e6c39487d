// `convmae info`: the backends this build has and what can run here.
import { backends, formatBackends } from '../../backends';
import { packageVersion } from '../../util/package_root';
import { formatHelp, parseArgs } from '../args';

const spec = { json: { type: 'boolean' as const, help: 'print the report as JSON', default: false } };

export const info = {
  summary: 'show the compiled and usable backends (cpu, cuda) and the GPU',
  help: () => formatHelp('info', '[--json]', 'Shows what this convmae build was compiled with and what can run on this machine.', spec),
  run(argv: string[]): number {
    const { flags } = parseArgs(argv, spec, 'info');
    if (flags.json) {
      console.log(JSON.stringify({ version: packageVersion(), ...backends() }, null, 2));
    } else {
      console.log(`convmae ${packageVersion()}`);
      console.log(formatBackends());
    }
    return 0;
  },
};
