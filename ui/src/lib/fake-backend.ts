// A fake of the typed backend for UI unit tests: records calls, answers from data.
import type { Backend } from './backend';
import type { AppOverview, CommandError, FormView, Lang, LockView, ProfileSummary, SyncReport, TodayView } from './contract';

export const profile: ProfileSummary = {
  id: 'p-1',
  serverLabel: 'Riverside (demo)',
  fhirBaseUrl: 'http://127.0.0.1:9/fhir',
  patientName: 'Ana Ruiz',
  lock: null,
};

export const todayView: TodayView = {
  patientName: 'Ana Ruiz',
  ipuName: 'Riverside Knee & Hip Unit',
  condition: 'Knee osteoarthritis',
  conditionLang: null,
  phase: { title: 'Prehabilitation', description: 'Get stronger.', start: '2026-11-01', end: '2026-12-07', position: 3, count: 7, lang: null },
  nextSteps: [
    { id: 'Appointment/1', kind: 'appointment', title: 'Physical therapy', date: '2026-11-24', time: '10:00', place: 'Rehab Gym', who: 'Tomás Herrera, DPT', prepare: 'Wear comfortable shoes.', lang: null },
    { id: 'Task/2', kind: 'checklist', title: 'Stop blood thinner', date: '2026-12-03', time: null, place: null, who: null, prepare: null, lang: null },
  ],
  coordinator: { name: 'Priya Raman, RN', role: 'Nurse navigator', isCareCoordinator: true, lang: null },
  lastSynced: '2026-11-22T15:00:00Z',
};

export interface FakeOptions {
  overview?: Partial<AppOverview>;
  signIn?: () => Promise<ProfileSummary>;
  sync?: () => Promise<SyncReport>;
  form?: FormView;
  /** The lock as the core reports it (default: open, with a passcode). */
  lock?: Partial<LockView>;
  /** The app passcode the fake accepts. */
  passcode?: string;
}

