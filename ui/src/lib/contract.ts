// Generated from the Rust types in carecycle-core (src/contract.rs, src/error.rs).
// Do not edit: run `UPDATE_CONTRACT=1 cargo test -p carecycle-app --test contract` to regenerate.

export type ErrorCode = "notSignedIn" | "sessionExpired" | "signInFailed" | "signInTimedOut" | "keyringUnavailable" | "offline" | "serverError" | "notAFhirServer" | "invalidInput" | "notFound" | "storeUnavailable" | "locked" | "internal";

export type Lang = "en" | "es";

export type Invalid = { "reason": "notHttps" } | { "reason": "notAnAddress" } | { "reason": "lockMinutes", min: number, max: number, } | { "reason": "fileUnreadable" } | { "reason": "fileEmpty" } | { "reason": "fileTooLarge", tenthsOfMb: number, limitMb: number, } | { "reason": "fileType" } | { "reason": "messageEmpty" } | { "reason": "messageTooLong", limit: number, } | { "reason": "alreadyAnswered" } | { "reason": "unfinished", count: number, } | { "reason": "folderFull" } | { "reason": "noDownloadFolder" } | { "reason": "malformed", what: string, };

export type CommandError = { code: ErrorCode, message: string, invalid?: Invalid, };

export type ServerChoice = { label: string, fhirBaseUrl: string, };

export type ProfileSummary = { id: string, serverLabel: string, fhirBaseUrl: string, 
/**
 * The patient's name, once the first sync has brought it.
 */
patientName: string | null, 
/**
 * The record's lock as the overview was read (None: the keyring could
 * not be read), so the first screen needs no second call.
 */
lock: LockView | null, };

export type AppOverview = { profiles: Array<ProfileSummary>, serverChoices: Array<ServerChoice>, 
/**
 * False when the system keyring cannot be used: nothing can be stored safely.
 */
keyringAvailable: boolean, 
/**
 * The language the app speaks now: the person's choice on this device,
 * else the system's (the core decides it once, for itself and the window).
 */
language: Lang, };

export type TodayView = { 
/**
 * None when the record names nobody (the UI says "your record").
 */
patientName: string | null, 
/**
 * The care unit (IPU) looking after this condition.
 */
ipuName: string | null, condition: string | null, 
/**
 * The language `condition` shows in, when it is not the app's.
 */
conditionLang: string | null, phase: PhaseView | null, nextSteps: Array<NextStep>, coordinator: TeamMemberView | null, 
/**
 * When the record was last brought up to date from the care team (RFC 3339).
 */
lastSynced: string | null, };

export type TodayScreen = { today: TodayView, checklist: Array<ChecklistItem>, 
/**
 * `available` is the shell's to fill in (it knows the notification service).
 */
notifications: NotificationSettings, 
/**
 * The lock timeout, in whole minutes (at least 1), as the settings offer it.
 */
lockMinutes: number, };

export type PhaseView = { title: string, description: string | null, 
/**
 * First and last day of the phase (YYYY-MM-DD), when known.
 */
start: string | null, end: string | null, 
/**
 * 1-based position of this phase in the cycle, and how many phases there are.
 */
position: number, count: number, 
/**
 * The language the team's words above show in when the team gave none
 * in the app's language (BCP 47): the screen marks them so a screen
 * reader pronounces them right. None: in the app's language.
 */
lang: string | null, };

export type StepKind = "appointment" | "checklist";

export type NextStep = { id: string, kind: StepKind, title: string, 
/**
 * The day, on the clinic's calendar (YYYY-MM-DD).
 */
date: string, 
/**
 * The time on the clinic's clock (HH:MM), for appointments.
 */
time: string | null, place: string | null, who: string | null, prepare: string | null, 
/**
 * The language the team's words above show in when the team gave none
 * in the app's language (BCP 47): the screen marks them so a screen
 * reader pronounces them right. None: in the app's language.
 */
lang: string | null, };

