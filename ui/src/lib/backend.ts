// The one module that talks to the Rust side. Screens receive a `Backend`, so
// tests can hand them a fake one; the types come from the generated contract.
import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import type { AppOverview, CommandError, ProfileSummary, SyncReport, TodayView } from './contract';

export interface Backend {
  appOverview(): Promise<AppOverview>;
  signIn(fhirBaseUrl: string): Promise<ProfileSummary>;
  syncNow(profileId: string): Promise<SyncReport>;
  today(profileId: string): Promise<TodayView>;
  /** Calls back when a record changed; `null` means "re-read everything". Returns an unsubscribe. */
  onRecordChanged(callback: (profileId: string | null) => void): Promise<() => void>;
}

export const tauriBackend: Backend = {
  appOverview: () => invoke<AppOverview>('app_overview'),
  signIn: (fhirBaseUrl) => invoke<ProfileSummary>('sign_in', { fhirBaseUrl }),
  syncNow: (profileId) => invoke<SyncReport>('sync_now', { profileId }),
  today: (profileId) => invoke<TodayView>('today', { profileId }),
  onRecordChanged: async (callback) =>
    listen<{ profileId: string | null }>('record-changed', (event) => callback(event.payload.profileId)),
};

export function isCommandError(value: unknown): value is CommandError {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as CommandError).code === 'string' &&
    typeof (value as CommandError).message === 'string'
  );
}
