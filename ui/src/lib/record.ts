// Screens re-read what they show when the core says the record changed; this
// is that subscription, once, for every screen.
import type { Backend } from './backend';

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
