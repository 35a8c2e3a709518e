/** Every command, in the order `hsync --help` lists them. */
import type { Command } from '../command';
import { keyCreateCommand, keyListCommand, keyRevokeCommand } from './keys';
import { controlCommands, runCommand } from './runs';
import { statusCommand } from './status';
import { syncCommand } from './sync';
import { disableCommand, enableCommand } from './toggle';

export const COMMANDS: readonly Command[] = [
  enableCommand,
  disableCommand,
  syncCommand,
  statusCommand,
  runCommand,
  ...controlCommands,
  keyCreateCommand,
  keyListCommand,
  keyRevokeCommand,
];
