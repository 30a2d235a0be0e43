// What a screen shows from the core: read at once from the device's store
// (so it works offline), read again whenever the record changes, and the
// error to show when reading failed. One place for every screen's loop.
import { onMount } from 'svelte';
import type { Backend } from './backend';
import { describeError, type ShownError } from './errors';
import { watchRecord } from './record';

export function readFromCore<T>(
  source: () => { backend: Backend; profileId: string },
  load: (backend: Backend, profileId: string) => Promise<T>,
) {
  const state = $state<{ value: T | null; error: ShownError | null }>({ value: null, error: null });
  async function read() {
    try {
      const { backend, profileId } = source();
      state.value = await load(backend, profileId);
      state.error = null;
    } catch (e) {
      state.error = describeError(e);
    }
  }
  onMount(() => {
    void read();
    const { backend, profileId } = source();
    return watchRecord(backend, profileId, read);
  });
  return {
    get value() {
      return state.value;
    },
    get error() {
      return state.error;
    },
    read,
  };
}
