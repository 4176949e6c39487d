// `convmae parity <file.safetensors> [--device cpu|cuda]`: checks this build against a reference
// file produced by the official PyTorch code (fixtures/README.md format).
import { formatParity, runParity } from '../../parity/parity';
import { FlagSpec, UsageError, formatHelp, parseArgs } from '../args';

const spec: Record<string, FlagSpec> = {
  device: { type: 'string', help: 'device to run on (cuda uses the pure float32 mode)', default: 'cpu', choices: ['cpu', 'cuda'] },
  json: { type: 'boolean', help: 'print the report as JSON', default: false },
};

export const parity = {
  summary: 'compare forward, loss and every gradient with a PyTorch reference file',
  help: () => formatHelp('parity', '<file.safetensors> [options]',
    'Builds the model described by the file\'s config, loads its weights, runs forward and backward on its inputs and\n' +
    'prints the relative L2 error of every compared tensor (forward tolerance 1e-4, gradients 1e-3, masks exact).\n' +
    'Exits 1 when any tensor is outside its tolerance.', spec),
  run(argv: string[]): number {
    const { flags, positionals } = parseArgs(argv, spec, 'parity');
    if (positionals.length !== 1) throw new UsageError('parity: expected one reference file (see `convmae parity --help`)');
    const report = runParity(positionals[0], { device: flags.device as 'cpu' | 'cuda' });
    console.log(flags.json ? JSON.stringify(report, null, 2) : formatParity(report));
    return report.ok ? 0 : 1;
  },
};
