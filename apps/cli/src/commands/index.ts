/** Every command, in the order `hsync --help` lists them. */
import type { Command } from '../command';
import { runsCommand } from './history';
import { keyCreateCommand, keyListCommand, keyRevokeCommand } from './keys';
import { controlCommands, retryCommand, runCommand } from './runs';
import { statusCommand } from './status';
import { streamsCommand, streamsDetachCommand } from './streams';
import { syncCommand } from './sync';
import { tenantsCommand } from './tenants';
import { disableCommand, enableCommand } from './toggle';
import { verifyCommand } from './verify';

export const COMMANDS: readonly Command[] = [
  enableCommand,
  disableCommand,
  syncCommand,
  statusCommand,
  verifyCommand,
  tenantsCommand,
  runsCommand,
  runCommand,
  ...controlCommands,
  retryCommand,
  streamsCommand,
  streamsDetachCommand,
  keyCreateCommand,
  keyListCommand,
  keyRevokeCommand,
];
