// The CLI's command table: name -> { summary, help(), run(argv) }.
import { info } from './info';

export interface Command {
  summary: string;
  help(): string;
  run(argv: string[]): number | Promise<number>;
}

export const commands: Record<string, Command> = {
  info,
};
