//! The commands the UI may invoke: each a few lines calling the core.

use carecycle_core::contract::{
    AppOverview, ChecklistItem, DueQuestionnaire, EducationDoc, EducationItem, FormView, Keep,
    MessageKindOption, NotificationSettings, Outgoing, ProfileSummary, RecordAccess, ResultSeries,
    SearchHit, SubmittedQuestionnaire, SyncReport, SyncStatus, TeamMemberDetail, ThreadSummary,
    ThreadView, TimelineView, TodayScreen,
};
use carecycle_core::lock::{LockView, PasscodeProblem, UnlockAnswer};
use carecycle_core::urgent::UrgentGuidance;
use carecycle_core::{CareCycle, CommandError};
use std::sync::Arc;
use tauri::State;

type Core<'a> = State<'a, Arc<CareCycle>>;
type Notifications<'a> = State<'a, Arc<crate::notifier::Notifier>>;

#[tauri::command]
pub async fn app_overview(core: Core<'_>) -> Result<AppOverview, CommandError> {
    Ok(core.overview().await?)
}

#[tauri::command]
pub async fn sign_in(
    core: Core<'_>,
    fhir_base_url: String,
) -> Result<ProfileSummary, CommandError> {
    Ok(core.sign_in(&fhir_base_url).await?)
}

/// Signs out of one record: revokes the sign-in at the server and removes
/// the record's database, keys and drafts from this device.
#[tauri::command]
pub async fn sign_out(core: Core<'_>, profile_id: String) -> Result<(), CommandError> {
    Ok(core.sign_out(&profile_id).await?)
}

#[tauri::command]
pub async fn sync_now(core: Core<'_>, profile_id: String) -> Result<SyncReport, CommandError> {
    Ok(core.sync(&profile_id).await?)
}

/// Everything the Today screen shows, in one call (the first screen waits on no chain).
#[tauri::command]
pub async fn today_screen(
    core: Core<'_>,
    notifier: Notifications<'_>,
    profile_id: String,
) -> Result<TodayScreen, CommandError> {
    let mut screen = core.today_screen(&profile_id).await?;
    screen.notifications.available = notifier.available();
    Ok(screen)
}

#[tauri::command]
pub async fn threads(
    core: Core<'_>,
    profile_id: String,
) -> Result<Vec<ThreadSummary>, CommandError> {
    Ok(core.thread_list(&profile_id).await?)
}

#[tauri::command]
pub async fn thread(
    core: Core<'_>,
    profile_id: String,
    thread: String,
) -> Result<ThreadView, CommandError> {
    Ok(core.thread(&profile_id, thread).await?)
}

#[tauri::command]
pub async fn send_message(
    core: Core<'_>,
    profile_id: String,
    message: Outgoing,
) -> Result<String, CommandError> {
    Ok(core.send(&profile_id, message).await?)
}

#[tauri::command]
pub async fn message_draft(
    core: Core<'_>,
    profile_id: String,
    thread: Option<String>,
) -> Result<Option<String>, CommandError> {
    Ok(core.message_draft(&profile_id, thread).await?)
}

#[tauri::command]
pub async fn save_message_draft(
    core: Core<'_>,
    profile_id: String,
    thread: Option<String>,
    text: String,
) -> Result<(), CommandError> {
    Ok(core.save_message_draft(&profile_id, thread, text).await?)
}

#[tauri::command]
pub fn check_urgent(core: Core<'_>, text: String, language: String) -> Option<UrgentGuidance> {
    core.check_urgent(&text, &language)
}

#[tauri::command]
pub async fn sync_status(core: Core<'_>, profile_id: String) -> Result<SyncStatus, CommandError> {
    Ok(core.sync_status(&profile_id).await?)
}

#[tauri::command]
pub async fn retry_failed(core: Core<'_>, profile_id: String) -> Result<u32, CommandError> {
    Ok(core.retry_failed(&profile_id).await?)
}

#[tauri::command]
pub async fn search(
    core: Core<'_>,
    profile_id: String,
    text: String,
) -> Result<Vec<SearchHit>, CommandError> {
    Ok(core.search(&profile_id, text).await?)
}

#[tauri::command]
pub async fn set_checklist_done(
    core: Core<'_>,
    profile_id: String,
    task_id: String,
    done: bool,
) -> Result<(), CommandError> {
    Ok(core.set_checklist_done(&profile_id, &task_id, done).await?)
}

#[tauri::command]
pub async fn settle_conflict(
    core: Core<'_>,
    profile_id: String,
    item: String,
    keep: Keep,
) -> Result<(), CommandError> {
    Ok(core.settle_conflict(&profile_id, &item, keep).await?)
}

#[tauri::command]
pub async fn due_questionnaires(
    core: Core<'_>,
    profile_id: String,
) -> Result<Vec<DueQuestionnaire>, CommandError> {
    Ok(core.due_questionnaires(&profile_id).await?)
}

#[tauri::command]
pub async fn questionnaire_form(
    core: Core<'_>,
    profile_id: String,
    task_id: String,
    answers: Option<serde_json::Value>,
    language: String,
) -> Result<FormView, CommandError> {
    Ok(core
        .questionnaire_form(&profile_id, task_id, answers, language)
        .await?)
}

