/**
 * Where the worker's CPU went: a V8 .cpuprofile (node --cpu-prof) folded into self time per part
 * of the stack (our code, pg, ioredis, BullMQ, V8's GC, ...) and per function, so a missed target
 * comes with the profile that explains it.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const PARTS: Array<[RegExp, string]> = [
  [/node_modules\/(pg|pg-protocol|pg-types|pg-pool|postgres-)/, 'pg (Postgres protocol, rows)'],
  [/node_modules\/(ioredis|redis-parser|@ioredis)/, 'ioredis (commands, replies)'],
  [/node_modules\/bullmq/, 'BullMQ'],
  [/node_modules\/kysely/, 'Kysely'],
  [/node_modules\/zod/, 'zod'],
  [/node_modules\/pino/, 'pino'],
  [/node_modules\//, 'other dependencies'],
  [/\/(packages|apps)\//, 'historical-sync code'],
  [/^node:|^internal\/|^$/, 'Node.js and V8 built-ins'],
];

function partOf(frame: ProfileNode['callFrame']): string {
  if (frame.functionName === '(garbage collector)') return 'garbage collection';
  if (frame.functionName === '(program)') return 'V8 (program)';
  for (const [pattern, part] of PARTS) if (pattern.test(frame.url)) return part;
  return 'other';
}

export interface ProfileSummary {
  busyMs: number;
  parts: Array<{ part: string; ms: number; share: number }>;
  functions: Array<{ name: string; ms: number; share: number }>;
}

/**
 * Summarizes the process's main-thread profile in `dir`: the largest .cpuprofile (the module
 * loader's worker thread writes a small one of its own).
 */
export async function summarizeProfile(
  dir: string,
  /** Only samples in this window (process.hrtime.bigint() values: V8 uses the same clock). */
  window?: { from: bigint; to: bigint },
  top = 12,
): Promise<ProfileSummary> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  const sized = await Promise.all(
    files.map(async (file) => ({ file, size: (await stat(join(dir, file))).size })),
  );
  const largest = sized.sort((a, b) => b.size - a.size)[0];
  if (!largest) throw new Error(`no .cpuprofile in ${dir}`);
  const profile = JSON.parse(await readFile(join(dir, largest.file), 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMs = new Map<number, number>();
  const fromUs = window ? Number(window.from / 1000n) : Number.NEGATIVE_INFINITY;
  const toUs = window ? Number(window.to / 1000n) : Number.POSITIVE_INFINITY;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < fromUs || at > toUs) return;
    selfMs.set(id, (selfMs.get(id) ?? 0) + delta / 1000);
  });
  const parts = new Map<string, number>();
  const functions = new Map<string, number>();
  let busyMs = 0;
  for (const [id, ms] of selfMs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame || frame.functionName === '(idle)') continue;
    busyMs += ms;
    const part = partOf(frame);
    parts.set(part, (parts.get(part) ?? 0) + ms);
    const where = frame.url
      ? frame.url.replace(/^.*node_modules\//, '').replace(/^.*\/(packages|apps)\//, '$1/')
      : '';
    const name = `${frame.functionName || '(anonymous)'}${where ? ` ${where}:${frame.lineNumber + 1}` : ''}`;
    functions.set(name, (functions.get(name) ?? 0) + ms);
  }
  const ranked = (map: Map<string, number>) =>
    [...map].sort((a, b) => b[1] - a[1]).map(([key, ms]) => ({ key, ms, share: ms / busyMs }));
  return {
    busyMs,
    parts: ranked(parts).map(({ key, ms, share }) => ({ part: key, ms, share })),
    functions: ranked(functions)
      .slice(0, top)
      .map(({ key, ms, share }) => ({ name: key, ms, share })),
  };
}
