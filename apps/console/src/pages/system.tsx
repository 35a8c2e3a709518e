/**
 * System (admin): publish rate over the last minutes, outbox, Redis's memory, the streams and
 * their consumer groups, workers. Every stream of the system is listed, a stream no group reads
 * yet (an application enabled before its consumer first ran) too, with the groups that read it. A stream's warning (a stream no group reads, a stalled group)
 * stands beside it, since it names what to do about memory no consumer is using; those streams,
 * and stalled groups, come first.
 */
import { Fragment } from 'preact';
import { useEffect } from 'preact/hooks';
import { ErrorNote, Loading, Status } from '../components/common';
import { EventsChart } from '../components/events-chart';
import { RedisMemorySection } from '../components/redis-memory';
import { bytes, count, duration, instant } from '../format';
import { useLoad } from '../hooks';
import type { Session } from '../session';
import type { SystemView } from '../types';

const REFRESH_MS = 5000;

/** Those that need a person first; otherwise in the API's order. */
const needingAction = <T,>(items: T[], needs: (item: T) => boolean) =>
  [...items].sort((a, b) => Number(needs(b)) - Number(needs(a)));

/** A stream's name, allowed to wrap after each `:` so a long one leaves room for its warning. */
const StreamName = ({ name }: { name: string }) => (
  <>
    {name.split(':').map((part, i, parts) => (
      <Fragment key={i}>
        {part}
        {i < parts.length - 1 && (
          <>
            :<wbr />
          </>
        )}
      </Fragment>
    ))}
  </>
);

function StreamsTable({ view }: { view: SystemView }) {
  const { streams } = view;
  if (streams.length === 0) return <p>No stream yet.</p>;
  const groupsOf = new Map<string, string[]>();
  for (const g of view.consumerGroups) {
    groupsOf.set(g.stream, [...(groupsOf.get(g.stream) ?? []), g.group]);
  }
  return (
    <table class="streams" aria-labelledby="streams-heading">
      <thead>
        <tr>
          <th scope="col">Stream</th>
          <th scope="col">Entries</th>
          <th scope="col">Consumer groups</th>
          <th scope="col">Memory</th>
          <th scope="col">Oldest unacknowledged</th>
          <th scope="col">Warning</th>
        </tr>
      </thead>
      <tbody>
        {needingAction(streams, (s) => s.warning !== null).map((s) => (
          <tr key={s.stream} class={s.warning ? 'has-warning' : undefined}>
            <th scope="row">
              <StreamName name={s.stream} />
            </th>
            <td>{count(s.length)}</td>
            <td>{groupsOf.get(s.stream)?.join(', ') ?? 'none'}</td>
            <td>{bytes(s.memoryBytes)}</td>
            <td>{duration(s.oldestUnackedAgeSeconds)}</td>
            <td>
              {s.warning && (
                <p class="warning" role="alert">
                  {s.warning}
                </p>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function GroupsTable({ groups }: { groups: SystemView['consumerGroups'] }) {
  if (groups.length === 0) return <p>No consumer group yet.</p>;
  return (
    <table aria-labelledby="groups-heading">
      <thead>
        <tr>
          <th scope="col">Stream</th>
          <th scope="col">Group</th>
          <th scope="col">Lag</th>
          <th scope="col">Pending</th>
          <th scope="col">Idle</th>
          <th scope="col">Oldest unacknowledged</th>
        </tr>
      </thead>
      <tbody>
        {needingAction(groups, (g) => g.stalled).map((g) => (
          <tr key={`${g.stream} ${g.group}`}>
            <th scope="row">
              <StreamName name={g.stream} />
            </th>
            <td>
              {g.group} {g.stalled && <Status status="stalled" />}
            </td>
            <td>{count(g.lag)}</td>
            <td>{count(g.pending)}</td>
            <td>{g.idleSeconds === null ? 'no consumer' : duration(g.idleSeconds)}</td>
            <td>{duration(g.oldestUnackedAgeSeconds)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function SystemPage({ session }: { session: Session }) {
  const { data, error, reload } = useLoad(
    (signal) => session.api.call('getSystem', { signal }),
    [],
  );
  useEffect(() => {
    const timer = setInterval(reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);
  if (!data) return error ? <ErrorNote error={error} /> : <Loading />;
  return (
    <section aria-labelledby="system-heading">
      <h1 id="system-heading">System</h1>
      <ErrorNote error={error} />
      <section aria-labelledby="rate-heading">
        <h2 id="rate-heading">Events per second, last 15 minutes</h2>
        <EventsChart points={data.eventsPerSecond} />
      </section>
      <section aria-labelledby="outbox-heading">
        <h2 id="outbox-heading">Outbox</h2>
        <dl class="facts">
          <dt>Backlog</dt>
          <dd>{count(data.outbox.backlog)} events</dd>
          <dt>Oldest waiting</dt>
          <dd>{duration(data.outbox.oldestAgeSeconds)}</dd>
        </dl>
      </section>
      <RedisMemorySection memory={data.redis} />
      <section aria-labelledby="streams-heading">
        <h2 id="streams-heading">Streams</h2>
        <StreamsTable view={data} />
      </section>
      <section aria-labelledby="groups-heading">
        <h2 id="groups-heading">Consumer groups</h2>
        <GroupsTable groups={data.consumerGroups} />
      </section>
      <section aria-labelledby="workers-heading">
        <h2 id="workers-heading">Workers seen in the last minute</h2>
        {data.workers.length === 0 ? (
          <p>No worker seen.</p>
        ) : (
          <table aria-labelledby="workers-heading">
            <thead>
              <tr>
                <th scope="col">Worker</th>
                <th scope="col">Roles</th>
                <th scope="col">Started</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {data.workers.map((w) => (
                <tr key={w.id}>
                  <th scope="row">{w.id}</th>
                  <td>{w.roles.join(', ')}</td>
                  <td>{instant(w.startedAt)}</td>
                  <td>{instant(w.lastSeenAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </section>
  );
}
