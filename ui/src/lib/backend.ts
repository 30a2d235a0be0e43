// The one module that talks to the Rust side. Screens receive a `Backend`, so
// tests can hand them a fake one; the types come from the generated contract.
import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import type {
  AppOverview,
  ChecklistItem,
  CommandError,
  DueQuestionnaire,
  EducationDoc,
  EducationItem,
  FormView,
  Keep,
  Lang,
  LockView,
  MessageKindOption,
  NotificationSettings,
  Outgoing,
  PasscodeProblem,
  ProfileSummary,
  RecordAccess,
  ResultSeries,
  SearchHit,
  SubmittedQuestionnaire,
  SyncReport,
  SyncStatus,
  TeamMemberDetail,
  ThreadSummary,
  ThreadView,
  TimelineView,
  TodayScreen,
  UnlockAnswer,
  UrgentGuidance,
} from './contract';

/** Answers by question linkId: one value, or several for questions that take several. */
export type Answers = Record<string, string | number | boolean | (string | number | boolean)[]>;

export interface Backend {
  appOverview(): Promise<AppOverview>;
  signIn(fhirBaseUrl: string): Promise<ProfileSummary>;
  /** Revokes the sign-in and removes the record's data and keys from this device. */
  signOut(profileId: string): Promise<void>;
  syncNow(profileId: string): Promise<SyncReport>;
  /** Everything the Today screen shows, in one call. */
  todayScreen(profileId: string): Promise<TodayScreen>;
  /** The list of threads, newest first (no messages: see `thread`). */
  threads(profileId: string): Promise<ThreadSummary[]>;
  /** One thread with every message. */
  thread(profileId: string, thread: string): Promise<ThreadView>;
  /** The kinds of message a patient can start, in the order to offer them. */
  messageKinds(): Promise<MessageKindOption[]>;
  /**
   * Queues a message (a new thread of `kind`, or into `thread`); returns its id. Works offline.
   * A new message may be `about` a reading; a photo or PDF may go with it.
   */
  sendMessage(profileId: string, message: Outgoing): Promise<string>;
  /** Marks the team's messages in a thread read; the team sees it at the next sync. */
  markThreadRead(profileId: string, thread: string): Promise<number>;
  /** The unsent text of a thread (null: a new message), kept across restarts. */
  messageDraft(profileId: string, thread: string | null): Promise<string | null>;
  saveMessageDraft(profileId: string, thread: string | null, text: string): Promise<void>;
  /** Call-now guidance to show before sending, when the text suggests an emergency. */
  checkUrgent(text: string, language: string): Promise<UrgentGuidance | null>;
  syncStatus(profileId: string): Promise<SyncStatus>;
  retryFailed(profileId: string): Promise<number>;
  search(profileId: string, text: string): Promise<SearchHit[]>;
  setChecklistDone(profileId: string, taskId: string, done: boolean): Promise<void>;
  settleConflict(profileId: string, item: string, keep: Keep): Promise<void>;
  dueQuestionnaires(profileId: string): Promise<DueQuestionnaire[]>;
  /** The form as the core sees it with these answers (`{linkId: answer}`), or with the saved draft when null. */
  questionnaireForm(profileId: string, taskId: string, answers: Answers | null, language: string): Promise<FormView>;
  /** Keeps the answers so far on the device and queues them (in progress) for the team. */
  saveQuestionnaireDraft(profileId: string, taskId: string, answers: Answers): Promise<string>;
  /** Completes the questionnaire (works offline); what the answers mean, guidance first. */
  submitQuestionnaire(profileId: string, taskId: string, answers: Answers, language: string): Promise<SubmittedQuestionnaire>;
  results(profileId: string, language: string): Promise<ResultSeries[]>;
  careTeam(profileId: string): Promise<TeamMemberDetail[]>;
  checklist(profileId: string): Promise<ChecklistItem[]>;
  education(profileId: string, language: string): Promise<EducationItem[]>;
  /** One reading as HTML the core has sanitised; marks it read. */
  openEducation(profileId: string, id: string): Promise<EducationDoc>;
  timeline(profileId: string): Promise<TimelineView>;
  recordAccess(profileId: string): Promise<RecordAccess>;
  /** Saves an appointment as an .ics file; resolves to where it was saved. */
  exportIcs(profileId: string, appointmentId: string): Promise<string>;
  /** Keeps the app's language on this device (null: follow the system). */
  setLanguage(language: Lang | null): Promise<void>;
  /** Whether notifications say who wrote and what it is about; returns the settings now. */
  setNotificationDetail(profileId: string, on: boolean): Promise<NotificationSettings>;
  /** The app lock of a record: locked, whether it has a passcode, waits after wrong tries. */
  lockState(profileId: string): Promise<LockView>;
  /** Tries the record's app passcode. */
  unlock(profileId: string, passcode: string): Promise<UnlockAnswer>;
  /** Sets the app passcode of an open record; what is wrong with it instead (null: set). */
  setPasscode(profileId: string, passcode: string): Promise<PasscodeProblem | null>;
  /** The person is using the app (call at most every few seconds). */
  stillHere(): Promise<void>;
  /** Locks the app now. */
  lockNow(): Promise<void>;
  /** How many minutes without use lock the app (1–30), kept on this device. */
  setLockMinutes(minutes: number): Promise<void>;
  /** Calls back when the app locked (after inactivity, or the window away too long). */
  onLocked(callback: () => void): Promise<() => void>;
  /** Calls back when a record changed; `null` means "re-read everything". Returns an unsubscribe. */
  onRecordChanged(callback: (profileId: string | null) => void): Promise<() => void>;
}