export function fakeBackend(options: FakeOptions = {}): Backend & { calls: string[] } {
  const calls: string[] = [];
  const profiles = [...(options.overview?.profiles ?? [])];
  // The language the core speaks: the choice, else the system's (English here).
  let language: Lang = options.overview?.language ?? 'en';
  const lock: LockView = {
    locked: false, hasPasscode: true, failures: 0, waitSeconds: 0, offerSignOut: false, timeoutSeconds: 300, ...options.lock,
  };
  return {
    calls,
    appOverview: async () => {
      calls.push('appOverview');
      return { serverChoices: [], keyringAvailable: true, ...options.overview, language, profiles: [...profiles] };
    },
    signIn: async (url) => {
      calls.push(`signIn ${url}`);
      // Like the core: a record signed in to is listed from then on.
      const p = options.signIn ? await options.signIn() : profile;
      if (!profiles.some((x) => x.id === p.id)) profiles.push(p);
      return p;
    },
    signOut: async (id) => {
      calls.push(`signOut ${id}`);
      const at = profiles.findIndex((x) => x.id === id);
      if (at >= 0) profiles.splice(at, 1);
    },
    syncNow: async (id) => {
      calls.push(`syncNow ${id}`);
      return options.sync ? options.sync() : { sent: 0, received: 0, failures: [], finishedAt: '2026-11-22T15:00:00Z' };
    },
    todayScreen: async (id) => {
      calls.push(`todayScreen ${id}`);
      return {
        today: todayView,
        checklist: [],
        notifications: { showDetails: false, available: null },
        lockMinutes: Math.max(1, Math.ceil(lock.timeoutSeconds / 60)),
      };
    },
    threads: async (id) => {
      calls.push(`threads ${id}`);
      return [];
    },
    thread: async (id, thread) => {
      calls.push(`thread ${id} ${thread}`);
      throw { code: 'notFound', message: 'not on this device' };
    },
    sendMessage: async (id, m) => {
      // The core's refusal of an empty message, as it crosses the boundary.
      if (!m.text.trim() && !m.attachment) {
        throw { code: 'invalidInput', message: 'the message is empty', invalid: { reason: 'messageEmpty' } };
      }
      calls.push(`sendMessage ${id} ${m.thread ?? m.kind ?? ''} ${m.text.length}${m.attachment ? ` ${m.attachment.name}` : ''}`);
      return 'Communication/local-1';
    },
    markThreadRead: async (id, thread) => {
      calls.push(`markThreadRead ${id} ${thread}`);
      return 0;
    },
    messageDraft: async () => null,
    saveMessageDraft: async (id, thread, text) => {
      calls.push(`saveMessageDraft ${id} ${thread ?? 'new'} ${text.length}`);
    },
    messageKinds: async () => [
      { code: 'clinical' },
      { code: 'other' },
    ],
    checkUrgent: async () => null,
    syncStatus: async () => ({ lastSynced: '2026-11-22T15:00:00Z', pending: 0, failed: 0, conflicts: 0 }),
    retryFailed: async () => 0,
    search: async () => [],
    setChecklistDone: async (id, task, done) => {
      calls.push(`setChecklistDone ${id} ${task} ${done}`);
    },
    settleConflict: async (id, item, keep) => {
      calls.push(`settleConflict ${id} ${item} ${keep}`);
    },
    dueQuestionnaires: async () => [],
    questionnaireForm: async (id, task) => {
      calls.push(`questionnaireForm ${id} ${task}`);
      return options.form ?? {
        taskId: task, title: 'Questionnaire', lang: null, instrument: '', state: 'due', closes: null, items: [], pages: 0,
        questions: 0, answered: 0, complete: true, savedAt: null, guidance: [],
      };
    },
    saveQuestionnaireDraft: async (id, task, answers) => {
      calls.push(`saveQuestionnaireDraft ${id} ${task} ${JSON.stringify(answers)}`);
      return 'QuestionnaireResponse/local-1';
    },
    submitQuestionnaire: async (id, task, answers) => {
      calls.push(`submitQuestionnaire ${id} ${task} ${JSON.stringify(answers)}`);
      return { responseId: 'QuestionnaireResponse/local-1', scores: [], guidance: [] };
    },
    results: async () => [],
    careTeam: async () => [],
    checklist: async () => [],
    education: async () => [],
    timeline: async () => ({ phases: [], appointments: [] }),
    recordAccess: async () => ({ familyView: false, notShared: [] }),
    exportIcs: async () => '/tmp/appointment.ics',
    openEducation: async (_id, doc) => ({ id: doc, title: 'Reading', language: 'en', html: '<p>Text</p>' }),
    setLanguage: async (chosen) => {
      calls.push(`setLanguage ${chosen}`);
      language = chosen ?? 'en';
    },
    setNotificationDetail: async (id, on) => {
      calls.push(`setNotificationDetail ${id} ${on}`);
      return { showDetails: on, available: null };
    },
    lockState: async (id) => {
      calls.push(`lockState ${id}`);
      return { ...lock };
    },
    unlock: async (id, passcode) => {
      calls.push(`unlock ${id}`);
      if (passcode === (options.passcode ?? '482916')) {
        Object.assign(lock, { locked: false, failures: 0, waitSeconds: 0, offerSignOut: false });
        return { outcome: 'unlocked', lock: { ...lock } };
      }
      lock.failures += 1;
      lock.waitSeconds = lock.failures >= 3 ? 30 : 0;
      return { outcome: 'wrong', lock: { ...lock } };
    },
    setPasscode: async (id, passcode) => {
      calls.push(`setPasscode ${id}`);
      if (passcode.length < 6) return 'tooShort';
      lock.hasPasscode = true;
      return null;
    },
    stillHere: async () => {
      calls.push('stillHere');
    },
    lockNow: async () => {
      calls.push('lockNow');
      lock.locked = true;
    },
    setLockMinutes: async (minutes) => {
      calls.push(`setLockMinutes ${minutes}`);
      lock.timeoutSeconds = minutes * 60;
    },
    onLocked: async () => () => {},
    onRecordChanged: async () => () => {},
  };
}

export function commandError(code: CommandError['code'], message: string): CommandError {
  return { code, message };
}
