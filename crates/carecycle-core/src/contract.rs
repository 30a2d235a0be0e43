//! What the app's screens are shown: plain views built by the core from the
//! local store. The UI's TypeScript types are generated from these (ts-rs), so
//! the two sides cannot drift apart.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A care organization the patient can connect to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ServerChoice {
    pub label: String,
    pub fhir_base_url: String,
}

/// A record this device can show: the patient's own, or one a family member may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ProfileSummary {
    pub id: String,
    pub server_label: String,
    pub fhir_base_url: String,
    /// The patient's name, once the first sync has brought it.
    pub patient_name: Option<String>,
    /// The record's lock as the overview was read (None: the keyring could
    /// not be read), so the first screen needs no second call.
    pub lock: Option<crate::lock::LockView>,
}

/// What the app shows before a record is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AppOverview {
    pub profiles: Vec<ProfileSummary>,
    pub server_choices: Vec<ServerChoice>,
    /// False when the system keyring cannot be used: nothing can be stored safely.
    pub keyring_available: bool,
    /// The language the app speaks now: the person's choice on this device,
    /// else the system's (the core decides it once, for itself and the window).
    pub language: crate::words::Lang,
}

/// The Today screen: where the patient is in the care cycle and what comes next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TodayView {
    /// None when the record names nobody (the UI says "your record").
    pub patient_name: Option<String>,
    /// The care unit (IPU) looking after this condition.
    pub ipu_name: Option<String>,
    pub condition: Option<String>,
    /// The language `condition` shows in, when it is not the app's.
    pub condition_lang: Option<String>,
    pub phase: Option<PhaseView>,
    pub next_steps: Vec<NextStep>,
    pub coordinator: Option<TeamMemberView>,
    /// When the record was last brought up to date from the care team (RFC 3339).
    pub last_synced: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PhaseView {
    pub title: String,
    pub description: Option<String>,
    /// First and last day of the phase (YYYY-MM-DD), when known.
    pub start: Option<String>,
    pub end: Option<String>,
    /// 1-based position of this phase in the cycle, and how many phases there are.
    pub position: u32,
    pub count: u32,
    /// The language the team's words above show in when the team gave none
    /// in the app's language (BCP 47): the screen marks them so a screen
    /// reader pronounces them right. None: in the app's language.
    pub lang: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum StepKind {
    Appointment,
    Checklist,
}

/// Something coming up: what, when, where, with whom, and how to prepare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct NextStep {
    pub id: String,
    pub kind: StepKind,
    pub title: String,
    /// The day, on the clinic's calendar (YYYY-MM-DD).
    pub date: String,
    /// The time on the clinic's clock (HH:MM), for appointments.
    pub time: Option<String>,
    pub place: Option<String>,
    pub who: Option<String>,
    pub prepare: Option<String>,
    /// The language the team's words above show in when the team gave none
    /// in the app's language (BCP 47): the screen marks them so a screen
    /// reader pronounces them right. None: in the app's language.
    pub lang: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TeamMemberView {
    pub name: String,
    /// What they do, in the team's words (e.g. "Nurse navigator"); None when
    /// the team gave none (the UI says "care coordinator" in the patient's language).
    pub role: Option<String>,
    /// The one who oversees the whole care cycle.
    pub is_care_coordinator: bool,
    /// The language the team's words above show in when the team gave none
    /// in the app's language (BCP 47): the screen marks them so a screen
    /// reader pronounces them right. None: in the app's language.
    pub lang: Option<String>,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// What the patient wrote that reached the team in this sync.
    pub sent: u32,
    pub received: u32,
    pub failures: Vec<SyncFailure>,
    pub finished_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SyncFailure {
    pub resource_type: String,
    pub message: String,
}

/// One message of a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: String,
    /// Written by the patient (or their family member) on this record.
    pub from_me: bool,
    pub sender: Option<String>,
    /// When it was written (RFC 3339).
    pub sent: Option<String>,
    pub text: String,
    pub state: ItemState,
    /// Waiting after an attempt that got no answer, or a server-side failure:
    /// it goes again by itself (the UI says so in the patient's language).
    pub retrying: bool,
    /// When the server refused it (`state` failed): the server's own words,
    /// verbatim and in whatever language the server wrote them, for whoever
    /// helps the patient. The UI says what happened in its own words.
    pub server_said: Option<String>,
    pub attachments: Vec<AttachmentView>,
    /// From the team and not yet opened by the patient (on any device).
    pub unread: bool,
}

/// A file attached to a message, as the thread shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentView {
    /// The file's name; None when it has none (the UI says "attachment").
    pub title: Option<String>,
    pub content_type: String,
    /// Bytes (a file of a few MB at most, so a plain number).
    #[ts(type = "number | null")]
    pub size: Option<u64>,
    /// A `data:` URL to show a photo in place (photos carried in the message only).
    pub data_url: Option<String>,
}

