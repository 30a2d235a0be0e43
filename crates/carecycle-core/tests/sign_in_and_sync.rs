//! The walking skeleton's slice through core: sign in to a real reference back
//! end through SMART (PKCE; the loopback redirect a desktop uses, and the
//! private-use scheme a phone uses), sync, and read Today from the local store.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod scripted_browser;
mod support;

use carecycle_backend::seed::{
    self, DAYS_TO_SURGERY, DEMO_PATIENT_PASSWORD, DEMO_PATIENT_USERNAME,
};
use carecycle_backend::{RunningServer, Seed, ServerOptions};
use carecycle_core::contract::ServerChoice;
use carecycle_core::secrets::Vault;
use carecycle_core::smart::{AppLinks, ReturnPath};
use carecycle_core::{CareCycle, CoreConfig, ErrorCode, FixedClock, SystemClock};
use jiff::ToSpan;
use jiff::tz::TimeZone;
use scripted_browser::ScriptedBrowser;
use std::sync::Arc;

async fn backend(now: jiff::Timestamp) -> RunningServer {
    carecycle_backend::start(ServerOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: None,
        seed: Some(Seed::Demo),
        clock: Arc::new(FixedClock::new(now)),
    })
    .await
    .unwrap()
}

fn core(
    dir: &std::path::Path,
    base: &str,
    user: &str,
    password: &str,
    now: jiff::Timestamp,
) -> CareCycle {
    core_on(dir, base, ScriptedBrowser::new(user, password), now)
}

