/**
 * Redis's memory on the System page: used of maxmemory as a meter with the mark above which
 * backfills wait, and the last trim. Streams are Redis's largest keys, so this is where an
 * operator sees whether retention keeps up before Redis starts refusing writes.
 */

import { bytes, count, instant, percent } from '../format';
import type { SystemView } from '../types';

type RedisMemory = SystemView['redis'];

function MemoryMeter({ memory }: { memory: RedisMemory }) {
  const used = memory.usedBytes / memory.maxBytes;
  const waitsAbove = memory.backfillWaitsAbove;
  const high = waitsAbove !== null && used >= waitsAbove;
  const text = `${bytes(memory.usedBytes)} of ${bytes(memory.maxBytes)} (${percent(used)})`;
  return (
    // biome-ignore lint/a11y/useSemanticElements: a native <meter> cannot draw the line where backfills wait; this carries the same role and values
    <div
      class="meter"
      role="meter"
      aria-label="Redis memory used"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(Math.min(1, used) * 100)}
      aria-valuetext={text}
    >
      <div
        class={high ? 'meter-fill meter-high' : 'meter-fill'}
        style={{ width: `${Math.min(100, used * 100)}%` }}
      />
      {waitsAbove !== null && (
        // The line itself is decoration: the facts below say the same in words.
        <div class="meter-mark" aria-hidden="true" style={{ left: `${waitsAbove * 100}%` }} />
      )}
      <span class="meter-text">{text}</span>
    </div>
  );
}

export function RedisMemorySection({ memory }: { memory: RedisMemory }) {
  const limited = memory.maxBytes > 0;
  return (
    <section aria-labelledby="memory-heading">
      <h2 id="memory-heading">Redis memory</h2>
      {limited ? (
        <MemoryMeter memory={memory} />
      ) : (
        <p class="warning" role="alert">
          No maxmemory set: Redis grows until the machine runs out of memory. Set{' '}
          <code>maxmemory</code> with room for the streams' backlog and{' '}
          <code>maxmemory-policy noeviction</code> (an evicted stream entry or checkpoint is lost).
        </p>
      )}
      <dl class="facts">
        <dt>Used</dt>
        <dd>
          {bytes(memory.usedBytes)}
          {limited
            ? ` of ${bytes(memory.maxBytes)} (${percent(memory.usedBytes / memory.maxBytes)})`
            : ' (no limit)'}
        </dd>
        <dt>Backfills wait above</dt>
        <dd>
          {memory.backfillWaitsAbove === null
            ? limited
              ? 'never (BACKFILL_REDIS_MEMORY_PERCENT is 0)'
              : 'never (no maxmemory to measure against)'
            : `${percent(memory.backfillWaitsAbove)} (${bytes(memory.backfillWaitsAbove * memory.maxBytes)})`}
        </dd>
        <dt>Streams last trimmed</dt>
        <dd>
          {memory.lastTrim
            ? `${instant(memory.lastTrim.at)}, ${count(memory.lastTrim.removed)} ${memory.lastTrim.removed === 1 ? 'entry' : 'entries'} removed`
            : 'not yet (a worker with the sweeper role trims them every few seconds)'}
        </dd>
      </dl>
    </section>
  );
}