/// A file the patient attaches: a photo (of a wound, a rash) or a PDF.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct NewAttachment {
    /// The file's name, shown to the team.
    pub name: String,
    /// The file's bytes, base64. Its type is read from the bytes, not trusted from the name.
    pub data_base64: String,
}

/// A message the patient sends: into `thread`, or a new thread of `kind`
/// (possibly `about` a reading, "DocumentReference/…"); text, a file, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Outgoing {
    pub thread: Option<String>,
    pub kind: Option<String>,
    pub about: Option<String>,
    pub text: String,
    pub attachment: Option<NewAttachment>,
}

pub use crate::outbox::{ItemState, Keep};

/// Where an assigned questionnaire stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum DueState {
    /// Past its window and not done: first in the list.
    Overdue,
    Due,
    /// Its window has not opened yet.
    Upcoming,
    Done,
    /// Cancelled or withdrawn by the team.
    Closed,
}

impl DueState {
    /// Can the patient answer it now?
    pub fn answerable(self) -> bool {
        matches!(self, DueState::Due | DueState::Overdue)
    }
}

/// How the latest score compares with the first, against the MCID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    Better,
    Worse,
    AboutTheSame,
    Unknown,
}

impl From<carecycle_prom::scoring::ChangeVerdict> for Verdict {
    fn from(v: carecycle_prom::scoring::ChangeVerdict) -> Verdict {
        use carecycle_prom::scoring::ChangeVerdict as V;
        match v {
            V::Better => Verdict::Better,
            V::Worse => Verdict::Worse,
            V::AboutTheSame => Verdict::AboutTheSame,
            V::Unknown => Verdict::Unknown,
        }
    }
}

/// What a search found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum HitKind {
    Message,
    Reading,
}

/// A conversation with the care team as the list of threads shows it: who
/// answers it by when, and its newest words (the messages come with
/// [`ThreadView`], one thread at a time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ThreadSummary {
    pub id: String,
    /// What the thread is about, as its first message says; None when it says
    /// nothing (the UI names the thread by its kind, in the patient's language).
    pub subject: Option<String>,
    /// clinical, scheduling, medications, billing or other.
    pub kind: String,
    /// Who will answer (name and role), while a reply is awaited.
    pub answered_by: Option<String>,
    /// When the reply is due (RFC 3339), while a reply is awaited.
    pub reply_due: Option<String>,
    /// The reply is late.
    pub overdue: bool,
    pub last_sent: Option<String>,
    /// Messages from the team not yet read.
    pub unread: u32,
    /// The newest message's text, for the list.
    pub preview: Option<String>,
}

/// A conversation with the care team, every message in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ThreadView {
    #[serde(flatten)]
    pub summary: ThreadSummary,
    pub messages: Vec<MessageView>,
}

/// The quiet status line: last synced, and what has not reached the team yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    pub last_synced: Option<String>,
    pub pending: u32,
    pub failed: u32,
    pub conflicts: u32,
}

/// A search result: a message or a reading document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    pub kind: HitKind,
    pub id: String,
    pub title: String,
    /// The matching words in context, marked with [ and ].
    pub snippet: String,
}

