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

/**
 * Creates `group` on `stream` at `startId` (MKSTREAM: the stream may not exist yet); false when it
 * exists already (BUSYGROUP), e.g. another consumer of the group created it first.
 */
export async function createGroup(
  redis: Redis | Cluster,
  stream: string,
  group: string,
  startId: string,
): Promise<boolean> {
  try {
    await redis.xgroup('CREATE', stream, group, startId, 'MKSTREAM');
    return true;
  } catch (error) {
    if (!(error instanceof Error) || !error.message.includes('BUSYGROUP')) throw error;
    return false;
  }
}

/**
 * NOGROUP: the stream or its group does not exist. UNBLOCKED: the stream was deleted while a read
 * was blocked on it (Redis 7 ends such a read with that error rather than leaving it blocked).
 */
export function isGroupGone(error: unknown): boolean {
  return error instanceof Error && /^(NOGROUP|UNBLOCKED)/.test(error.message);
}
