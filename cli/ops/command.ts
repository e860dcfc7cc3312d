/**
 * Registers the operations commands: `fieldsync verify`, `fieldsync status` and
 * `fieldsync replay`. Each lives in its own module beside this one; the logic is in
 * lib/verify, lib/status and lib/replay.
 */
import type { Command } from 'commander';
import { registerReplayCommand } from './replay.js';
import { registerStatusCommand } from './status.js';
import { registerVerifyCommand } from './verify.js';

export function registerOpsCommands(program: Command): void {
  registerVerifyCommand(program);
  registerStatusCommand(program);
  registerReplayCommand(program);
}