/// A questionnaire the team asked for, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DueQuestionnaire {
    pub task_id: String,
    /// The team's title; None when they gave none (the UI says "questionnaire").
    pub title: Option<String>,
    pub questionnaire_id: Option<String>,
    /// The answering window (RFC 3339 or a date), when given.
    pub opens: Option<String>,
    pub closes: Option<String>,
    pub state: DueState,
    /// Answers are saved and waiting to be finished.
    pub in_progress: bool,
    /// The window is open (due or overdue): the patient may answer now.
    pub answerable: bool,
    /// Why the form cannot be opened on this device, if it cannot.
    pub unavailable: Option<FormUnavailable>,
    /// The language the team's words above show in when the team gave none
    /// in the app's language (BCP 47): the screen marks them so a screen
    /// reader pronounces them right. None: in the app's language.
    pub lang: Option<String>,
}

/// Why an assigned form cannot be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum FormUnavailable {
    /// The form (or an answer list it names) has not reached this device
    /// yet: syncing will bring it.
    NotYetOnDevice,
    /// The app refuses the form (e.g. an extension that changes its meaning
    /// and that the app does not understand); the care team sees why.
    CannotBeShown,
}

/// One score of one scale at one time.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ResultPoint {
    pub authored: String,
    pub value: f64,
    /// The band in plain language ("Mild").
    pub band: Option<String>,
    pub meaning: Option<String>,
}

/// A scale's scores over time, with what they mean.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ResultSeries {
    pub scale: String,
    pub name: String,
    pub instrument: String,
    pub unit: String,
    pub min: f64,
    pub max: f64,
    /// Which way is better, in words.
    pub direction: String,
    /// Which way is better, for the chart: true when higher, false when
    /// lower, None when the questionnaire does not say.
    pub higher_is_better: Option<bool>,
    /// The minimal clinically important difference, where published.
    pub mcid: Option<f64>,
    pub points: Vec<ResultPoint>,
    /// The latest change since the first score, in words, judged against the MCID.
    pub change_since_baseline: Option<String>,
    pub verdict: Option<Verdict>,
}

/// One choice offered for a question.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct FormOption {
    /// What to send back as the answer: a code, a number or a text.
    #[ts(type = "string | number | boolean")]
    pub value: serde_json::Value,
    pub label: String,
}

/// One item of a questionnaire as the form shows it now (only items that are
/// asked, given the answers so far).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct FormItem {
    pub link_id: String,
    /// group, display, or the question's type: boolean, decimal, integer,
    /// date, dateTime, time, string, text, url, choice, open-choice, quantity.
    pub item_type: String,
    pub text: String,
    /// The language `text` and its options show in, when the form has no
    /// translation of them into the app's language (BCP 47).
    pub lang: Option<String>,
    pub prefix: Option<String>,
    /// 0 at the top level; items inside a group are deeper.
    pub depth: u32,
    /// The page it is on when the form is shown one question or group at a time.
    pub page: u32,
    pub required: bool,
    /// Takes more than one answer (check boxes for a choice).
    pub repeats: bool,
    pub read_only: bool,
    pub max_length: Option<u32>,
    pub min: Option<String>,
    pub max: Option<String>,
    pub unit: Option<String>,
    /// The questionnaire's display hint: radio-button, check-box, drop-down, slider, spinner…
    pub control: Option<String>,
    /// horizontal or vertical.
    pub orientation: Option<String>,
    pub options: Vec<FormOption>,
    #[ts(type = "Array<string | number | boolean>")]
    pub answers: Vec<serde_json::Value>,
    /// What is wrong with the answer, in plain words, and its kind
    /// (required, wrongType, notAnOption, belowMin, aboveMax, tooLong, onlyOneAnswer).
    pub problem: Option<String>,
    pub problem_kind: Option<String>,
}

