// Screens re-read what they show when the core says the record changed, and
// sync on the patient's request; both live here, once, for every screen.
import type { Backend } from './backend';
import { describeError, type ShownError } from './errors';
import { t } from './i18n.svelte';

/** Calls `read` whenever this profile's record changes; returns the unsubscribe. */
export function watchRecord(backend: Backend, profileId: string, read: () => unknown): () => void {
  let unlisten: (() => void) | null = null;
  let stopped = false;
  void backend
    .onRecordChanged((id) => {
      if (id === null || id === profileId) void read();
    })
    .then((stop) => {
      if (stopped) stop();
      else unlisten = stop;
    });
  return () => {
    stopped = true;
    unlisten?.();
  };
}

/**
 * Syncs this profile now, then calls `read` whatever happened (what was
 * written stays queued offline). Returns what to tell the patient when the
 * sync did not fully work, or null when it did.
 */
export async function syncThenRead(
  backend: Backend,
  profileId: string,
  read: () => Promise<unknown>,
): Promise<ShownError | null> {
  try {
    const report = await backend.syncNow(profileId);
    return report.failures.length > 0
      ? { sentence: t('sync.partial'), detail: null }
      : null;
  } catch (e) {
    return describeError(e);
  } finally {
    await read();
  }
}
