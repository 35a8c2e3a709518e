import type { Cluster, Redis } from 'ioredis';

export interface ConsumerGroupInfo {
  name: string;
  /** Entries not yet delivered to the group; null when Redis cannot tell (after deletions). */
  lag: number | null;
  /** Entries delivered but not acknowledged. */
  pending: number;
}

/** The consumer groups of a stream (none when the stream does not exist). */
export async function consumerGroups(
  redis: Redis | Cluster,
  stream: string,
): Promise<ConsumerGroupInfo[]> {
  const groups = (await redis.xinfo('GROUPS', stream).catch(() => [])) as unknown[][];
  return groups.map((fields) => {
    const info: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i += 2) info[String(fields[i])] = fields[i + 1];
    return {
      name: String(info.name),
      lag: info.lag === null || info.lag === undefined ? null : Number(info.lag),
      pending: Number(info.pending ?? 0),
    };
  });
}
