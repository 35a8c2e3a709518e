/**
 * One tenant's application: what enabling (or, once enabled, a re-sync) would publish, enable /
 * disable, its last verification, and a manual sync with the spec's options and its own preview.
 *
 * The enable preview takes no since date, because Enable takes none: it counts exactly what the
 * enable's backfill publishes. A since date belongs to the manual sync, so its preview sits in
 * that form and counts with the form's date and resources (docs/decisions/0014-enable-preview.md).
 */

import type { RouteBody, RouteParams } from '@historical-sync/contracts';
import { resourceLabel } from '@historical-sync/contracts/resources';
import { useState } from 'preact/hooks';
import { type Api, ApiError } from '../api';
import { ActionNote, ConfirmButton, carryNote, useActions } from '../components/actions';
import { ErrorNote, Loading, ProgressBar, Status } from '../components/common';
import { VerificationSection } from '../components/verification';
import { count, instant, shortId } from '../format';
import { useLoad } from '../hooks';
import { href, navigate } from '../router';
import type { Session } from '../session';
import type { DryRunCounts } from '../types';

/** A blank optional number is left out (the API's default); anything else is sent as typed. */
const optionalNumber = (text: string) => (text.trim() === '' ? undefined : Number(text));

/** A dry run's counts per resource; `caption` says which question it answers. */
function PreviewTable({ preview, caption }: { preview: DryRunCounts; caption: string }) {
  return (
    <table>
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Resource</th>
          <th scope="col">Events</th>
        </tr>
      </thead>
      <tbody>
        {Object.entries(preview.counts).map(([resource, n]) => (
          <tr key={resource}>
            <th scope="row">{resourceLabel(resource)}</th>
            <td>{count(n)}</td>
          </tr>
        ))}
        <tr>
          <th scope="row">Total</th>
          <td>{count(preview.total)}</td>
        </tr>
      </tbody>
    </table>
  );
}

/**
 * A dry run's answer or its refusal, never both: a refused request (a bad since date) clears the
 * counts of the previous one, which answered a different question.
 */
function usePreview(api: Api, params: RouteParams<'syncHistorical'>) {
  const [state, setState] = useState<{ counts: DryRunCounts | null; error: unknown }>({
    counts: null,
    error: null,
  });
  const [busy, setBusy] = useState(false);
  const ask = async (body: RouteBody<'syncHistorical'>) => {
    setBusy(true);
    setState({ counts: null, error: null });
    try {
      const answer = await api.call('syncHistorical', { params, body: { ...body, dryRun: true } });
      if (!('dryRun' in answer)) throw new Error('the API started a run instead of counting');
      setState({ counts: answer, error: null });
    } catch (error) {
      setState({ counts: null, error });
    } finally {
      setBusy(false);
    }
  };
  const clear = () => setState({ counts: null, error: null });
  return { ...state, busy, ask, clear };
}

