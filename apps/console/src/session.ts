/**
 * The signed-in key lives in this tab's sessionStorage only: gone when the tab closes, never in a
 * cookie, never sent unless the console adds it to a request.
 */
import type { Api } from './api';

/** A signed-in key: its API client, and whether it is the operator's (admin) key. */
export interface Session {
  api: Api;
  isAdmin: boolean;
}

const KEY = 'historical-sync-console-key';

export const readKey = (): string | null => sessionStorage.getItem(KEY);
export const saveKey = (key: string) => sessionStorage.setItem(KEY, key);
export const forgetKey = () => sessionStorage.removeItem(KEY);