/// A questionnaire being answered: what to ask now, progress, and any
/// guidance an answer calls for — all worked out by the core.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct FormView {
    pub task_id: String,
    /// The team's title for this assignment, else the form's own; None when
    /// neither has one (the UI says "questionnaire").
    pub title: Option<String>,
    /// The language `title` shows in, when it is not the app's.
    pub lang: Option<String>,
    /// The questionnaire's own name.
    pub instrument: String,
    pub state: DueState,
    pub closes: Option<String>,
    pub items: Vec<FormItem>,
    pub pages: u32,
    /// Questions asked now, and how many have an answer.
    pub questions: u32,
    pub answered: u32,
    /// Every answer is valid and every required question answered.
    pub complete: bool,
    /// When the answers so far were last saved on this device.
    pub saved_at: Option<String>,
    /// To show before anything else when an answer trips a red-flag rule.
    pub guidance: Vec<crate::urgent::UrgentGuidance>,
}

/// One score of a submitted questionnaire, with its meaning.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ScoreView {
    pub scale: String,
    pub name: String,
    pub instrument: String,
    /// None when there is no score; `not_scored` says why.
    pub value: Option<f64>,
    pub unit: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub band: Option<String>,
    pub meaning: Option<String>,
    /// Which way is better, in words.
    pub direction: Option<String>,
    /// A descriptive profile instead of a number (EQ-5D-5L "11223").
    pub profile: Option<String>,
    pub not_scored: Option<String>,
}

/// What submitting a questionnaire did.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SubmittedQuestionnaire {
    pub response_id: String,
    pub scores: Vec<ScoreView>,
    /// Guidance to show first, most urgent first.
    pub guidance: Vec<crate::urgent::UrgentGuidance>,
}

/// A member of the care team, for "My care team".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TeamMemberDetail {
    pub name: String,
    /// What they do, in the team's words (e.g. "Physical therapist"); None
    /// when the team gave none (the UI says "care team member").
    pub role: Option<String>,
    /// What to contact them about, in the unit's words.
    pub contact_for: Option<String>,
    /// The language `contact_for` shows in, when it is not the app's.
    pub contact_lang: Option<String>,
    pub phone: Option<String>,
    /// The one who oversees the whole care cycle.
    pub is_care_coordinator: bool,
    pub is_team_captain: bool,
    /// The language `role` shows in, when it is not the app's.
    pub lang: Option<String>,
}

/// An item of the patient's checklist (a Task the patient does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ChecklistItem {
    pub id: String,
    pub title: String,
    /// The day it is due (YYYY-MM-DD), when given.
    pub due: Option<String>,
    /// How to do it, in the team's words.
    pub how: Option<String>,
    pub done: bool,
    /// Whether the team has it yet.
    pub state: ItemState,
    /// The language the team's words above show in when the team gave none
    /// in the app's language (BCP 47): the screen marks them so a screen
    /// reader pronounces them right. None: in the app's language.
    pub lang: Option<String>,
}

/// A reading in the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EducationItem {
    pub id: String,
    pub title: String,
    /// BCP 47 language of the text (en, es…).
    pub language: String,
    /// The phase of care it belongs to.
    pub phase: Option<String>,
    /// It belongs to the phase the patient is in now.
    pub current_phase: bool,
    /// Opened on this device before.
    pub read: bool,
}

/// A reading to show: HTML that the core has sanitised (safe to insert).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EducationDoc {
    pub id: String,
    pub title: String,
    pub language: String,
    pub html: String,
}

/// One phase on the care-cycle timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TimelinePhase {
    pub title: String,
    pub description: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    /// Where the patient is now.
    pub current: bool,
    /// Behind the patient.
    pub done: bool,
    /// The language the team's words above show in when the team gave none
    /// in the app's language (BCP 47): the screen marks them so a screen
    /// reader pronounces them right. None: in the app's language.
    pub lang: Option<String>,
}

/// The care cycle: its phases in order and the appointments still to come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TimelineView {
    pub phases: Vec<TimelinePhase>,
    pub appointments: Vec<NextStep>,
}