export function ApplicationPage(props: { session: Session; tenantId: string; appCode: string }) {
  const { session, tenantId, appCode } = props;
  const { data, error, reload } = useLoad(
    (signal) => session.api.call('getTenantApplications', { params: { orgId: tenantId }, signal }),
    [tenantId],
  );
  const enablePreview = usePreview(session.api, { orgId: tenantId, appCode });
  const syncPreview = usePreview(session.api, { orgId: tenantId, appCode });
  const { note, busy, act, dismiss } = useActions();
  const [options, setOptionsState] = useState({
    syncCredits: true,
    syncOrganizations: true,
    syncAssignments: true,
    sinceDate: '',
    pageSize: '',
    maxEventsPerSecond: '',
    partitions: '',
  });

  // The sync form's preview answered the options as they were: a change makes it stale.
  const setOptions = (next: typeof options) => {
    setOptionsState(next);
    syncPreview.clear();
  };

  if (error) return <ErrorNote error={error} />;
  if (!data) return <Loading />;
  const app = data.applications.find((a) => a.code === appCode);
  if (!app) return <ErrorNote error={new ApiError(404, `application ${appCode} not found`)} />;

  const where = `${app.name} for ${data.name}`;
  const previewEnable = (event: Event) => {
    event.preventDefault();
    // Exactly what Enable publishes: every resource, no since date.
    void enablePreview.ask({});
  };
  const toggle = (isEnabled: boolean) =>
    act(async () => {
      const result = await session.api.call('toggleApplication', {
        params: { orgId: tenantId, appId: app.id },
        body: { isEnabled },
      });
      if (!isEnabled) {
        reload();
        return `Disabled ${where}: nothing more is published to it, and a backfill under way was cancelled.`;
      }
      if (!result.runId) {
        reload();
        return `Enabled ${where}.`;
      }
      carryNote(`Enabled ${where}: run ${shortId(result.runId)} publishes its history.`);
      navigate(href(['runs', tenantId, result.runId]));
      return null;
    });
  const syncBody = () => ({
    syncCredits: options.syncCredits,
    syncOrganizations: options.syncOrganizations,
    syncAssignments: options.syncAssignments,
    ...(options.sinceDate ? { sinceDate: options.sinceDate } : {}),
  });
  const startSync = (event: Event) => {
    event.preventDefault();
    void act(async () => {
      const body = {
        ...syncBody(),
        pageSize: optionalNumber(options.pageSize),
        maxEventsPerSecond: optionalNumber(options.maxEventsPerSecond),
        partitions: optionalNumber(options.partitions),
      };
      const result = await session.api.call('syncHistorical', {
        params: { orgId: tenantId, appCode: app.code },
        body,
      });
      if ('dryRun' in result) throw new Error('the API counted instead of starting a run');
      carryNote(
        result.created
          ? `Started run ${shortId(result.runId)}: a manual sync of ${where}.`
          : `A run of ${where} was already under way: run ${shortId(result.runId)}.`,
      );
      navigate(href(['runs', tenantId, result.runId]));
      return null;
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
      <dl class="facts" aria-label="Application facts">
        <dt>Tenant id</dt>
        <dd>
          <code>{data.tenantId}</code>
        </dd>
        <dt>Application</dt>
        <dd>{app.code}</dd>
        <dt>Enabled</dt>
        <dd>{app.isEnabled ? `enabled since ${instant(app.enabledAt)}` : 'disabled'}</dd>
        <dt>Sync needed</dt>
        <dd>
          {app.syncNeeded
            ? 'sync needed: no run since it was enabled has completed'
            : app.isEnabled
              ? 'no'
              : 'no (disabled)'}
        </dd>
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
            <ProgressBar
              label="Latest run progress"
              percent={app.latestRun.percent}
              status={app.latestRun.status}
            />
          )}
        </dd>
      </dl>
      <ActionNote note={note} onDismiss={dismiss} />

      <section aria-labelledby="preview-heading">
        <h2 id="preview-heading">
          {app.isEnabled ? 'What a re-sync would publish' : 'What enabling would publish'}
        </h2>
        <form class="filters" onSubmit={previewEnable}>
          <p class="hint">
            Every resource, every row: what{' '}
            {app.isEnabled ? 'a manual sync with no since date' : 'Enable'} publishes. To count from
            a date, use the manual sync's preview below.
          </p>
          <button type="submit" disabled={enablePreview.busy}>
            Preview
          </button>
        </form>
        <ErrorNote error={enablePreview.error} />
        {enablePreview.counts && (
          <PreviewTable
            preview={enablePreview.counts}
            caption="Dry run, all rows: nothing published"
          />
        )}
      </section>

      <section aria-labelledby="enable-heading">
        <h2 id="enable-heading">Enablement</h2>
        {app.isEnabled ? (
          <ConfirmButton
            label="Disable"
            question={`Disable ${where}? Nothing more of this tenant is published to it, and a backfill under way is cancelled. Enabling it again publishes its whole history again.`}
            confirmLabel="Yes, disable"
            keepLabel="Keep it enabled"
            disabled={busy}
            onConfirm={() => void toggle(false)}
          />
        ) : (
          <button type="button" disabled={busy} onClick={() => void toggle(true)}>
            Enable
          </button>
        )}
      </section>

      <VerificationSection api={session.api} tenantId={tenantId} appCode={app.code} />

      <section aria-labelledby="sync-heading">
        <h2 id="sync-heading">Manual sync</h2>
        <form class="sync-form" onSubmit={startSync}>
          <fieldset>
            <legend>Resources</legend>
            {checkbox('syncCredits', 'Credit allocations')}
            {checkbox('syncOrganizations', 'Organizations')}
            {checkbox('syncAssignments', 'Memberships (assignments)')}
          </fieldset>
          {field('sinceDate', 'Since date (optional)', false)}
          {field('pageSize', 'Page size', true)}
          {field('maxEventsPerSecond', 'Max events per second', true)}
          {field('partitions', 'Partitions', true)}
          <div class="form-buttons">
            <button
              type="button"
              class="secondary"
              disabled={syncPreview.busy}
              onClick={() => void syncPreview.ask(syncBody())}
            >
              Preview this sync
            </button>
            <button type="submit" disabled={busy || !app.isEnabled}>
              Start sync
            </button>
          </div>
          {!app.isEnabled && <p class="hint">Enable the application to sync it.</p>}
        </form>
        <ErrorNote error={syncPreview.error} />
        {syncPreview.counts && (
          <PreviewTable
            preview={syncPreview.counts}
            caption={`Dry run of this sync${syncPreview.counts.sinceDate ? ` since ${syncPreview.counts.sinceDate}` : ', all rows'}: nothing published`}
          />
        )}
        <p>
          <a href={href(['runs'], { tenantId, appCode: app.code })}>This application's runs</a>
        </p>
      </section>
    </section>
  );
}
