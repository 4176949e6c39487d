// `convmae convert <in.pth|in.safetensors> <out.safetensors>`: every tensor of the checkpoint's
// state dict (the `model` entry when there is one) under its key, values and dtype kept, with the
// architecture inferred from the shapes stored in the metadata.
import { writeSafetensors } from '../../io/safetensors';
import { checkpointConfig, checkpointMetadata, inferKind, readCheckpoint } from '../../models/checkpoint';
import { FlagSpec, UsageError, formatHelp, parseArgs } from '../args';

const spec: Record<string, FlagSpec> = {
  heads: { type: 'number', help: 'stage-3 attention heads, when the shapes match no preset' },
  'decoder-heads': { type: 'number', help: 'decoder attention heads, when the shapes match no preset' },
};

export const convert = {
  summary: 'convert an official .pth checkpoint to safetensors (with the inferred config)',
  help: () => formatHelp('convert', '<in.pth> <out.safetensors> [options]',
    'Reads a torch.save checkpoint without running code from it and writes its state dict to safetensors.\n' +
    'Widths, depths and MLP ratios are read from tensor shapes (args.model in the file is not trusted);\n' +
    'head counts come from the matching preset or the flags below.', spec),
  run(argv: string[]): number {
    const { flags, positionals } = parseArgs(argv, spec, 'convert');
    if (positionals.length !== 2) throw new UsageError('convert: expected an input and an output path (see `convmae convert --help`)');
    const [input, output] = positionals;
    if (!/\.safetensors$/i.test(output)) throw new UsageError(`convert: the output must end in .safetensors, got ${output}`);
    const ck = readCheckpoint(input);
    const config = checkpointConfig(ck, { heads: flags.heads as number | undefined, decoderHeads: flags['decoder-heads'] as number | undefined });
    const kind = inferKind(ck.stateDict);
    const meta = checkpointMetadata(kind, config, { source: input.split('/').pop() ?? input });
    if (ck.extra.epoch !== undefined) meta.epoch = String(ck.extra.epoch);
    writeSafetensors(output, ck.stateDict, meta);
    const dtypes = [...new Set([...ck.stateDict.values()].map((r) => r.dtype))].join(', ');
    console.log(`wrote ${ck.stateDict.size} tensors (${dtypes}) to ${output}`);
    console.log(`kind ${kind}; config ${meta.config}`);
    return 0;
  },
};