#[tauri::command]
pub async fn save_questionnaire_draft(
    core: Core<'_>,
    profile_id: String,
    task_id: String,
    answers: serde_json::Value,
) -> Result<String, CommandError> {
    Ok(core
        .save_questionnaire_draft(&profile_id, task_id, answers)
        .await?)
}

#[tauri::command]
pub async fn submit_questionnaire(
    core: Core<'_>,
    profile_id: String,
    task_id: String,
    answers: serde_json::Value,
    language: String,
) -> Result<SubmittedQuestionnaire, CommandError> {
    Ok(core
        .submit_questionnaire(&profile_id, task_id, answers, &language)
        .await?)
}

#[tauri::command]
pub async fn results(
    core: Core<'_>,
    profile_id: String,
    language: String,
) -> Result<Vec<ResultSeries>, CommandError> {
    Ok(core.results(&profile_id, language).await?)
}

#[tauri::command]
pub async fn care_team(
    core: Core<'_>,
    profile_id: String,
) -> Result<Vec<TeamMemberDetail>, CommandError> {
    Ok(core.care_team(&profile_id).await?)
}

#[tauri::command]
pub async fn checklist(
    core: Core<'_>,
    profile_id: String,
) -> Result<Vec<ChecklistItem>, CommandError> {
    Ok(core.checklist(&profile_id).await?)
}

#[tauri::command]
pub async fn education(
    core: Core<'_>,
    profile_id: String,
    language: String,
) -> Result<Vec<EducationItem>, CommandError> {
    Ok(core.education(&profile_id, language).await?)
}

#[tauri::command]
pub async fn open_education(
    core: Core<'_>,
    profile_id: String,
    id: String,
) -> Result<EducationDoc, CommandError> {
    Ok(core.open_education(&profile_id, id).await?)
}

#[tauri::command]
pub async fn timeline(core: Core<'_>, profile_id: String) -> Result<TimelineView, CommandError> {
    Ok(core.timeline(&profile_id).await?)
}

/// Saves an appointment as an .ics file in the person's Downloads folder
/// (`CARECYCLE_DOWNLOAD_DIR` overrides it) and says where.
#[tauri::command]
pub async fn export_ics<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    core: Core<'_>,
    profile_id: String,
    appointment_id: String,
) -> Result<String, CommandError> {
    use tauri::Manager;
    let dir = std::env::var_os("CARECYCLE_DOWNLOAD_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| app.path().download_dir().ok())
        .ok_or(carecycle_core::CoreError::InvalidInput(
            carecycle_core::Invalid::NoDownloadFolder,
        ))?;
    let path = core
        .save_appointment_ics(&profile_id, appointment_id, dir)
        .await?;
    Ok(path.display().to_string())
}

#[tauri::command]
pub async fn record_access(
    core: Core<'_>,
    profile_id: String,
) -> Result<RecordAccess, CommandError> {
    Ok(core.record_access(&profile_id).await?)
}

#[tauri::command]
pub fn message_kinds(core: Core<'_>) -> Vec<MessageKindOption> {
    core.message_kinds()
}

#[tauri::command]
pub async fn set_notification_detail(
    core: Core<'_>,
    notifier: Notifications<'_>,
    profile_id: String,
    on: bool,
) -> Result<NotificationSettings, CommandError> {
    core.set_notification_detail(&profile_id, on).await?;
    Ok(NotificationSettings {
        show_details: core.notification_detail(&profile_id).await?,
        available: notifier.available(),
    })
}

#[tauri::command]
pub fn set_language(core: Core<'_>, language: Option<String>) -> Result<(), CommandError> {
    Ok(core.set_language(language)?)
}

#[tauri::command]
pub async fn mark_thread_read(
    core: Core<'_>,
    profile_id: String,
    thread: String,
) -> Result<u32, CommandError> {
    Ok(core.mark_thread_read(&profile_id, thread).await?)
}

/// The app lock of one record, as the lock screen shows it.
#[tauri::command]
pub fn lock_state(core: Core<'_>, profile_id: String) -> Result<LockView, CommandError> {
    Ok(core.lock_view(&profile_id)?)
}

/// Tries the record's app passcode (slower after wrong tries; see the core's `lock`).
#[tauri::command]
pub fn unlock(
    core: Core<'_>,
    profile_id: String,
    passcode: String,
) -> Result<UnlockAnswer, CommandError> {
    Ok(core.unlock(&profile_id, &passcode)?)
}

/// Sets the app passcode of an open record; says what is wrong with it instead (null: set).
#[tauri::command]
pub fn set_passcode(
    core: Core<'_>,
    profile_id: String,
    passcode: String,
) -> Result<Option<PasscodeProblem>, CommandError> {
    Ok(core.set_passcode(&profile_id, &passcode)?)
}

/// The person is using the app (the UI says so at most every few seconds).
#[tauri::command]
pub fn still_here(core: Core<'_>) {
    core.still_here();
}

/// Locks the app now (the patient steps away).
#[tauri::command]
pub fn lock_now<R: tauri::Runtime>(app: tauri::AppHandle<R>, core: Core<'_>) {
    core.lock_now();
    crate::announce_lock(&app);
}

/// Keeps how many minutes without input lock the app (1–30).
#[tauri::command]
pub fn set_lock_minutes(core: Core<'_>, minutes: u32) -> Result<(), CommandError> {
    Ok(core.set_lock_minutes(minutes)?)
}