/// A core whose browser is `browser`: a phone's when it has one (the answer
/// comes back through the app's scheme), else a desktop's (loopback).
fn core_on(
    dir: &std::path::Path,
    base: &str,
    browser: ScriptedBrowser,
    now: jiff::Timestamp,
) -> CareCycle {
    let return_path = match &browser.phone {
        Some(links) => ReturnPath::AppScheme(links.clone()),
        None => ReturnPath::Loopback,
    };
    CareCycle::new(CoreConfig {
        data_dir: dir.to_owned(),
        vault: Ok(Vault::with_store(keyring_core::mock::Store::new().unwrap())),
        clock: Arc::new(FixedClock::new(now)),
        browser: Arc::new(browser),
        return_path,
        server_choices: vec![ServerChoice {
            label: "Riverside (demo)".into(),
            fhir_base_url: base.into(),
        }],
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_sync_and_today_match_the_seed() {
    let now: jiff::Timestamp = "2026-11-22T15:00:00Z".parse().unwrap();
    let server = backend(now).await;
    let dir = tempfile::tempdir().unwrap();
    let app = core(
        dir.path(),
        &server.fhir_base(),
        DEMO_PATIENT_USERNAME,
        DEMO_PATIENT_PASSWORD,
        now,
    );

    let profile = app.sign_in(&server.fhir_base()).await.unwrap();
    assert_eq!(profile.patient_name.as_deref(), Some("Eleanor Whitfield"));
    assert_eq!(profile.server_label, "Riverside (demo)");

    let today = app.today(&profile.id).await.unwrap();
    assert_eq!(today.patient_name.as_deref(), Some("Eleanor Whitfield"));
    // The first screen's one call answers what the separate ones do.
    let screen = app.today_screen(&profile.id).await.unwrap();
    assert_eq!(screen.today, today);
    assert_eq!(screen.checklist, app.checklist(&profile.id).await.unwrap());
    assert!(!screen.checklist.is_empty());
    assert!(screen.lock_minutes >= 1);
    assert_eq!(today.ipu_name.as_deref(), Some(seed::KNEE_IPU_NAME));
    assert_eq!(today.condition.as_deref(), Some("Knee osteoarthritis"));
    assert_eq!(
        today.phase.as_ref().map(|p| p.title.as_str()),
        Some("Prehabilitation")
    );
    let coordinator = today.coordinator.clone().unwrap();
    assert_eq!(
        (coordinator.name.as_str(), coordinator.role.as_deref()),
        ("Priya Raman, RN", Some("Nurse navigator"))
    );

    let surgery_day = now
        .to_zoned(TimeZone::get(seed::KNEE_IPU_TIME_ZONE).unwrap())
        .date()
        .saturating_add(DAYS_TO_SURGERY.days());
    let expected = [
        ("Prehabilitation physical therapy", -14, Some("10:00")),
        ("Pre-operative assessment", -10, Some("09:30")),
        ("Joint replacement class", -7, Some("14:00")),
    ];
    assert_eq!(today.next_steps.len(), 3);
    for (step, (title, offset, time)) in today.next_steps.iter().zip(expected) {
        assert_eq!(step.title, title);
        assert_eq!(
            step.date,
            surgery_day.saturating_add(offset.days()).to_string()
        );
        assert_eq!(step.time.as_deref(), time);
    }
    assert_eq!(
        today.next_steps[0].who.as_deref(),
        Some("Tomás Herrera, DPT")
    );

    // SDC Tasks name their form by canonical URL: every form came with the sync.
    let due = app.due_questionnaires(&profile.id).await.unwrap();
    assert!(!due.is_empty());
    assert!(due.iter().all(|q| q.questionnaire_id.is_some()), "{due:?}");
    // The answered baseline's scores come from the Observations the server extracted.
    let results = app.results(&profile.id, "en".into()).await.unwrap();
    let physical = results
        .iter()
        .find(|s| s.scale == "promis-global-physical")
        .unwrap();
    assert_eq!(physical.points[0].value, 34.9);
    assert_eq!(physical.points.len(), 1, "not counted twice");

    // Offline: the store answers with the server gone.
    support::judge_written(&server);
    server.stop().await;
    assert_eq!(app.today(&profile.id).await.unwrap(), today);
    let err = app.sync(&profile.id).await;
    match err {
        Ok(report) => assert!(!report.failures.is_empty()),
        Err(e) => assert_eq!(e.code(), ErrorCode::Offline),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_patient_sees_only_their_own_record() {
    let now = jiff::Timestamp::now();
    let server = backend(now).await;
    let dir = tempfile::tempdir().unwrap();
    let app = core(
        dir.path(),
        &server.fhir_base(),
        seed::SECOND_PATIENT_USERNAME,
        seed::SECOND_PATIENT_PASSWORD,
        now,
    );
    let profile = app.sign_in(&server.fhir_base()).await.unwrap();
    let today = app.today(&profile.id).await.unwrap();
    assert_eq!(today.patient_name.as_deref(), Some("Dana Okafor"));
    assert_eq!(today.condition.as_deref(), Some("Breast cancer"));
    assert!(today.coordinator.is_none());
    assert!(
        today
            .next_steps
            .iter()
            .all(|s| !s.title.contains("knee") && !s.title.contains("Prehabilitation"))
    );
    support::judge_written(&server);
    server.stop().await;
}

/// A phone cannot keep a loopback listener while the browser is in front: the
/// sign-in page sends it back through the app's private-use scheme (RFC 8252
/// §7.1), which the back end registers exactly; a stray link with another
/// `state` (RFC 6749 §10.12) is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_signs_in_through_the_app_scheme() {
    let now: jiff::Timestamp = "2026-11-22T15:00:00Z".parse().unwrap();
    let server = backend(now).await;
    let dir = tempfile::tempdir().unwrap();
    let links = AppLinks::default();
    let mut browser = ScriptedBrowser::new(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD);
    browser.phone = Some(links.clone());
    let app = core_on(dir.path(), &server.fhir_base(), browser, now);

    let stray = links.clone();
    let signing_in = tokio::spawn(async move {
        // Before the real answer: a forged one, and one that is not a callback.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        stray.deliver("dev.carecycle.app:/callback?code=forged&state=not-this-one");
        stray.deliver("https://example.org/elsewhere");
    });
    let profile = app.sign_in(&server.fhir_base()).await.unwrap();
    signing_in.await.unwrap();
    assert_eq!(profile.patient_name.as_deref(), Some("Eleanor Whitfield"));
    assert!(!app.today(&profile.id).await.unwrap().next_steps.is_empty());
    support::judge_written(&server);
    server.stop().await;
}

/// The judge every test's writes go to (support::judge_written) refuses what
/// R4 refuses, so its passes mean something.
#[test]
fn the_outside_judge_refuses_what_r4_refuses() {
    let valid = serde_json::json!({"resourceType": "Communication", "id": "c1", "status": "completed",
        "sent": "2026-11-23T15:00:00Z"});
    let said = support::judge(std::slice::from_ref(&valid)).unwrap();
    assert!(
        said.contains("judged 1 resource versions (Communication×1): 0 invalid"),
        "{said}"
    );
    let not_r4 = serde_json::json!({"resourceType": "Communication", "id": "c2", "status": "sent",
        "sent": "yesterday", "shoeSize": 9});
    let said = support::judge(&[valid, not_r4]).unwrap_err();
    for problem in [
        "1 invalid",
        "Communication/c2",
        "sent",
        "shoeSize",
        "status",
    ] {
        assert!(said.contains(problem), "{problem} missing from: {said}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_address_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let app = CareCycle::new(CoreConfig {
        data_dir: dir.path().to_owned(),
        vault: Ok(Vault::with_store(keyring_core::mock::Store::new().unwrap())),
        clock: Arc::new(SystemClock),
        browser: Arc::new(ScriptedBrowser::new("x", "y")),
        return_path: ReturnPath::Loopback,
        server_choices: vec![],
    })
    .unwrap();
    assert_eq!(
        app.sign_in("http://example.org/fhir")
            .await
            .unwrap_err()
            .code(),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        app.sign_in("http://127.0.0.1:9/fhir")
            .await
            .unwrap_err()
            .code(),
        ErrorCode::Offline
    );
}
