// The CLI's command table: name -> { summary, help(), run(argv) }.
import { convert } from './convert';
import { info } from './info';
import { parity } from './parity';
import { pretrain } from './pretrain';

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
};