export type TeamMemberView = { name: string, 
/**
 * What they do, in the team's words (e.g. "Nurse navigator"); None when
 * the team gave none (the UI says "care coordinator" in the patient's language).
 */
role: string | null, 
/**
 * The one who oversees the whole care cycle.
 */
isCareCoordinator: boolean, 
/**
 * The language the team's words above show in when the team gave none
 * in the app's language (BCP 47): the screen marks them so a screen
 * reader pronounces them right. None: in the app's language.
 */
lang: string | null, };

export type SyncReport = { 
/**
 * What the patient wrote that reached the team in this sync.
 */
sent: number, received: number, failures: Array<SyncFailure>, finishedAt: string, };

export type SyncFailure = { resourceType: string, message: string, };

export type AttachmentView = { 
/**
 * The file's name; None when it has none (the UI says "attachment").
 */
title: string | null, contentType: string, 
/**
 * Bytes (a file of a few MB at most, so a plain number).
 */
size: number | null, 
/**
 * A `data:` URL to show a photo in place (photos carried in the message only).
 */
dataUrl: string | null, };

export type NewAttachment = { 
/**
 * The file's name, shown to the team.
 */
name: string, 
/**
 * The file's bytes, base64. Its type is read from the bytes, not trusted from the name.
 */
dataBase64: string, };

export type Outgoing = { thread: string | null, kind: string | null, about: string | null, text: string, attachment: NewAttachment | null, };

export type MessageView = { id: string, 
/**
 * Written by the patient (or their family member) on this record.
 */
fromMe: boolean, sender: string | null, 
/**
 * When it was written (RFC 3339).
 */
sent: string | null, text: string, state: ItemState, 
/**
 * Waiting after an attempt that got no answer, or a server-side failure:
 * it goes again by itself (the UI says so in the patient's language).
 */
retrying: boolean, 
/**
 * When the server refused it (`state` failed): the server's own words,
 * verbatim and in whatever language the server wrote them, for whoever
 * helps the patient. The UI says what happened in its own words.
 */
serverSaid: string | null, attachments: Array<AttachmentView>, 
/**
 * From the team and not yet opened by the patient (on any device).
 */
unread: boolean, };

export type ThreadSummary = { id: string, 
/**
 * What the thread is about, as its first message says; None when it says
 * nothing (the UI names the thread by its kind, in the patient's language).
 */
subject: string | null, 
/**
 * clinical, scheduling, medications, billing or other.
 */
kind: string, 
/**
 * Who will answer (name and role), while a reply is awaited.
 */
answeredBy: string | null, 
/**
 * When the reply is due (RFC 3339), while a reply is awaited.
 */
replyDue: string | null, 
/**
 * The reply is late.
 */
overdue: boolean, lastSent: string | null, 
/**
 * Messages from the team not yet read.
 */
unread: number, 
/**
 * The newest message's text, for the list.
 */
preview: string | null, };

export type ThreadView = { messages: Array<MessageView>, id: string, 
/**
 * What the thread is about, as its first message says; None when it says
 * nothing (the UI names the thread by its kind, in the patient's language).
 */
subject: string | null, 
/**
 * clinical, scheduling, medications, billing or other.
 */
kind: string, 
/**
 * Who will answer (name and role), while a reply is awaited.
 */
answeredBy: string | null, 
/**
 * When the reply is due (RFC 3339), while a reply is awaited.
 */
replyDue: string | null, 
/**
 * The reply is late.
 */
overdue: boolean, lastSent: string | null, 
/**
 * Messages from the team not yet read.
 */
unread: number, 
/**
 * The newest message's text, for the list.
 */
preview: string | null, };

export type SyncStatus = { lastSynced: string | null, pending: number, failed: number, conflicts: number, };

export type SearchHit = { kind: HitKind, id: string, title: string, 
/**
 * The matching words in context, marked with [ and ].
 */
snippet: string, };

