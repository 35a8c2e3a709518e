/** `INFO commandstats` as { command: { calls, usec } }. */
export function parseCommandStats(info: string): Record<string, { calls: number; usec: number }> {
  const stats: Record<string, { calls: number; usec: number }> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    stats[match[1] as string] = { calls: Number(match[2]), usec: Number(match[3]) };
  }
  return stats;
}
