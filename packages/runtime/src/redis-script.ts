/**
 * Lua scripts as ioredis custom commands (`defineCommand`): ioredis sends EVALSHA and falls back
 * to the script's text only when Redis does not have it cached (after a restart or a SCRIPT
 * FLUSH), so a call costs no script text on the wire. Each client learns a script once, the first
 * time it runs it. The backfill's, the relay's and the API's scripts all go through here.
 */
import type { Cluster, Redis } from 'ioredis';

export interface Script {
  name: string;
  numberOfKeys: number;
  lua: string;
}

let scripts = 0;

/** A script taking `numberOfKeys` keys, then its arguments. */
export function script(numberOfKeys: number, lua: string): Script {
  scripts += 1;
  return { name: `historicalSyncScript${scripts}`, numberOfKeys, lua };
}

type ScriptCommand = (...keysAndArgs: (string | number)[]) => Promise<unknown>;

export async function evalScript(
  redis: Redis | Cluster,
  { name, numberOfKeys, lua }: Script,
  keys: string[],
  args: (string | number)[],
): Promise<unknown> {
  const commands = redis as unknown as Record<string, ScriptCommand | undefined>;
  if (!commands[name]) redis.defineCommand(name, { numberOfKeys, lua });
  return (commands[name] as ScriptCommand).call(redis, ...keys, ...args);
}
