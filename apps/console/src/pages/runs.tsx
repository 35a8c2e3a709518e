/** Runs: the history, newest first, filtered by tenant, application and state, a page at a time. */
import { RUN_STATUSES } from '@historical-sync/contracts/run-vocabulary';
import { useState } from 'preact/hooks';
import { ErrorNote, Loading, ProgressBar, Status } from '../components/common';
import { count, instant, shortId } from '../format';
import { useLoad } from '../hooks';
import { href, navigate, type Route } from '../router';
import type { Session } from '../session';

const PAGE_SIZE = 25;

export function RunsPage({ session, route }: { session: Session; route: Route }) {
  const tenantId = route.params.get('tenantId') ?? '';
  const appCode = route.params.get('appCode') ?? '';
  const status = route.params.get('status') ?? '';
  const cursor = route.params.get('cursor') ?? '';
  const [filters, setFilters] = useState({ tenantId, appCode, status });
  const tenants = useLoad(
    (signal) => session.api.call('listTenants', { query: { limit: 100 }, signal }),
    [],
  );
  const { data, error } = useLoad(
    (signal) =>
      session.api.call('listRuns', {
        query: { tenantId, appCode, status, cursor, limit: PAGE_SIZE },
        signal,
      }),
    [tenantId, appCode, status, cursor],
  );
  const submit = (event: Event) => {
    event.preventDefault();
    navigate(href(['runs'], filters));
  };
  const appCodes = [
    ...new Set(tenants.data?.tenants.flatMap((t) => t.applications.map((a) => a.code)) ?? []),
  ];
  return (
    <section aria-labelledby="runs-heading">
      <h1 id="runs-heading">Runs</h1>
      <form class="filters" onSubmit={submit}>
        <label for="runs-tenant">Tenant</label>
        <select
          id="runs-tenant"
          value={filters.tenantId}
          onChange={(e) => setFilters({ ...filters, tenantId: e.currentTarget.value })}
        >
          <option value="">All tenants</option>
          {tenants.data?.tenants.map((t) => (
            <option key={t.tenantId} value={t.tenantId}>
              {t.name}
            </option>
          ))}
          {filters.tenantId &&
            !tenants.data?.tenants.some((t) => t.tenantId === filters.tenantId) && (
              <option value={filters.tenantId}>a tenant not listed</option>
            )}
        </select>
        <label for="runs-app">Application</label>
        <select
          id="runs-app"
          value={filters.appCode}
          onChange={(e) => setFilters({ ...filters, appCode: e.currentTarget.value })}
        >
          <option value="">All applications</option>
          {[...new Set([...appCodes, ...(filters.appCode ? [filters.appCode] : [])])].map(
            (code) => (
              <option key={code} value={code}>
                {code}
              </option>
            ),
          )}
        </select>
        <label for="runs-status">State</label>
        <select
          id="runs-status"
          value={filters.status}
          onChange={(e) => setFilters({ ...filters, status: e.currentTarget.value })}
        >
          <option value="">Any state</option>
          {RUN_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <button type="submit">Filter</button>
      </form>
      <ErrorNote error={error} />
      {!data && !error && <Loading />}
      {data && data.runs.length === 0 && <p>No run matches.</p>}
      {data && data.runs.length > 0 && (
        <table>
          <caption>Runs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Created</th>
              <th scope="col">Tenant</th>
              <th scope="col">Application</th>
              <th scope="col">State</th>
              <th scope="col">Trigger</th>
              <th scope="col">Published / total</th>
              <th scope="col">Progress</th>
            </tr>
          </thead>
          <tbody>
            {data.runs.map((run) => (
              <tr key={run.runId}>
                <th scope="row">
                  <a href={href(['runs', run.tenantId, run.runId])}>Run {shortId(run.runId)}</a>
                </th>
                <td>{instant(run.createdAt)}</td>
                <td>{run.tenantName}</td>
                <td>{run.appCode}</td>
                <td>
                  <Status status={run.status} />
                </td>
                <td>
                  {run.trigger}
                  {run.dryRun ? ' (dry run)' : ''}
                </td>
                <td>
                  {count(run.published)} / {count(run.total)}
                </td>
                <td>
                  <ProgressBar
                    label={`Run ${shortId(run.runId)} progress`}
                    percent={run.percent}
                    status={run.status}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Run pages">
        {cursor && <a href={href(['runs'], { tenantId, appCode, status })}>First page</a>}
        {data?.nextCursor && (
          <a href={href(['runs'], { tenantId, appCode, status, cursor: data.nextCursor })}>
            Next page
          </a>
        )}
      </nav>
    </section>
  );
}
