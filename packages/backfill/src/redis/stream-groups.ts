/** A stream's consumer groups as Redis reports them (`XINFO GROUPS`). */
import type { Cluster, Redis } from 'ioredis';

export interface StreamGroup {
  name: string;
  /** Entries not yet delivered to the group; null when Redis cannot count them (after a trim). */
  lag: number | null;
  /** Entries delivered, not acknowledged. */
  pending: number;
}

/** One reply of XINFO (a flat list of names and values) as an object. */
export const fieldsOf = (flat: unknown[]): Record<string, unknown> => {
  const fields: Record<string, unknown> = {};
  for (let i = 0; i < flat.length; i += 2) fields[String(flat[i])] = flat[i + 1];
  return fields;
};

/** The groups of a stream; none when the stream does not exist. */
export async function streamGroups(redis: Redis | Cluster, stream: string): Promise<StreamGroup[]> {
  const groups = (await redis.xinfo('GROUPS', stream).catch(() => [])) as unknown[][];
  return groups.map((flat) => {
    const info = fieldsOf(flat);
    return {
      name: String(info.name),
      lag: info.lag === null || info.lag === undefined ? null : Number(info.lag),
      pending: Number(info.pending ?? 0),
    };
  });
}
