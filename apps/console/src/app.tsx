/** The console's frame: sign-in, navigation, and the page the hash names. */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, createApi } from './api';
import { ErrorNote } from './components/common';
import { ApplicationPage } from './pages/application';
import { RunPage } from './pages/run';
import { RunsPage } from './pages/runs';
import { SystemPage } from './pages/system';
import { TenantsPage } from './pages/tenants';
import { href, useRoute } from './router';
import { forgetKey, readKey, type Session, saveKey } from './session';

/** 200 for an admin key, 403 for a tenant key (admin-only route), 401 for no valid key. */
async function signIn(key: string): Promise<Session> {
  const api = createApi(key);
  try {
    await api.call('getOutbox');
    return { api, isAdmin: true };
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return { api, isAdmin: false };
    throw error;
  }
}

function SignIn({ onSession }: { onSession: (session: Session) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      const session = await signIn(key.trim());
      saveKey(key.trim());
      onSession(session);
    } catch (reason) {
      setError(
        reason instanceof ApiError && reason.status === 401
          ? new Error('That API key was not accepted.')
          : reason,
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>Historical sync console</h1>
      <form onSubmit={submit}>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autocomplete="off"
          required
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <p class="hint">
          An admin key sees every tenant, a tenant key only its own. The key stays in this tab.
        </p>
        <ErrorNote error={error} />
      </form>
    </main>
  );
}

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [restoring, setRestoring] = useState(() => readKey() !== null);
  const route = useRoute();

  // A reload keeps the tab's key: sign in with it once.
  useEffect(() => {
    const key = readKey();
    if (!key) return;
    signIn(key).then(
      (restored) => {
        setSession(restored);
        setRestoring(false);
      },
      () => {
        forgetKey();
        setRestoring(false);
      },
    );
  }, []);

  if (restoring) return <p>Signing in…</p>;
  if (!session) return <SignIn onSession={setSession} />;

  const signOut = () => {
    forgetKey();
    setSession(null);
  };
  const [section, ...rest] = route.path;
  const current = (name: string) => (section === name ? 'page' : undefined);
  let page = <TenantsPage session={session} route={route} />;
  if (section === 'tenants' && rest[0] && rest[1] === 'apps' && rest[2]) {
    page = <ApplicationPage session={session} tenantId={rest[0]} appCode={rest[2]} />;
  } else if (section === 'runs' && rest[0] && rest[1]) {
    page = <RunPage session={session} tenantId={rest[0]} runId={rest[1]} />;
  } else if (section === 'runs') {
    page = <RunsPage session={session} route={route} />;
  } else if (section === 'system') {
    page = <SystemPage session={session} />;
  }
  return (
    <>
      <header>
        <nav aria-label="Console">
          <span class="brand">Historical sync</span>
          <a href={href(['tenants'])} aria-current={current('tenants')}>
            Tenants
          </a>
          <a href={href(['runs'])} aria-current={current('runs')}>
            Runs
          </a>
          {session.isAdmin && (
            <a href={href(['system'])} aria-current={current('system')}>
              System
            </a>
          )}
          <span class="who">{session.isAdmin ? 'admin key' : 'tenant key'}</span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </nav>
      </header>
      <main>{page}</main>
    </>
  );
}
