//! Command wiring on Tauri's mock runtime, with the app's real configuration and
//! capability file: the main window can call CareCycle's commands, results and
//! errors arrive as the UI expects them.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use carecycle_app_lib::server_choices_from;
use serde_json::{Value, json};
use support::invoke;

#[test]
fn commands_answer_through_the_real_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let (_app, webview) = support::window(support::core(
        dir.path(),
        server_choices_from("Riverside (demo)|http://127.0.0.1:9/fhir; broken entry"),
    ));

    assert_eq!(
        invoke(&webview, "app_overview", json!({})),
        Ok(json!({
            "profiles": [],
            "serverChoices": [{"label": "Riverside (demo)", "fhirBaseUrl": "http://127.0.0.1:9/fhir"}],
            "keyringAvailable": true,
            // Nothing chosen yet: the system's language, as the core reads it.
            "language": carecycle_core::words::Lang::chosen_or_system(None)
        }))
    );
    // The language is a device setting: kept, offered back, and only ones the app speaks.
    assert_eq!(
        invoke(&webview, "set_language", json!({"language": "es"})),
        Ok(Value::Null)
    );
    assert_eq!(
        invoke(&webview, "app_overview", json!({})).unwrap()["language"],
        "es"
    );
    let err = invoke(&webview, "set_language", json!({"language": "fr"})).unwrap_err();
    assert_eq!(err["code"], "invalidInput");
    let err = invoke(&webview, "today_screen", json!({"profileId": "nope"})).unwrap_err();
    assert_eq!(err["code"], "notSignedIn");
    let err = invoke(&webview, "sign_in", json!({"fhirBaseUrl": "ftp://x"})).unwrap_err();
    assert_eq!(err["code"], "invalidInput");
    assert_eq!(err["invalid"]["reason"], "notHttps", "{err}");

    // The patient's side of messages and questionnaires is wired too.
    let guidance = invoke(
        &webview,
        "check_urgent",
        json!({"text": "I have chest pain", "language": "en"}),
    )
    .unwrap();
    assert_eq!(guidance["urgency"], "emergency");
    assert_eq!(
        invoke(
            &webview,
            "check_urgent",
            json!({"text": "Can I come at 3?", "language": "en"})
        ),
        Ok(Value::Null)
    );
    for cmd in ["threads", "sync_status", "due_questionnaires", "results"] {
        let err = invoke(
            &webview,
            cmd,
            json!({"profileId": "nope", "language": "en"}),
        )
        .unwrap_err();
        assert_eq!(err["code"], "notSignedIn", "{cmd}");
    }
    let err = invoke(
        &webview,
        "send_message",
        json!({"profileId": "nope", "message": {"thread": null, "kind": "other", "about": null, "text": "hi", "attachment": null}}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "notSignedIn");
    // Questionnaires, drafts and notification settings answer through the capability file too.
    for (cmd, args) in [
        (
            "questionnaire_form",
            json!({"profileId": "nope", "taskId": "Task/1", "answers": null, "language": "en"}),
        ),
        (
            "save_questionnaire_draft",
            json!({"profileId": "nope", "taskId": "Task/1", "answers": {}}),
        ),
        (
            "submit_questionnaire",
            json!({"profileId": "nope", "taskId": "Task/1", "answers": {}, "language": "en"}),
        ),
        (
            "message_draft",
            json!({"profileId": "nope", "thread": null}),
        ),
        (
            "save_message_draft",
            json!({"profileId": "nope", "thread": null, "text": "Dear"}),
        ),
        (
            "mark_thread_read",
            json!({"profileId": "nope", "thread": "Communication/1"}),
        ),
        ("today_screen", json!({"profileId": "nope"})),
        (
            "set_notification_detail",
            json!({"profileId": "nope", "on": true}),
        ),
    ] {
        let err = invoke(&webview, cmd, args).unwrap_err();
        assert_eq!(err["code"], "notSignedIn", "{cmd}");
    }
}

/// While the app is locked, the one gate every command passes refuses each
/// command that could show a record with `locked` — so a script in the page
/// cannot read what the lock screen covers — and answers the lock screen's own.
#[test]
fn a_locked_app_refuses_every_command_that_shows_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let core = support::core(dir.path(), vec![]);
    core.enforce_lock(carecycle_core::lock::LockOptions::standard());
    let (_app, webview) = support::window(core);

    let p = json!({"profileId": "p-1"});
    for (cmd, args) in [
        ("today_screen", p.clone()),
        ("threads", p.clone()),
        (
            "thread",
            json!({"profileId": "p-1", "thread": "Communication/t1"}),
        ),
        ("sync_now", p.clone()),
        ("search", json!({"profileId": "p-1", "text": "knee"})),
        ("results", p.clone()),
        ("timeline", p.clone()),
        ("record_access", p.clone()),
        ("sign_out", p.clone()),
        (
            "set_passcode",
            json!({"profileId": "p-1", "passcode": "482916"}),
        ),
        ("set_lock_minutes", json!({"minutes": 30})),
    ] {
        let err = invoke(&webview, cmd, args).unwrap_err();
        assert_eq!(err["code"], "locked", "{cmd}");
    }
    // The lock screen's own commands answer, with nothing of the record.
    let view = invoke(&webview, "lock_state", p.clone()).unwrap();
    assert_eq!(view["locked"], true);
    assert_eq!(view["hasPasscode"], false);
    assert_eq!(view["timeoutSeconds"], 300);
    let answer = invoke(
        &webview,
        "unlock",
        json!({"profileId": "p-1", "passcode": "482916"}),
    )
    .unwrap();
    assert_eq!(answer["outcome"], "noPasscode");
    assert_eq!(invoke(&webview, "still_here", json!({})), Ok(Value::Null));
    assert_eq!(invoke(&webview, "lock_now", json!({})), Ok(Value::Null));
    assert!(invoke(&webview, "app_overview", json!({})).is_ok());
    // Every command the app declares is either gated or knowingly open.
    for open in carecycle_app_lib::OPEN_WHILE_LOCKED {
        assert!(
            include_str!("../isolation/index.js").contains(&format!("'{open}'")),
            "{open} is one of the app's commands"
        );
    }
}
