/** Tenants: each tenant's applications, enabled or not, whether a sync is needed, the latest run. */
import { useState } from 'preact/hooks';
import { ErrorNote, Loading, ProgressBar, Status } from '../components/common';
import { instant } from '../format';
import { useLoad } from '../hooks';
import { href, navigate, type Route } from '../router';
import type { Session } from '../session';

export function TenantsPage({ session, route }: { session: Session; route: Route }) {
  const q = route.params.get('q') ?? '';
  const cursor = route.params.get('cursor') ?? '';
  const [search, setSearch] = useState(q);
  const { data, error } = useLoad(
    (signal) => session.api.call('listTenants', { query: { q, cursor, limit: 50 }, signal }),
    [q, cursor],
  );
  const submit = (event: Event) => {
    event.preventDefault();
    navigate(href(['tenants'], { q: search.trim() }));
  };
  return (
    <section aria-labelledby="tenants-heading">
      <h1 id="tenants-heading">Tenants</h1>
      <form class="filters" onSubmit={submit}>
        <label for="tenant-search">Search by name or id</label>
        <input
          id="tenant-search"
          type="search"
          value={search}
          onInput={(e) => setSearch(e.currentTarget.value)}
        />
        <button type="submit">Search</button>
      </form>
      <ErrorNote error={error} />
      {!data && !error && <Loading />}
      {data && data.tenants.length === 0 && <p>No tenant matches.</p>}
      {data && data.tenants.length > 0 && (
        <table>
          <caption>Tenants and their applications</caption>
          <thead>
            <tr>
              <th scope="col">Tenant</th>
              <th scope="col">Application</th>
              <th scope="col">Enabled</th>
              <th scope="col">Sync needed</th>
              <th scope="col">Latest run</th>
              <th scope="col">Progress</th>
            </tr>
          </thead>
          <tbody>
            {data.tenants.flatMap((tenant) => {
              const apps = tenant.applications.length ? tenant.applications : [null];
              return apps.map((app, index) => (
                <tr key={`${tenant.tenantId}-${app?.code ?? 'none'}`}>
                  {index === 0 && (
                    <th scope="rowgroup" rowSpan={apps.length}>
                      <span class="name">{tenant.name}</span>
                      <br />
                      <code class="id">{tenant.tenantId}</code>
                    </th>
                  )}
                  {app ? (
                    <>
                      <td>
                        <a href={href(['tenants', tenant.tenantId, 'apps', app.code])}>
                          {app.name} ({app.code})
                        </a>
                      </td>
                      <td>{app.isEnabled ? 'enabled' : 'disabled'}</td>
                      <td>{app.syncNeeded ? 'sync needed' : 'no'}</td>
                      <td>
                        {app.latestRun ? (
                          <a href={href(['runs', tenant.tenantId, app.latestRun.runId])}>
                            <Status status={app.latestRun.status} />{' '}
                            {instant(app.latestRun.createdAt)}
                          </a>
                        ) : (
                          'none'
                        )}
                      </td>
                      <td>
                        {app.latestRun && (
                          <ProgressBar
                            label={`${tenant.name} ${app.code} latest run progress`}
                            percent={app.latestRun.percent}
                            status={app.latestRun.status}
                          />
                        )}
                      </td>
                    </>
                  ) : (
                    <td colSpan={5}>no applications</td>
                  )}
                </tr>
              ));
            })}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Tenant pages">
        {cursor && <a href={href(['tenants'], { q })}>First page</a>}
        {data?.nextCursor && (
          <a href={href(['tenants'], { q, cursor: data.nextCursor })}>Next page</a>
        )}
      </nav>
    </section>
  );
}
