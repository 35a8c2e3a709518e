/** System (admin): publish rate over the last minutes, outbox, consumer groups, workers. */
import { useEffect } from 'preact/hooks';
import type { Session } from '../app';
import { ErrorNote, Loading } from '../components/common';
import { EventsChart } from '../components/events-chart';
import { count, duration, instant } from '../format';
import { useLoad } from '../hooks';
import type { SystemView } from '../types';

const REFRESH_MS = 5000;

export function SystemPage({ session }: { session: Session }) {
  const { data, error, reload } = useLoad(
    (signal) => session.api.get<SystemView>('/admin/system', signal),
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
      <section aria-labelledby="groups-heading">
        <h2 id="groups-heading">Consumer groups</h2>
        {data.consumerGroups.length === 0 ? (
          <p>No consumer group yet.</p>
        ) : (
          <table aria-labelledby="groups-heading">
            <thead>
              <tr>
                <th scope="col">Stream</th>
                <th scope="col">Group</th>
                <th scope="col">Lag</th>
                <th scope="col">Pending</th>
              </tr>
            </thead>
            <tbody>
              {data.consumerGroups.map((g) => (
                <tr key={`${g.stream} ${g.group}`}>
                  <th scope="row">{g.stream}</th>
                  <td>{g.group}</td>
                  <td>{count(g.lag)}</td>
                  <td>{count(g.pending)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
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
