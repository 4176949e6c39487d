// The CLI's command table: name -> { summary, help(), run(argv) }.
import { convert } from './convert';
import { evalCommand } from './eval';
import { finetune } from './finetune';
import { info } from './info';
import { linprobe } from './linprobe';
import { parity } from './parity';
import { pretrain } from './pretrain';
import { visualize } from './visualize';

export interface Command {
  summary: string;
  help(): string;
  run(argv: string[]): number | Promise<number>;
}

export const commands: Record<string, Command> = {
  info,
  convert,
  parity,
  pretrain,
  finetune,
  linprobe,
  eval: evalCommand,
  visualize,
};
