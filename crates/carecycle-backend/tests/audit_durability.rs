//! Reads are audited in batches off the request path (`audit::AuditLog`), yet
//! every read the server answered has its AuditEvent on disk: after a
//! graceful stop, and after the process is killed (SIGKILL) mid-load.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use carecycle_backend::seed::{DEMO_PATIENT_PASSWORD, DEMO_PATIENT_USERNAME};
use carecycle_backend::store::Db;
use carecycle_backend::{DATABASE_FILE, auth};
use std::io::BufRead;
use std::path::Path;
use support::TestServer;

/// Resources of the patient's record worth reading: (type, id).
fn readable_resources(db: &Db, patient: &str) -> Vec<(String, String)> {
    db.with(|c| {
        c.prepare(
            "SELECT type, id FROM resource WHERE patient = ?1 AND deleted = 0
               AND type IN ('Appointment', 'Task', 'Communication', 'CarePlan', 'EpisodeOfCare')
             ORDER BY type, id",
        )?
        .query_map([patient], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(carecycle_backend::store::StoreError::from)
    })
    .unwrap()
}

/// Read AuditEvents naming `Type/id`, as a fresh connection (a restart) finds them.
fn read_events_naming(dir: &Path, what: &str) -> i64 {
    let db = Db::open(&dir.join(DATABASE_FILE)).unwrap();
    db.with(|c| {
        c.query_row(
            "SELECT count(*) FROM audit.resource r WHERE r.type = 'AuditEvent'
               AND EXISTS (SELECT 1 FROM json_each(r.content, '$.entity') e
                           WHERE json_extract(e.value, '$.what.reference') = ?1)
               AND json_extract(r.content, '$.subtype[0].code') = 'read'",
            [what],
            |r| r.get(0),
        )
        .map_err(carecycle_backend::store::StoreError::from)
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_reads_are_audited_after_a_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::demo_in(dir.path()).await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let patient = eleanor.patient.clone().unwrap();
    let targets = readable_resources(&s.server.state.db, &patient);
    assert!(targets.len() >= 10, "{targets:?}");
    // Many reads at once, so that they share batches.
    let mut handles = Vec::new();
    for (t, id) in targets.clone() {
        let (http, base, token) = (s.http.clone(), s.base(), eleanor.token.clone());
        handles.push(tokio::spawn(async move {
            let r = http
                .get(format!("{base}/{t}/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            (format!("{t}/{id}"), r.status().as_u16())
        }));
    }
    let mut answered = Vec::new();
    for h in handles {
        let (what, status) = h.await.unwrap();
        assert_eq!(status, 200, "{what}");
        answered.push(what);
    }
    s.server.stop().await;
    for what in answered {
        assert!(
            read_events_naming(dir.path(), &what) >= 1,
            "no AuditEvent for the read of {what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_reads_are_audited_after_the_server_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_carecycle-backend"))
        .args(["serve", "--addr", "127.0.0.1:0", "--seed", "demo", "--data"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "listening on ADDR (FHIR base http://ADDR/fhir)"
    let base = line
        .trim()
        .rsplit_once("FHIR base ")
        .map(|(_, b)| b.trim_end_matches(')').to_owned())
        .unwrap_or_else(|| panic!("unexpected first line: {line}"));

    // A token as the server issues it, written beside the running server
    // (as the team's command line writes).
    let db = Db::open(&dir.path().join(DATABASE_FILE)).unwrap();
    let (token, patient) = db
        .with(
            |c| -> Result<(String, String), carecycle_backend::api::ApiError> {
                let patient: String = c
                    .query_row(
                        "SELECT patient FROM user_account WHERE username = ?1",
                        [DEMO_PATIENT_USERNAME],
                        |r| r.get(0),
                    )
                    .map_err(carecycle_backend::api::ApiError::from_sql)?;
                let token = auth::mint_access_token(
                    c,
                    DEMO_PATIENT_USERNAME,
                    "launch/patient patient/*.rs",
                    jiff::Timestamp::now(),
                )?;
                Ok((token, patient))
            },
        )
        .unwrap();
    let targets = readable_resources(&db, &patient);
    drop(db);
    assert!(targets.len() >= 10, "{targets:?}");

    let http = reqwest::Client::new();
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    // Each client reads the record over and over until the server dies.
    for worker in 0..8 {
        let (http, base, token, targets, answered) = (
            http.clone(),
            base.clone(),
            token.clone(),
            targets.clone(),
            answered.clone(),
        );
        handles.push(tokio::spawn(async move {
            for (t, id) in targets.iter().cycle().skip(worker * 3).take(200) {
                let Ok(r) = http
                    .get(format!("{base}/{t}/{id}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                else {
                    return;
                };
                let status = r.status().as_u16();
                // Answered means the whole body arrived.
                if r.bytes().await.is_ok() && status == 200 {
                    answered.lock().unwrap().push(format!("{t}/{id}"));
                }
            }
        }));
    }
    // Kill it while reads are in flight.
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if answered.lock().unwrap().len() >= 60 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for h in handles {
        h.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() >= 60);
    let mut reads_of: std::collections::BTreeMap<&str, i64> = Default::default();
    for what in &answered {
        *reads_of.entry(what.as_str()).or_default() += 1;
    }
    for (what, reads) in reads_of {
        let events = read_events_naming(dir.path(), what);
        assert!(
            events >= reads,
            "{what}: {reads} answered reads, {events} AuditEvents after the kill"
        );
    }
}