export const tauriBackend: Backend = {
  appOverview: () => invoke<AppOverview>('app_overview'),
  signIn: (fhirBaseUrl) => invoke<ProfileSummary>('sign_in', { fhirBaseUrl }),
  signOut: (profileId) => invoke<void>('sign_out', { profileId }),
  syncNow: (profileId) => invoke<SyncReport>('sync_now', { profileId }),
  todayScreen: (profileId) => invoke<TodayScreen>('today_screen', { profileId }),
  threads: (profileId) => invoke<ThreadSummary[]>('threads', { profileId }),
  thread: (profileId, thread) => invoke<ThreadView>('thread', { profileId, thread }),
  messageKinds: () => invoke<MessageKindOption[]>('message_kinds'),
  sendMessage: (profileId, message) => invoke<string>('send_message', { profileId, message }),
  markThreadRead: (profileId, thread) => invoke<number>('mark_thread_read', { profileId, thread }),
  messageDraft: (profileId, thread) => invoke<string | null>('message_draft', { profileId, thread }),
  saveMessageDraft: (profileId, thread, text) => invoke<void>('save_message_draft', { profileId, thread, text }),
  checkUrgent: (text, language) => invoke<UrgentGuidance | null>('check_urgent', { text, language }),
  syncStatus: (profileId) => invoke<SyncStatus>('sync_status', { profileId }),
  retryFailed: (profileId) => invoke<number>('retry_failed', { profileId }),
  search: (profileId, text) => invoke<SearchHit[]>('search', { profileId, text }),
  setChecklistDone: (profileId, taskId, done) => invoke<void>('set_checklist_done', { profileId, taskId, done }),
  settleConflict: (profileId, item, keep) => invoke<void>('settle_conflict', { profileId, item, keep }),
  dueQuestionnaires: (profileId) => invoke<DueQuestionnaire[]>('due_questionnaires', { profileId }),
  questionnaireForm: (profileId, taskId, answers, language) =>
    invoke<FormView>('questionnaire_form', { profileId, taskId, answers, language }),
  saveQuestionnaireDraft: (profileId, taskId, answers) =>
    invoke<string>('save_questionnaire_draft', { profileId, taskId, answers }),
  submitQuestionnaire: (profileId, taskId, answers, language) =>
    invoke<SubmittedQuestionnaire>('submit_questionnaire', { profileId, taskId, answers, language }),
  results: (profileId, language) => invoke<ResultSeries[]>('results', { profileId, language }),
  careTeam: (profileId) => invoke<TeamMemberDetail[]>('care_team', { profileId }),
  checklist: (profileId) => invoke<ChecklistItem[]>('checklist', { profileId }),
  education: (profileId, language) => invoke<EducationItem[]>('education', { profileId, language }),
  openEducation: (profileId, id) => invoke<EducationDoc>('open_education', { profileId, id }),
  timeline: (profileId) => invoke<TimelineView>('timeline', { profileId }),
  recordAccess: (profileId) => invoke<RecordAccess>('record_access', { profileId }),
  exportIcs: (profileId, appointmentId) => invoke<string>('export_ics', { profileId, appointmentId }),
  setLanguage: (language) => invoke<void>('set_language', { language }),
  setNotificationDetail: (profileId, on) => invoke<NotificationSettings>('set_notification_detail', { profileId, on }),
  lockState: (profileId) => invoke<LockView>('lock_state', { profileId }),
  unlock: (profileId, passcode) => invoke<UnlockAnswer>('unlock', { profileId, passcode }),
  setPasscode: (profileId, passcode) => invoke<PasscodeProblem | null>('set_passcode', { profileId, passcode }),
  stillHere: () => invoke<void>('still_here'),
  lockNow: () => invoke<void>('lock_now'),
  setLockMinutes: (minutes) => invoke<void>('set_lock_minutes', { minutes }),
  onLocked: async (callback) => listen('app-locked', () => callback()),
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

/**
 * Opens a `tel:` or `https:` link outside the window (the phone's dialer, the
 * browser). The opener's capability allows only those schemes, and the
 * window itself never navigates away from the app.
 */
export function openOutside(url: string): Promise<void> {
  return invoke<void>('plugin:opener|open_url', { url });
}