export type DueQuestionnaire = { taskId: string, 
/**
 * The team's title; None when they gave none (the UI says "questionnaire").
 */
title: string | null, questionnaireId: string | null, 
/**
 * The answering window (RFC 3339 or a date), when given.
 */
opens: string | null, closes: string | null, state: DueState, 
/**
 * Answers are saved and waiting to be finished.
 */
inProgress: boolean, 
/**
 * The window is open (due or overdue): the patient may answer now.
 */
answerable: boolean, 
/**
 * Why the form cannot be opened on this device, if it cannot.
 */
unavailable: FormUnavailable | null, 
/**
 * The language the team's words above show in when the team gave none
 * in the app's language (BCP 47): the screen marks them so a screen
 * reader pronounces them right. None: in the app's language.
 */
lang: string | null, };

export type FormUnavailable = "notYetOnDevice" | "cannotBeShown";

export type ResultPoint = { authored: string, value: number, 
/**
 * The band in plain language ("Mild").
 */
band: string | null, meaning: string | null, };

export type ResultSeries = { scale: string, name: string, instrument: string, unit: string, min: number, max: number, 
/**
 * Which way is better, in words.
 */
direction: string, 
/**
 * Which way is better, for the chart: true when higher, false when
 * lower, None when the questionnaire does not say.
 */
higherIsBetter: boolean | null, 
/**
 * The minimal clinically important difference, where published.
 */
mcid: number | null, points: Array<ResultPoint>, 
/**
 * The latest change since the first score, in words, judged against the MCID.
 */
changeSinceBaseline: string | null, verdict: Verdict | null, };

export type FormOption = { 
/**
 * What to send back as the answer: a code, a number or a text.
 */
value: string | number | boolean, label: string, };

export type FormItem = { linkId: string, 
/**
 * group, display, or the question's type: boolean, decimal, integer,
 * date, dateTime, time, string, text, url, choice, open-choice, quantity.
 */
itemType: string, text: string, 
/**
 * The language `text` and its options show in, when the form has no
 * translation of them into the app's language (BCP 47).
 */
lang: string | null, prefix: string | null, 
/**
 * 0 at the top level; items inside a group are deeper.
 */
depth: number, 
/**
 * The page it is on when the form is shown one question or group at a time.
 */
page: number, required: boolean, 
/**
 * Takes more than one answer (check boxes for a choice).
 */
repeats: boolean, readOnly: boolean, maxLength: number | null, min: string | null, max: string | null, unit: string | null, 
/**
 * The questionnaire's display hint: radio-button, check-box, drop-down, slider, spinner…
 */
control: string | null, 
/**
 * horizontal or vertical.
 */
orientation: string | null, options: Array<FormOption>, answers: Array<string | number | boolean>, 
/**
 * What is wrong with the answer, in plain words, and its kind
 * (required, wrongType, notAnOption, belowMin, aboveMax, tooLong, onlyOneAnswer).
 */
problem: string | null, problemKind: string | null, };

export type FormView = { taskId: string, 
/**
 * The team's title for this assignment, else the form's own; None when
 * neither has one (the UI says "questionnaire").
 */
title: string | null, 
/**
 * The language `title` shows in, when it is not the app's.
 */
lang: string | null, 
/**
 * The questionnaire's own name.
 */
instrument: string, state: DueState, closes: string | null, items: Array<FormItem>, pages: number, 
/**
 * Questions asked now, and how many have an answer.
 */
questions: number, answered: number, 
/**
 * Every answer is valid and every required question answered.
 */
complete: boolean, 
/**
 * When the answers so far were last saved on this device.
 */
savedAt: string | null, 
/**
 * To show before anything else when an answer trips a red-flag rule.
 */
guidance: Array<UrgentGuidance>, };

export type ScoreView = { scale: string, name: string, instrument: string, 
/**
 * None when there is no score; `not_scored` says why.
 */
value: number | null, unit: string | null, min: number | null, max: number | null, band: string | null, meaning: string | null, 
/**
 * Which way is better, in words.
 */
direction: string | null, 
/**
 * A descriptive profile instead of a number (EQ-5D-5L "11223").
 */
profile: string | null, notScored: string | null, };

export type SubmittedQuestionnaire = { responseId: string, scores: Array<ScoreView>, 
/**
 * Guidance to show first, most urgent first.
 */
guidance: Array<UrgentGuidance>, };