/// What this sign-in may see of the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RecordAccess {
    /// Seen by a family member with some areas not shared.
    pub family_view: bool,
    /// Areas not shared: schedule, education, messages, questionnaires.
    pub not_shared: Vec<String>,
}

/// Everything the Today screen shows, in one answer: the view, the
/// checklist, how notifications behave, and the lock timeout in minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TodayScreen {
    pub today: TodayView,
    pub checklist: Vec<ChecklistItem>,
    /// `available` is the shell's to fill in (it knows the notification service).
    pub notifications: NotificationSettings,
    /// The lock timeout, in whole minutes (at least 1), as the settings offer it.
    pub lock_minutes: u32,
}

/// How notifications behave on this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct NotificationSettings {
    /// Say who wrote and what it is about (off: no health information).
    pub show_details: bool,
    /// Whether this computer shows notifications: unknown until the first one.
    pub available: Option<bool>,
}

/// A kind of message the patient can start, as the app offers it (the UI
/// words it from its catalog, `kind.<code>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MessageKindOption {
    pub code: String,
}

/// The TypeScript declarations of every type that crosses the command boundary,
/// in one file. The shell's test compares this with the committed UI file.
pub fn typescript_contract() -> String {
    use crate::error::{CommandError, ErrorCode, Invalid};
    let cfg = ts_rs::Config::default();
    let decls = [
        ErrorCode::decl(&cfg),
        crate::words::Lang::decl(&cfg),
        Invalid::decl(&cfg),
        CommandError::decl(&cfg),
        ServerChoice::decl(&cfg),
        ProfileSummary::decl(&cfg),
        AppOverview::decl(&cfg),
        TodayView::decl(&cfg),
        TodayScreen::decl(&cfg),
        PhaseView::decl(&cfg),
        StepKind::decl(&cfg),
        NextStep::decl(&cfg),
        TeamMemberView::decl(&cfg),
        SyncReport::decl(&cfg),
        SyncFailure::decl(&cfg),
        AttachmentView::decl(&cfg),
        NewAttachment::decl(&cfg),
        Outgoing::decl(&cfg),
        MessageView::decl(&cfg),
        ThreadSummary::decl(&cfg),
        ThreadView::decl(&cfg),
        SyncStatus::decl(&cfg),
        SearchHit::decl(&cfg),
        DueQuestionnaire::decl(&cfg),
        FormUnavailable::decl(&cfg),
        ResultPoint::decl(&cfg),
        ResultSeries::decl(&cfg),
        FormOption::decl(&cfg),
        FormItem::decl(&cfg),
        FormView::decl(&cfg),
        ScoreView::decl(&cfg),
        SubmittedQuestionnaire::decl(&cfg),
        crate::urgent::Urgency::decl(&cfg),
        crate::urgent::UrgentGuidance::decl(&cfg),
        TeamMemberDetail::decl(&cfg),
        ChecklistItem::decl(&cfg),
        EducationItem::decl(&cfg),
        EducationDoc::decl(&cfg),
        TimelinePhase::decl(&cfg),
        TimelineView::decl(&cfg),
        RecordAccess::decl(&cfg),
        MessageKindOption::decl(&cfg),
        ItemState::decl(&cfg),
        Keep::decl(&cfg),
        DueState::decl(&cfg),
        Verdict::decl(&cfg),
        HitKind::decl(&cfg),
        NotificationSettings::decl(&cfg),
        crate::lock::LockView::decl(&cfg),
        crate::lock::UnlockOutcome::decl(&cfg),
        crate::lock::UnlockAnswer::decl(&cfg),
        crate::lock::PasscodeProblem::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from the Rust types in carecycle-core (src/contract.rs, src/error.rs).\n\
         // Do not edit: run `UPDATE_CONTRACT=1 cargo test -p carecycle-app --test contract` to regenerate.\n\n",
    );
    for decl in decls {
        out.push_str("export ");
        out.push_str(&decl);
        out.push_str("\n\n");
    }
    out.trim_end().to_owned() + "\n"
}
