//! Sync through a fault-injecting proxy in front of the real reference back
//! end: offline, server errors, answers slower than the timeout, connections
//! reset after the server acted, bodies cut short, a 401 that a refresh cures,
//! a 412. Nothing the patient wrote is lost; nothing reaches the team twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use carecycle_backend::RunningServer;
use carecycle_backend::seed::{DEMO_PATIENT_PASSWORD, DEMO_PATIENT_USERNAME, KNEE_TEAM_USERNAME};
use carecycle_core::contract::{DueState, HitKind, ItemState, Keep, Verdict};
use carecycle_core::secrets::Vault;
use carecycle_core::smart::{SystemBrowser, TokenSet};
use carecycle_core::{CareCycle, CoreConfig, CoreError, ErrorCode, FixedClock, Invalid};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use support::fault_proxy::{Fault, FaultProxy};
use support::{demo_server, tokens};

const NOW: &str = "2026-11-23T15:00:00Z";

struct Rig {
    server: RunningServer,
    vault: Vault,
    proxy: FaultProxy,
    core: CareCycle,
    clock: Arc<FixedClock>,
    profile: String,
    patient: String,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let clock = Arc::new(FixedClock::new(NOW.parse().unwrap()));
    let server = demo_server(clock.clone()).await;
    let proxy = FaultProxy::start(server.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::with_store(keyring_core::mock::Store::new().unwrap());
    let mut core = CareCycle::new(CoreConfig {
        data_dir: dir.path().to_owned(),
        vault: Ok(vault.clone()),
        clock: clock.clone(),
        browser: Arc::new(SystemBrowser),
        return_path: carecycle_core::smart::ReturnPath::Loopback,
        server_choices: vec![],
    })
    .unwrap();
    core.set_request_timeout(Duration::from_secs(2)).unwrap();
    let t = tokens(
        &server,
        DEMO_PATIENT_USERNAME,
        DEMO_PATIENT_PASSWORD,
        "launch/patient offline_access patient/*.cruds",
    )
    .await;
    let patient = t["patient"].as_str().unwrap().to_owned();
    let profile = core
        .connect_with_token(&proxy.base(), t["access_token"].as_str(), &patient)
        .await
        .unwrap()
        .id;
    // The app keeps the whole token set, refresh token included.
    carecycle_core::fhir_http::save_tokens(
        &vault,
        &profile,
        &TokenSet {
            access_token: t["access_token"].as_str().unwrap().into(),
            refresh_token: t["refresh_token"].as_str().map(str::to_owned),
            expires_at: None,
            patient: Some(patient.clone()),
            scope: None,
            token_endpoint: Some(format!("{}/auth/token", server.state.origin)),
        },
    )
    .unwrap();
    core.sync(&profile).await.unwrap();
    Rig {
        server,
        vault,
        proxy,
        core,
        clock,
        profile,
        patient,
        _dir: dir,
    }
}

/// Whatever a test did, what it wrote must be valid R4.
impl Drop for Rig {
    fn drop(&mut self) {
        support::judge_written(&self.server);
    }
}

impl Rig {
    /// How many copies of a message text the server holds.
    fn on_server(&self, text: &str) -> i64 {
        self.server
            .state
            .db
            .with(|c| {
                c.query_row(
                    "SELECT count(*) FROM resource WHERE type = 'Communication' AND deleted = 0 AND content LIKE ?1",
                    [format!("%{text}%")],
                    |r| r.get(0),
                )
                .map_err(carecycle_backend::store::StoreError::from)
            })
            .unwrap()
    }

    async fn status(&self) -> (u32, u32, u32) {
        let s = self.core.sync_status(&self.profile).await.unwrap();
        (s.pending, s.failed, s.conflicts)
    }

