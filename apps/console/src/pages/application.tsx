/**
 * One tenant's application: what enabling would publish (a dry run), enable / disable, its last
 * verification, and a manual sync with the spec's options.
 */
import { useState } from 'preact/hooks';
import { ApiError } from '../api';
import type { Session } from '../app';
import { ErrorNote, Loading, ProgressBar, Status } from '../components/common';
import { VerificationSection } from '../components/verification';
import { count, instant } from '../format';
import { useLoad } from '../hooks';
import { href, navigate } from '../router';
import type { ApplicationState, DryRunCounts } from '../types';

interface TenantApplications {
  tenantId: string;
  name: string;
  applications: ApplicationState[];
}

const RESOURCE_LABELS: Record<string, string> = {
  credits: 'Credit allocations',
  organizations: 'Organizations',
  memberships: 'Memberships',
};

/** A blank optional number is left out (the API's default); anything else is sent as typed. */
const optionalNumber = (text: string) => (text.trim() === '' ? undefined : Number(text));

export function ApplicationPage(props: { session: Session; tenantId: string; appCode: string }) {
  const { session, tenantId, appCode } = props;
  const base = `/admin/organizations/${encodeURIComponent(tenantId)}`;
  const { data, error, reload } = useLoad(
    (signal) => session.api.get<TenantApplications>(`${base}/applications`, signal),
    [tenantId],
  );
  const [sinceDate, setSinceDate] = useState('');
  const [preview, setPreview] = useState<DryRunCounts | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [options, setOptions] = useState({
    syncCredits: true,
    syncOrganizations: true,
    syncAssignments: true,
    sinceDate: '',
    pageSize: '',
    maxEventsPerSecond: '',
    partitions: '',
  });

  const act = async (work: () => Promise<void>) => {
    setBusy(true);
    setActionError(null);
    try {
      await work();
    } catch (reason) {
      setActionError(reason);
    } finally {
      setBusy(false);
    }
  };

  if (error) return <ErrorNote error={error} />;
  if (!data) return <Loading />;
  const app = data.applications.find((a) => a.code === appCode);
  if (!app) return <ErrorNote error={new ApiError(404, `application ${appCode} not found`)} />;

  const runPreview = (event: Event) => {
    event.preventDefault();
    void act(async () => {
      setPreview(
        await session.api.post<DryRunCounts>(`${base}/applications/${app.code}/sync-historical`, {
          dryRun: true,
          ...(sinceDate ? { sinceDate } : {}),
        }),
      );
    });
  };
  const toggle = (isEnabled: boolean) =>
    act(async () => {
      const result = await session.api.post<{ runId: string | null }>(
        `${base}/applications/${app.id}/toggle`,
        { isEnabled },
      );
      if (result.runId) navigate(href(['runs', tenantId, result.runId]));
      else reload();
    });
  const startSync = (event: Event) => {
    event.preventDefault();
    void act(async () => {
      const body = {
        syncCredits: options.syncCredits,
        syncOrganizations: options.syncOrganizations,
        syncAssignments: options.syncAssignments,
        ...(options.sinceDate ? { sinceDate: options.sinceDate } : {}),
        pageSize: optionalNumber(options.pageSize),
        maxEventsPerSecond: optionalNumber(options.maxEventsPerSecond),
        partitions: optionalNumber(options.partitions),
      };
      const result = await session.api.post<{ runId: string }>(
        `${base}/applications/${app.code}/sync-historical`,
        body,
      );
      navigate(href(['runs', tenantId, result.runId]));
    });
  };
  const checkbox = (
    name: 'syncCredits' | 'syncOrganizations' | 'syncAssignments',
    label: string,
  ) => (
    <label class="check">
      <input
        type="checkbox"
        checked={options[name]}
        onChange={(e) => setOptions({ ...options, [name]: e.currentTarget.checked })}
      />
      {label}
    </label>
  );
  const field = (
    name: 'sinceDate' | 'pageSize' | 'maxEventsPerSecond' | 'partitions',
    label: string,
    numeric: boolean,
  ) => (
    <div class="field">
      <label for={`sync-${name}`}>{label}</label>
      <input
        id={`sync-${name}`}
        type="text"
        inputMode={numeric ? 'numeric' : 'text'}
        value={options[name]}
        onInput={(e) => setOptions({ ...options, [name]: e.currentTarget.value })}
      />
    </div>
  );

  return (
    <section aria-labelledby="app-heading">
      <p class="crumbs">
        <a href={href(['tenants'], { q: data.tenantId })}>Tenants</a> / {data.name}
      </p>
      <h1 id="app-heading">
        {data.name} / {app.name}
      </h1>
      <dl class="facts">
        <dt>Tenant id</dt>
        <dd>
          <code>{data.tenantId}</code>
        </dd>
        <dt>Application</dt>
        <dd>{app.code}</dd>
        <dt>Enabled</dt>
        <dd>{app.isEnabled ? `enabled since ${instant(app.enabledAt)}` : 'disabled'}</dd>
        <dt>Sync needed</dt>
        <dd>{app.syncNeeded ? 'sync needed' : 'no'}</dd>
        <dt>Latest run</dt>
        <dd>
          {app.latestRun ? (
            <a href={href(['runs', tenantId, app.latestRun.runId])}>
              <Status status={app.latestRun.status} /> {instant(app.latestRun.createdAt)}
            </a>
          ) : (
            'none'
          )}
          {app.latestRun && (
            <ProgressBar label="Latest run progress" percent={app.latestRun.percent} />
          )}
        </dd>
      </dl>
      <ErrorNote error={actionError} />

      <section aria-labelledby="preview-heading">
        <h2 id="preview-heading">What enabling would publish</h2>
        <form class="filters" onSubmit={runPreview}>
          <label for="preview-since">Since date (optional)</label>
          <input
            id="preview-since"
            type="text"
            placeholder="2024-01-01"
            value={sinceDate}
            onInput={(e) => setSinceDate(e.currentTarget.value)}
          />
          <button type="submit" disabled={busy}>
            Preview
          </button>
        </form>
        {preview && (
          <table>
            <caption>
              Dry run{preview.sinceDate ? ` since ${preview.sinceDate}` : ''}: nothing published
            </caption>
            <thead>
              <tr>
                <th scope="col">Resource</th>
                <th scope="col">Events</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(preview.counts).map(([resource, n]) => (
                <tr key={resource}>
                  <th scope="row">{RESOURCE_LABELS[resource] ?? resource}</th>
                  <td>{count(n)}</td>
                </tr>
              ))}
              <tr>
                <th scope="row">Total</th>
                <td>{count(preview.total)}</td>
              </tr>
            </tbody>
          </table>
        )}
      </section>

      <section aria-labelledby="enable-heading">
        <h2 id="enable-heading">Enablement</h2>
        {app.isEnabled ? (
          <button type="button" disabled={busy} onClick={() => void toggle(false)}>
            Disable
          </button>
        ) : (
          <button type="button" disabled={busy} onClick={() => void toggle(true)}>
            Enable
          </button>
        )}
      </section>

      <VerificationSection api={session.api} base={base} appCode={app.code} />

      <section aria-labelledby="sync-heading">
        <h2 id="sync-heading">Manual sync</h2>
        <form class="sync-form" onSubmit={startSync}>
          <fieldset>
            <legend>Resources</legend>
            {checkbox('syncCredits', 'Credit allocations')}
            {checkbox('syncOrganizations', 'Organizations')}
            {checkbox('syncAssignments', 'Memberships (assignments)')}
          </fieldset>
          {field('sinceDate', 'Since date', false)}
          {field('pageSize', 'Page size', true)}
          {field('maxEventsPerSecond', 'Max events per second', true)}
          {field('partitions', 'Partitions', true)}
          <button type="submit" disabled={busy || !app.isEnabled}>
            Start sync
          </button>
          {!app.isEnabled && <p class="hint">Enable the application to sync it.</p>}
        </form>
        <p>
          <a href={href(['runs'], { tenantId, appCode: app.code })}>This application's runs</a>
        </p>
      </section>
    </section>
  );
}
