// A build script fails the build by panicking; that is its job here.
#![allow(clippy::panic)]

fn main() {
    // Declaring the app's commands generates one permission per command, so the
    // capability file can grant exactly these to the main window and nothing else.
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "app_overview",
            "sign_in",
            "sign_out",
            "sync_now",
            "today",
            "messages",
            "send_message",
            "message_draft",
            "mark_thread_read",
            "save_message_draft",
            "check_urgent",
            "sync_status",
            "retry_failed",
            "search",
            "set_checklist_done",
            "due_questionnaires",
            "questionnaire_form",
            "save_questionnaire_draft",
            "submit_questionnaire",
            "results",
            "care_team",
            "checklist",
            "education",
            "open_education",
            "timeline",
            "export_ics",
            "record_access",
            "message_kinds",
            "notification_settings",
            "set_notification_detail",
            "set_language",
            "lock_state",
            "unlock",
            "set_passcode",
            "still_here",
            "lock_now",
            "set_lock_minutes",
        ]),
    ))
    .unwrap_or_else(|e| panic!("tauri build step failed: {e:#}"));
}