export type Urgency = "emergency" | "callToday" | "teamWillContact";

export type UrgentGuidance = { urgency: Urgency, 
/**
 * What was recognised, in plain words ("chest pain").
 */
concern: string, title: string, advice: string, 
/**
 * Numbers to call, most urgent first: (label, number).
 */
calls: Array<[string, string]>, };

export type TeamMemberDetail = { name: string, 
/**
 * What they do, in the team's words (e.g. "Physical therapist"); None
 * when the team gave none (the UI says "care team member").
 */
role: string | null, 
/**
 * What to contact them about, in the unit's words.
 */
contactFor: string | null, 
/**
 * The language `contact_for` shows in, when it is not the app's.
 */
contactLang: string | null, phone: string | null, 
/**
 * The one who oversees the whole care cycle.
 */
isCareCoordinator: boolean, isTeamCaptain: boolean, 
/**
 * The language `role` shows in, when it is not the app's.
 */
lang: string | null, };

export type ChecklistItem = { id: string, title: string, 
/**
 * The day it is due (YYYY-MM-DD), when given.
 */
due: string | null, 
/**
 * How to do it, in the team's words.
 */
how: string | null, done: boolean, 
/**
 * Whether the team has it yet.
 */
state: ItemState, 
/**
 * The language the team's words above show in when the team gave none
 * in the app's language (BCP 47): the screen marks them so a screen
 * reader pronounces them right. None: in the app's language.
 */
lang: string | null, };

export type EducationItem = { id: string, title: string, 
/**
 * BCP 47 language of the text (en, es…).
 */
language: string, 
/**
 * The phase of care it belongs to.
 */
phase: string | null, 
/**
 * It belongs to the phase the patient is in now.
 */
currentPhase: boolean, 
/**
 * Opened on this device before.
 */
read: boolean, };

export type EducationDoc = { id: string, title: string, language: string, html: string, };

export type TimelinePhase = { title: string, description: string | null, start: string | null, end: string | null, 
/**
 * Where the patient is now.
 */
current: boolean, 
/**
 * Behind the patient.
 */
done: boolean, 
/**
 * The language the team's words above show in when the team gave none
 * in the app's language (BCP 47): the screen marks them so a screen
 * reader pronounces them right. None: in the app's language.
 */
lang: string | null, };

export type TimelineView = { phases: Array<TimelinePhase>, appointments: Array<NextStep>, };

export type RecordAccess = { 
/**
 * Seen by a family member with some areas not shared.
 */
familyView: boolean, 
/**
 * Areas not shared: schedule, education, messages, questionnaires.
 */
notShared: Array<string>, };

export type MessageKindOption = { code: string, };

export type ItemState = "pending" | "sent" | "failed" | "conflict";

export type Keep = "theirs" | "mine";

export type DueState = "overdue" | "due" | "upcoming" | "done" | "closed";

export type Verdict = "better" | "worse" | "aboutTheSame" | "unknown";

export type HitKind = "message" | "reading";

export type NotificationSettings = { 
/**
 * Say who wrote and what it is about (off: no health information).
 */
showDetails: boolean, 
/**
 * Whether this computer shows notifications: unknown until the first one.
 */
available: boolean | null, };

export type LockView = { 
/**
 * Show the lock screen, not the record.
 */
locked: boolean, 
/**
 * The record has an app passcode (false right after the first sign-in:
 * ask for one before showing the record).
 */
hasPasscode: boolean, 
/**
 * Wrong passcodes in a row.
 */
failures: number, 
/**
 * Seconds before another try is looked at (0: now).
 */
waitSeconds: number, 
/**
 * Enough wrong tries that signing out of the record is offered.
 */
offerSignOut: boolean, 
/**
 * How long without input before the app locks.
 */
timeoutSeconds: number, };

export type UnlockOutcome = "unlocked" | "wrong" | "tooSoon" | "noPasscode";

export type UnlockAnswer = { outcome: UnlockOutcome, lock: LockView, };

export type PasscodeProblem = "tooShort" | "tooLong" | "tooSimple";