    /// Lets the clock pass any backoff.
    fn later(&self) {
        self.clock.advance(jiff::SignedDuration::from_hours(1));
    }
}

/// Leaves out the baseline responses the demo seed comes with.
const NOT_SEEDED: &str = "'QuestionnaireResponse/' || id NOT IN \
    (SELECT json_extract(content, '$.output[0].valueReference.reference') FROM resource
     WHERE type = 'Task' AND json_extract(content, '$.description') LIKE '%baseline%')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_offline_arrives_exactly_once_on_reconnect() {
    let r = rig().await;
    let threads = r.core.messages(&r.profile).await.unwrap();
    let existing = threads[0].summary.id.clone();

    r.proxy.set(Fault::Offline);
    let a = r
        .core
        .send_message(
            &r.profile,
            Some(existing.clone()),
            None,
            "Offline reply one".into(),
        )
        .await
        .unwrap();
    let root = r
        .core
        .send_message(
            &r.profile,
            None,
            Some("clinical".into()),
            "Offline new question".into(),
        )
        .await
        .unwrap();
    r.core
        .send_message(
            &r.profile,
            Some(root.clone()),
            None,
            "Offline follow-up to my own question".into(),
        )
        .await
        .unwrap();
    assert!(a.starts_with("Communication/local-"));
    // Shown at once, as pending, offline.
    let threads = r.core.messages(&r.profile).await.unwrap();
    let mine = threads.iter().find(|t| t.summary.id == root).unwrap();
    assert_eq!(mine.messages.len(), 2);
    assert!(mine.messages.iter().all(|m| m.state == ItemState::Pending));
    let err = r.core.sync(&r.profile).await;
    assert!(
        matches!(&err, Err(e) if e.code() == ErrorCode::Offline)
            || err.as_ref().is_ok_and(|rep| rep.sent == 0)
    );
    assert_eq!(r.status().await, (3, 0, 0));
    assert_eq!(r.on_server("Offline"), 0);

    r.proxy.set(Fault::Pass);
    r.later();
    let report = r.core.sync(&r.profile).await.unwrap();
    assert_eq!(report.sent, 3);
    assert_eq!(r.status().await, (0, 0, 0));
    for text in [
        "Offline reply one",
        "Offline new question",
        "Offline follow-up to my own question",
    ] {
        assert_eq!(r.on_server(text), 1, "{text}");
    }
    // The follow-up points at the server's id of the question, and the question got a reply task.
    let threads = r.core.messages(&r.profile).await.unwrap();
    let question = threads
        .iter()
        .find(|t| t.summary.kind == "clinical" && t.summary.subject.is_none())
        .unwrap();
    assert!(!question.summary.id.contains("local-"));
    assert_eq!(question.messages.len(), 2);
    assert!(question.messages.iter().all(|m| m.state == ItemState::Sent));
    assert_eq!(
        question.summary.answered_by.as_deref(),
        Some("Priya Raman, RN (Nurse navigator)")
    );
    // The screen that opened the question by its local id still finds it.
    let opened = r.core.thread(&r.profile, root.clone()).await.unwrap();
    assert_eq!(opened.summary.id, question.summary.id);
    assert_eq!(&opened, question);
    // Searchable as soon as written, and once after it was sent.
    let hits = r
        .core
        .search(&r.profile, "offline new question".into())
        .await
        .unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(!hits[0].id.contains("local-"));
    // Syncing again sends nothing twice.
    r.later();
    assert_eq!(r.core.sync(&r.profile).await.unwrap().sent, 0);
    assert_eq!(r.on_server("Offline new question"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_and_cut_bodies_never_duplicate() {
    let r = rig().await;
    for (fault, text) in [
        (Fault::LoseAnswer, "Lost answer"),
        (Fault::Truncate, "Cut body"),
    ] {
        r.core
            .send_message(&r.profile, None, Some("other".into()), text.into())
            .await
            .unwrap();
        r.proxy.next("POST", fault, 1);
        let _ = r.core.sync(&r.profile).await;
        assert_eq!(
            r.on_server(text),
            1,
            "the server acted on the first attempt"
        );
        assert_eq!(
            r.status().await.0,
            1,
            "the app does not know yet: still pending"
        );
        r.later();
        r.core.sync(&r.profile).await.unwrap();
        assert_eq!(
            r.on_server(text),
            1,
            "{text}: the retry found the first copy"
        );
        assert_eq!(r.status().await, (0, 0, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_slow_answers_are_retried_after_a_backoff() {
    let r = rig().await;
    r.core
        .send_message(&r.profile, None, None, "Through a 503".into())
        .await
        .unwrap();
    r.proxy.next("POST", Fault::Status(503), 1);
    let report = r.core.sync(&r.profile).await.unwrap();
    assert_eq!(report.sent, 0);
    assert_eq!(r.status().await.0, 1);
    // The patient sees it will go again by itself, and no server words.
    let threads = r.core.messages(&r.profile).await.unwrap();
    let waiting = threads
        .iter()
        .flat_map(|t| &t.messages)
        .find(|m| m.text == "Through a 503")
        .unwrap();
    assert_eq!(
        (
            waiting.state,
            waiting.retrying,
            waiting.server_said.as_deref()
        ),
        (ItemState::Pending, true, None)
    );
    // Before the backoff has passed, nothing is tried.
    let seen = r
        .proxy
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("POST /fhir/Communication"))
        .count();
    r.core.sync(&r.profile).await.unwrap();
    assert_eq!(
        r.proxy
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("POST /fhir/Communication"))
            .count(),
        seen,
        "backoff respected (the pull's batch aside)"
    );
    r.later();
    assert_eq!(r.core.sync(&r.profile).await.unwrap().sent, 1);
    assert_eq!(r.on_server("Through a 503"), 1);

    r.core
        .send_message(&r.profile, None, None, "Slower than the timeout".into())
        .await
        .unwrap();
    r.proxy.next("POST", Fault::Slow(Duration::from_secs(3)), 1);
    let _ = r.core.sync(&r.profile).await;
    r.later();
    r.core.sync(&r.profile).await.unwrap();
    assert_eq!(r.on_server("Slower than the timeout"), 1);
    assert_eq!(r.status().await, (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_is_cured_by_one_refresh() {
    let r = rig().await;
    r.core
        .send_message(&r.profile, None, None, "After a refresh".into())
        .await
        .unwrap();
    r.proxy.next("POST", Fault::Status(401), 1);
    assert_eq!(r.core.sync(&r.profile).await.unwrap().sent, 1);
    assert_eq!(r.on_server("After a refresh"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_fail_visibly_and_stale_updates_merge_or_conflict() {
    let r = rig().await;
    // A refusal (422 here) fails visibly with the reason, keeping the text.
    r.core
        .send_message(&r.profile, None, None, "Refused once".into())
        .await
        .unwrap();
    r.proxy.next("POST", Fault::Status(422), 1);
    r.core.sync(&r.profile).await.unwrap();
    assert_eq!(r.status().await, (0, 1, 0));
    let threads = r.core.messages(&r.profile).await.unwrap();
    let failed = threads
        .iter()
        .flat_map(|t| &t.messages)
        .find(|m| m.text == "Refused once")
        .unwrap();
    assert_eq!(failed.state, ItemState::Failed);
    assert!(!failed.retrying);
    assert!(
        failed
            .server_said
            .as_deref()
            .unwrap()
            .contains("injected 422")
    );
    assert_eq!(r.core.retry_failed(&r.profile).await.unwrap(), 1);
    r.core.sync(&r.profile).await.unwrap();
    assert_eq!(r.on_server("Refused once"), 1);

    // The team changes a checklist item while the patient ticks it. Where
    // they changed different elements (a note; the status), both changes
    // stand: the patient's tick is carried onto the team's copy.
    let team = tokens(
        &r.server,
        KNEE_TEAM_USERNAME,
        "knee-team-2026",
        "user/*.cruds",
    )
    .await;
    let http = reqwest::Client::new();
    let bearer = team["access_token"].as_str().unwrap().to_owned();
    let open: Value = http
        .get(format!(
            "{}/Task?patient={}&code=checklist&status=requested",
            r.server.fhir_base(),
            r.patient
        ))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<String> = open["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.len() >= 2, "two open checklist items to work with");
    let team_changes = |id: &str, change: Value| {
        let (http, bearer) = (http.clone(), bearer.clone());
        let url = format!("{}/Task/{id}", r.server.fhir_base());
        async move {
            let mut task: Value = http
                .get(&url)
                .bearer_auth(&bearer)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for (k, v) in change.as_object().unwrap() {
                task[k] = v.clone();
            }
            let put = http
                .put(&url)
                .bearer_auth(&bearer)
                .header("content-type", "application/fhir+json")
                .body(task.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(put.status(), 200);
        }
    };
    let on_server = |id: &str| {
        let (http, bearer) = (http.clone(), bearer.clone());
        let url = format!("{}/Task/{id}", r.server.fhir_base());
        async move {
            http.get(&url)
                .bearer_auth(&bearer)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    team_changes(
        &ids[0],
        serde_json::json!({"note": [{"text": "Changed by the team"}]}),
    )
    .await;
    r.core
        .set_checklist_done(&r.profile, &format!("Task/{}", ids[0]), true)
        .await
        .unwrap();
    r.core.sync(&r.profile).await.unwrap();
    assert_eq!(r.status().await, (0, 0, 0), "merged and sent, no conflict");
    let merged = on_server(&ids[0]).await;
    assert_eq!(merged["note"][0]["text"], "Changed by the team");
    assert_eq!(merged["status"], "completed");

    // Where both changed the same element, it is a visible conflict: the
    // patient sees the team's copy, and nothing is overwritten until they choose.
    let item = format!("Task/{}", ids[1]);
    team_changes(&ids[1], serde_json::json!({"status": "on-hold"})).await;
    r.core
        .set_checklist_done(&r.profile, &item, true)
        .await
        .unwrap();
    r.core.sync(&r.profile).await.unwrap();
    assert_eq!(r.status().await, (0, 0, 1), "a visible conflict");
    assert_eq!(
        on_server(&ids[1]).await["status"],
        "on-hold",
        "the team's change stands"
    );
    let shown = r.core.checklist(&r.profile).await.unwrap();
    let shown = shown.iter().find(|c| c.id == item).unwrap();
    assert_eq!(shown.state, ItemState::Conflict);
    assert!(!shown.done, "the team's copy is what shows");

    // The patient keeps their change: it goes again, on top of the team's copy.
    r.core
        .settle_conflict(&r.profile, &item, Keep::Mine)
        .await
        .unwrap();
    assert_eq!(r.status().await, (1, 0, 0));
    r.core.sync(&r.profile).await.unwrap();
    assert_eq!(r.status().await, (0, 0, 0));
    assert_eq!(on_server(&ids[1]).await["status"], "completed");

    // Keeping theirs drops the patient's change and sends nothing.
    team_changes(&ids[1], serde_json::json!({"status": "requested"})).await;
    r.core.sync(&r.profile).await.unwrap();
    team_changes(&ids[1], serde_json::json!({"status": "cancelled"})).await;
    r.core
        .set_checklist_done(&r.profile, &item, true)
        .await
        .unwrap();
    r.core.sync(&r.profile).await.unwrap();
    assert_eq!(r.status().await, (0, 0, 1));
    r.core
        .settle_conflict(&r.profile, &item, Keep::Theirs)
        .await
        .unwrap();
    r.core.sync(&r.profile).await.unwrap();
    assert_eq!(r.status().await, (0, 0, 0));
    assert_eq!(on_server(&ids[1]).await["status"], "cancelled");
    assert!(
        r.core
            .settle_conflict(&r.profile, &item, Keep::Mine)
            .await
            .is_err(),
        "nothing left to settle"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_reads_offline_after_one_sync() {
    let r = rig().await;
    let today = r.core.today(&r.profile).await.unwrap();
    let threads = r.core.messages(&r.profile).await.unwrap();
    r.proxy.set(Fault::Offline);
    assert_eq!(r.core.today(&r.profile).await.unwrap(), today);
    assert_eq!(r.core.messages(&r.profile).await.unwrap(), threads);
    assert!(
        threads
            .iter()
            .any(|t| t.summary.answered_by.is_some() && t.summary.reply_due.is_some()),
        "who answers and by when, offline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_due_list_and_answering_offline() {
    let r = rig().await;
    // Full-text search over messages and reading, offline.
    r.proxy.set(Fault::Offline);
    let hits = r.core.search(&r.profile, "fish oil".into()).await.unwrap();
    assert_eq!(
        hits.len(),
        2,
        "the question and the pharmacist's answer: {hits:?}"
    );
    assert!(
        hits.iter()
            .all(|h| h.kind == HitKind::Message && h.snippet.contains('['))
    );
    let spanish = r.core.search(&r.profile, "rodil".into()).await.unwrap();
    assert!(
        spanish
            .iter()
            .any(|h| h.kind == HitKind::Reading && h.title.contains("rodilla")),
        "{spanish:?}"
    );
    assert!(
        r.core
            .search(&r.profile, "\"OR NEAR(".into())
            .await
            .unwrap()
            .is_empty(),
        "operators are text"
    );

    let due = r.core.due_questionnaires(&r.profile).await.unwrap();
    let state = |title: &str| {
        due.iter()
            .find(|d| d.title.as_deref().unwrap_or_default().starts_with(title))
            .map(|d| d.state)
            .unwrap()
    };
    assert_eq!(state("Mood check (PHQ-9) — before surgery"), DueState::Due);
    assert_eq!(state("Knee health (KOOS JR) — baseline"), DueState::Done);
    assert_eq!(state("Knee health (KOOS JR) — 6 weeks"), DueState::Upcoming);
    assert_eq!(due[0].state, DueState::Due, "the most urgent first");
    let phq9 = due
        .iter()
        .find(|d| {
            d.title
                .as_deref()
                .unwrap_or_default()
                .starts_with("Mood check (PHQ-9) — before")
        })
        .unwrap()
        .task_id
        .clone();

    // Bad answers: a clear error, nothing stored.
    let err = r
        .core
        .answer_questionnaire(
            &r.profile,
            phq9.clone(),
            serde_json::json!({"/44250-9": "Several days"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    // Eight of the nine PHQ-9 questions are unanswered: the patient is told
    // how many (each is marked on its question by the form).
    assert!(
        matches!(err, CoreError::InvalidInput(Invalid::Unfinished { count }) if count >= 8),
        "{err}"
    );
    let err = r
        .core
        .answer_questionnaire(
            &r.profile,
            phq9.clone(),
            serde_json::json!({"/44250-9": "Sometimes"}),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is not an answer"), "{err}");
    assert_eq!(r.status().await, (0, 0, 0));

    // Answered offline: scored and flagged at once.
    let mut answers = serde_json::Map::new();
    for code in [
        "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
    ] {
        answers.insert(format!("/{code}"), serde_json::json!("Several days"));
    }
    answers.insert("/44260-8".into(), serde_json::json!("LA6569-3"));
    answers.insert("/69722-7".into(), serde_json::json!("Somewhat difficult"));
    let done = r
        .core
        .answer_questionnaire(&r.profile, phq9.clone(), Value::Object(answers))
        .await
        .unwrap();
    let total = done
        .scores
        .iter()
        .find_map(|s| match s {
            carecycle_prom::ScoreOutcome::Scored(s) => Some(s.value),
            _ => None,
        })
        .unwrap();
    assert_eq!(total, 9.0);
    assert_eq!(done.red_flags.len(), 1);
    assert_eq!(done.red_flags[0].rule_id, "phq9-item9");
    assert_eq!(
        r.status().await,
        (2, 0, 0),
        "the response and the task, waiting to send"
    );
    let due = r.core.due_questionnaires(&r.profile).await.unwrap();
    assert_eq!(
        due.iter().find(|d| d.task_id == phq9).unwrap().state,
        DueState::Done
    );

    // Back online: both reach the server once; the task is completed there.
    r.proxy.set(Fault::Pass);
    r.later();
    assert_eq!(r.core.sync(&r.profile).await.unwrap().sent, 2);
    let (responses, task_status): (i64, String) = r.server.state.db.with(|c| {
        let n = c.query_row(&format!("SELECT count(*) FROM resource WHERE type = 'QuestionnaireResponse' AND json_extract(content, '$.status') = 'completed' AND {NOT_SEEDED}"), [], |row| row.get(0))?;
        let s = c.query_row("SELECT json_extract(content, '$.status') FROM resource WHERE type = 'Task' AND id = ?1", [phq9.trim_start_matches("Task/")], |row| row.get(0))?;
        Ok::<_, carecycle_backend::store::StoreError>((n, s))
    }).unwrap();
    assert_eq!((responses, task_status.as_str()), (1, "completed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_revokes_and_deletes_everything_of_the_record() {
    use carecycle_core::secrets::SecretKind;
    let r = rig().await;
    let db = r
        ._dir
        .path()
        .join("profiles")
        .join(format!("{}.db", r.profile));
    assert!(db.exists());
    // The record has an app passcode: its hash goes with everything else.
    r.core.unlock_verified(&r.profile).unwrap();
    assert_eq!(r.core.set_passcode(&r.profile, "482916").unwrap(), None);
    assert!(
        r.vault
            .get(&r.profile, SecretKind::Passcode)
            .unwrap()
            .is_some()
    );
    let held = carecycle_core::fhir_http::load_tokens(&r.vault, &r.profile).unwrap();
    let http = reqwest::Client::new();
    let probe = |token: String| {
        let http = http.clone();
        let url = format!("{}/Appointment", r.server.fhir_base());
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(probe(held.access_token.clone()).await, 200);

    r.core.sign_out(&r.profile).await.unwrap();
    assert_eq!(
        probe(held.access_token.clone()).await,
        401,
        "revoked at the server"
    );
    assert!(
        r.vault
            .get(&r.profile, SecretKind::Tokens)
            .unwrap()
            .is_none(),
        "tokens gone from the keyring"
    );
    assert!(
        r.vault
            .get(&r.profile, SecretKind::DatabaseKey)
            .unwrap()
            .is_none(),
        "database key gone"
    );
    assert!(
        r.vault
            .get(&r.profile, SecretKind::Passcode)
            .unwrap()
            .is_none(),
        "the passcode hash gone"
    );
    assert!(!db.exists(), "the encrypted database is deleted");
    assert!(r.core.overview().await.unwrap().profiles.is_empty());
    let err = r.core.sync(&r.profile).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotSignedIn);
}

/// A standard server without the optional features (no paging links, no
/// `_lastUpdated`, no ETags, no conditional create, UUID version ids): sync
/// still converges, and a lost answer is still not duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_servers_still_converge() {
    let r = rig().await;
    let today = r.core.today(&r.profile).await.unwrap();
    let threads = r.core.messages(&r.profile).await.unwrap();
    r.proxy.set_minimal(true);
    r.core.sync(&r.profile).await.unwrap();
    assert_eq!(
        r.core.today(&r.profile).await.unwrap().next_steps,
        today.next_steps
    );
    assert_eq!(
        r.core.messages(&r.profile).await.unwrap().len(),
        threads.len()
    );

    r.core
        .send_message(&r.profile, None, None, "Plain server, lost answer".into())
        .await
        .unwrap();
    r.proxy.next("POST", Fault::LoseAnswer, 1);
    let _ = r.core.sync(&r.profile).await;
    r.later();
    r.core.sync(&r.profile).await.unwrap();
    assert_eq!(
        r.on_server("Plain server, lost answer"),
        1,
        "found by its identifier, not sent again"
    );
    assert_eq!(r.status().await, (0, 0, 0));
    let threads = r.core.messages(&r.profile).await.unwrap();
    assert!(
        threads
            .iter()
            .flat_map(|t| &t.messages)
            .any(|m| m.text == "Plain server, lost answer" && m.state == ItemState::Sent)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_resume_after_a_restart_and_complete_exactly_once() {
    let r = rig().await;
    let due = r.core.due_questionnaires(&r.profile).await.unwrap();
    let task = |prefix: &str| {
        due.iter()
            .find(|d| d.title.as_deref().unwrap_or_default().starts_with(prefix))
            .unwrap()
            .task_id
            .clone()
    };
    let (before, later) = (
        task("Mood check (PHQ-9) — before"),
        task("Mood check (PHQ-9) — 3 months"),
    );
    let items = [
        "/44250-9", "/44255-8", "/44259-0", "/44254-1", "/44251-7", "/44258-2", "/44252-5",
        "/44253-3", "/44260-8",
    ];
    let answers = |n: usize, choice: &str| {
        Value::Object(
            items
                .iter()
                .take(n)
                .map(|i| ((*i).to_owned(), serde_json::json!(choice)))
                .collect(),
        )
    };

    // Half answered, offline: saved as a draft, then synced as in-progress.
    r.proxy.set(Fault::Offline);
    r.core
        .save_questionnaire_draft(
            &r.profile,
            before.clone(),
            answers(4, "More than half the days"),
        )
        .await
        .unwrap();
    r.core
        .save_questionnaire_draft(
            &r.profile,
            before.clone(),
            answers(5, "More than half the days"),
        )
        .await
        .unwrap();
    assert_eq!(
        r.status().await.0,
        2,
        "two saves of one draft: one response to send, and the task naming it"
    );
    r.proxy.set(Fault::Pass);
    r.later();
    r.core.sync(&r.profile).await.unwrap();
    let count = |status: &'static str| -> i64 {
        r.server.state.db.with(|c| {
            c.query_row(&format!("SELECT count(*) FROM resource WHERE type = 'QuestionnaireResponse' AND json_extract(content, '$.status') = ?1 AND {NOT_SEEDED}"), [status], |row| row.get(0))
                .map_err(carecycle_backend::store::StoreError::from)
        }).unwrap()
    };
    assert_eq!((count("in-progress"), count("completed")), (1, 0));

    // "Relaunch": a new app on the same data and keyring finds the draft.
    let relaunched = CareCycle::new(CoreConfig {
        data_dir: r._dir.path().to_owned(),
        vault: Ok(r.vault.clone()),
        clock: r.clock.clone(),
        browser: Arc::new(SystemBrowser),
        return_path: carecycle_core::smart::ReturnPath::Loopback,
        server_choices: vec![],
    })
    .unwrap();
    let draft = relaunched
        .questionnaire_draft(&r.profile, before.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(draft["status"], "in-progress");
    // Five answers, and the form's own total (a calculated item travels in the response).
    let items = draft["item"].as_array().unwrap();
    assert_eq!(
        items.iter().filter(|i| i["linkId"] != "/44261-6").count(),
        5
    );
    assert!(items.iter().any(|i| i["linkId"] == "/44261-6"));

    // Finished: the same response becomes completed, once.
    let mut all = answers(8, "More than half the days");
    all["/44260-8"] = serde_json::json!("Not at all");
    let done = relaunched
        .answer_questionnaire(&r.profile, before.clone(), all)
        .await
        .unwrap();
    assert!(done.red_flags.is_empty());
    relaunched.sync(&r.profile).await.unwrap();
    assert_eq!(
        (count("in-progress"), count("completed")),
        (0, 1),
        "the draft became the completed response"
    );

    // A second time point: the results say what the change means.
    r.clock.advance(jiff::SignedDuration::from_hours(24 * 90));
    let mut better = answers(8, "Several days");
    better["/44260-8"] = serde_json::json!("Not at all");
    relaunched
        .answer_questionnaire(&r.profile, later, better)
        .await
        .unwrap();
    let results = relaunched.results(&r.profile, "en".into()).await.unwrap();
    let phq = results.iter().find(|s| s.scale == "phq-9").unwrap();
    assert_eq!(
        phq.points.iter().map(|p| p.value).collect::<Vec<_>>(),
        [16.0, 8.0]
    );
    assert_eq!(phq.points[0].band.as_deref(), Some("Moderately severe"));
    assert_eq!(phq.direction, "A lower score is better.");
    assert_eq!(phq.verdict, Some(Verdict::Better));
    assert!(
        phq.change_since_baseline
            .as_deref()
            .unwrap()
            .starts_with("Better by 8 points"),
        "{:?}",
        phq.change_since_baseline
    );
}

/// The app lock as the window's shell uses it: a locked record keeps its name
/// to itself, a weak passcode is refused, wrong tries slow down and are still
/// counted after the app restarts, and the right passcode opens it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_hides_the_record_and_counts_wrong_tries_across_a_restart() {
    use carecycle_core::lock::{Backoff, LockOptions, PasscodeProblem, UnlockOutcome};
    use carecycle_core::secrets::SecretKind;
    use jiff::SignedDuration;
    let r = rig().await;
    async fn name(core: &CareCycle) -> Option<String> {
        core.overview().await.unwrap().profiles[0]
            .patient_name
            .clone()
    }
    // Not enforced (the CLI): nothing is locked.
    assert!(!r.core.is_locked(&r.profile));
    assert!(name(&r.core).await.is_some());

    let options = LockOptions {
        timeout: None,
        backoff: Backoff::STANDARD,
    };
    r.core.enforce_lock(options);
    assert!(r.core.is_locked(&r.profile), "the app starts locked");
    assert_eq!(name(&r.core).await, None, "no name while locked");
    // Nor the unit's name, which can tell the condition ("Knee & Hip").
    assert_eq!(
        r.core.overview().await.unwrap().profiles[0].server_label,
        ""
    );
    assert_eq!(
        r.core
            .set_passcode(&r.profile, "482916")
            .unwrap_err()
            .code(),
        ErrorCode::Locked
    );
    let view = r.core.lock_view(&r.profile).unwrap();
    assert!(view.locked && !view.has_passcode);
    assert_eq!(view.timeout_seconds, 300, "five minutes unless chosen");
    assert_eq!(
        r.core.unlock(&r.profile, "482916").unwrap().outcome,
        UnlockOutcome::NoPasscode
    );

    // Signed in (proved at the server): open; a passcode is chosen.
    r.core.unlock_verified(&r.profile).unwrap();
    assert!(!r.core.is_locked(&r.profile));
    assert!(name(&r.core).await.is_some());
    assert_eq!(
        r.core.set_passcode(&r.profile, "123456").unwrap(),
        Some(PasscodeProblem::TooSimple)
    );
    assert_eq!(r.core.set_passcode(&r.profile, "482916").unwrap(), None);
    let kept = r
        .vault
        .get(&r.profile, SecretKind::Passcode)
        .unwrap()
        .unwrap();
    assert!(kept.expose().contains("$argon2id$") && !kept.expose().contains("482916"));

    // The patient chooses one minute; a minute without input locks it.
    r.core.set_lock_minutes(1).unwrap();
    assert!(r.core.set_lock_minutes(31).is_err());
    r.clock.advance(SignedDuration::from_secs(59));
    r.core.still_here();
    r.clock.advance(SignedDuration::from_secs(59));
    assert!(!r.core.lock_tick());
    r.clock.advance(SignedDuration::from_secs(1));
    assert!(r.core.lock_tick(), "locked after a minute without input");
    assert!(r.core.is_locked(&r.profile));

    // Three wrong tries, then a wait during which nothing is checked.
    for _ in 0..3 {
        assert_eq!(
            r.core.unlock(&r.profile, "000001").unwrap().outcome,
            UnlockOutcome::Wrong
        );
    }
    let answer = r.core.unlock(&r.profile, "482916").unwrap();
    assert_eq!(answer.outcome, UnlockOutcome::TooSoon);
    assert_eq!((answer.lock.failures, answer.lock.wait_seconds), (3, 30));

    // Quitting does not reset the count: a new app on the same device.
    let restarted = CareCycle::new(CoreConfig {
        data_dir: r._dir.path().to_owned(),
        vault: Ok(r.vault.clone()),
        clock: r.clock.clone(),
        browser: Arc::new(SystemBrowser),
        return_path: carecycle_core::smart::ReturnPath::Loopback,
        server_choices: vec![],
    })
    .unwrap();
    restarted.enforce_lock(options);
    let view = restarted.lock_view(&r.profile).unwrap();
    assert!(view.locked);
    assert_eq!((view.failures, view.wait_seconds), (3, 30));
    assert_eq!(view.timeout_seconds, 60, "the chosen minute is kept");
    r.clock.advance(SignedDuration::from_secs(30));
    let answer = restarted.unlock(&r.profile, "482916").unwrap();
    assert_eq!(answer.outcome, UnlockOutcome::Unlocked);
    assert!(!answer.lock.locked && answer.lock.failures == 0);
    assert!(name(&restarted).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_with_nothing_new_is_one_request_and_a_refused_batch_still_syncs() {
    let r = rig().await;
    let seen = || r.proxy.seen.lock().unwrap().clone();
    // The rig's first sync read the CapabilityStatement once: batches are declared.
    assert_eq!(
        seen().iter().filter(|l| l.contains("/metadata")).count(),
        1,
        "{:?}",
        seen()
    );
    let before = seen().len();
    let report = r.core.sync(&r.profile).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let during: Vec<String> = seen()[before..].to_vec();
    assert_eq!(during.len(), 1, "one request: {during:?}");
    assert!(during[0].starts_with("POST /fhir "), "{during:?}");

    // A server that refuses the batch: the same sync asks one by one, and
    // what the team wrote meanwhile still arrives.
    team_writes(
        &r,
        serde_json::json!({"resourceType": "Communication", "status": "completed",
            "subject": {"reference": format!("Patient/{}", r.patient)},
            "payload": [{"contentString": "Sent while batches are refused"}]}),
    )
    .await;
    r.proxy.next("POST", Fault::Status(405), 1);
    let before = seen().len();
    r.core.sync(&r.profile).await.unwrap();
    let during: Vec<String> = seen()[before..].to_vec();
    assert!(during.len() > 5, "asked one by one: {during:?}");
    assert!(
        during[1..].iter().all(|l| l.starts_with("GET ")),
        "{during:?}"
    );
    let threads = r.core.messages(&r.profile).await.unwrap();
    assert!(
        threads
            .iter()
            .flat_map(|t| &t.messages)
            .any(|m| m.text == "Sent while batches are refused")
    );
}

/// After the record's first sync, a sync looks over only what it brought for
/// what the record points at (not the whole record again): someone the unit
/// adds later is fetched with their first message and shown by name.
#[tokio::test]
async fn someone_the_team_adds_later_is_fetched_with_their_first_message() {
    let r = rig().await;
    let stamper = r.server.state.stamper.clone();
    r.server
        .state
        .db
        .with(|c| -> Result<(), carecycle_backend::api::ApiError> {
            let tx = c
                .transaction()
                .map_err(carecycle_backend::api::ApiError::from_sql)?;
            carecycle_backend::store::write(
                &tx,
                &stamper,
                carecycle_fhir::ResourceType::Practitioner,
                "pr-new-physio",
                serde_json::json!({"resourceType": "Practitioner", "id": "pr-new-physio",
                    "name": [{"given": ["Tomás"], "family": "Ibarra"}]}),
                None,
            )?;
            tx.commit()
                .map_err(carecycle_backend::api::ApiError::from_sql)
        })
        .unwrap();
    team_writes(
        &r,
        serde_json::json!({"resourceType": "Communication", "status": "completed",
            "subject": {"reference": format!("Patient/{}", r.patient)},
            "sender": {"reference": "Practitioner/pr-new-physio"},
            "sent": "2026-11-30T09:00:00Z",
            "payload": [{"contentString": "I am your physiotherapist from today"}]}),
    )
    .await;
    let report = r.core.sync(&r.profile).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let threads = r.core.messages(&r.profile).await.unwrap();
    let message = threads
        .iter()
        .flat_map(|t| &t.messages)
        .find(|m| m.text == "I am your physiotherapist from today")
        .expect("the new message");
    assert_eq!(message.sender.as_deref(), Some("Tomás Ibarra"));
}

/// The knee team creates `resource` on the server, over HTTP, as its tools do.
async fn team_writes(r: &Rig, resource: Value) {
    let team = tokens(
        &r.server,
        carecycle_backend::seed::KNEE_TEAM_USERNAME,
        carecycle_backend::seed::KNEE_TEAM_PASSWORD,
        "user/*.cruds",
    )
    .await;
    let t = resource["resourceType"].as_str().unwrap().to_owned();
    let status = reqwest::Client::new()
        .post(format!("{}/{t}", r.server.fhir_base()))
        .bearer_auth(team["access_token"].as_str().unwrap())
        .header("content-type", "application/fhir+json")
        .body(resource.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 201);
}
