//! The kill test: the `carecycle` CLI is killed with SIGKILL at random points
//! of syncs that send and receive (50 times here; `scripts/soak-kill.sh` runs
//! longer), then one last sync: the server holds each of the patient's
//! messages exactly once, and the local store lost nothing.
//!
//! It uses the real OS keyring (Secret Service), as the CLI does: run it inside
//! `scripts/e2e-session.sh`, as the test command does. Without a keyring it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../carecycle-core/tests/support/mod.rs"]
mod support;

use carecycle_backend::seed::{DEMO_PATIENT_PASSWORD, DEMO_PATIENT_USERNAME, KNEE_TEAM_USERNAME};
use carecycle_fhir::time::SystemClock;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use support::{demo_server, tokens};

fn cli(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_carecycle"));
    c.env("CARECYCLE_DATA_DIR", data).env("RUST_LOG", "warn");
    c
}

fn run(data: &Path, args: &[&str]) -> String {
    let out = cli(data).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "carecycle {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_sync_again_and_again_loses_and_duplicates_nothing() {
    let rounds: usize = std::env::var("CARECYCLE_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let server = demo_server(Arc::new(SystemClock)).await;
    let me = tokens(
        &server,
        DEMO_PATIENT_USERNAME,
        DEMO_PATIENT_PASSWORD,
        "launch/patient patient/*.cruds",
    )
    .await;
    let team = tokens(
        &server,
        KNEE_TEAM_USERNAME,
        "knee-team-2026",
        "user/*.cruds",
    )
    .await;
    let patient = me["patient"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    run(
        data,
        &[
            "connect",
            &server.fhir_base(),
            // `--token=…`: a base64url token may start with '-', which a
            // separate argument would make look like a flag.
            &format!("--token={}", me["access_token"].as_str().unwrap()),
            "--patient",
            &patient,
        ],
    );
    run(data, &["sync"]);

    let http = reqwest::Client::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let mut killed_while_running = 0;
    for i in 0..rounds {
        run(
            data,
            &["send", "--kind", "other", &format!("kill-test message {i}")],
        );
        if i % 5 == 0 {
            // The team writes too, so the syncs being killed also receive.
            let note = json!({"resourceType": "Communication", "status": "completed", "subject": {"reference": format!("Patient/{patient}")},
                "sender": {"reference": "Practitioner/pr-raman"}, "payload": [{"contentString": format!("team note {i}")}]});
            let r = http
                .post(format!("{}/Communication", server.fhir_base()))
                .bearer_auth(team["access_token"].as_str().unwrap())
                .header("content-type", "application/fhir+json")
                .body(note.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
        let mut child = cli(data)
            .arg("sync")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..250))).await;
        if child.try_wait().unwrap().is_none() {
            killed_while_running += 1;
        }
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
    }
    assert!(
        killed_while_running >= rounds / 5,
        "most kills should land mid-run ({killed_while_running} of {rounds})"
    );

    // One last sync, to the end.
    run(data, &["sync"]);
    let status: Value = serde_json::from_str(&run(data, &["status", "--json"])).unwrap();
    assert_eq!(
        (
            status["pending"].as_u64(),
            status["failed"].as_u64(),
            status["conflicts"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{status}"
    );

    let count = |text: String| -> i64 {
        server.state.db.with(|c| {
            c.query_row(
                "SELECT count(*) FROM resource WHERE type = 'Communication' AND deleted = 0 AND json_extract(content, '$.payload[0].contentString') = ?1",
                [text],
                |r| r.get(0),
            )
            .map_err(carecycle_backend::store::StoreError::from)
        })
        .unwrap()
    };
    let threads: Vec<Value> = serde_json::from_str(&run(data, &["messages", "--json"])).unwrap();
    let local: Vec<&Value> = threads
        .iter()
        .flat_map(|t| t["messages"].as_array().unwrap())
        .collect();
    for i in 0..rounds {
        let text = format!("kill-test message {i}");
        assert_eq!(count(text.clone()), 1, "{text} on the server exactly once");
        let copies: Vec<&&Value> = local
            .iter()
            .filter(|m| m["text"] == text.as_str())
            .collect();
        assert_eq!(copies.len(), 1, "{text} on the device exactly once");
        assert_eq!(copies[0]["state"], "sent");
        if i % 5 == 0 {
            assert!(
                local
                    .iter()
                    .any(|m| m["text"] == format!("team note {i}").as_str()),
                "team note {i} received"
            );
        }
    }
    support::judge_written(&server);
    server.stop().await;
}

/// With every log on (RUST_LOG=trace), a full sync of the seed record and a
/// message sent write none of the patient's names, message texts or the token
/// to the log; and no file under the data directory holds the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_health_information_in_logs_and_no_token_on_disk() {
    let server = demo_server(Arc::new(SystemClock)).await;
    let me = tokens(
        &server,
        DEMO_PATIENT_USERNAME,
        DEMO_PATIENT_PASSWORD,
        "launch/patient patient/*.cruds",
    )
    .await;
    let token = me["access_token"].as_str().unwrap().to_owned();
    let patient = me["patient"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let traced = |args: &[&str]| {
        let out = cli(data)
            .env("RUST_LOG", "trace")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let mut log = traced(&[
        "connect",
        &server.fhir_base(),
        &format!("--token={token}"),
        "--patient",
        &patient,
    ]);
    log.push_str(&traced(&["sync"]));
    log.push_str(&traced(&[
        "send",
        "--kind",
        "clinical",
        "My calf hurts when I walk upstairs",
    ]));
    log.push_str(&traced(&["sync"]));
    log.push_str(&traced(&["messages"]));
    assert!(
        log.len() > 1_000,
        "trace logging is on: {} bytes",
        log.len()
    );
    for secret in [
        "Eleanor",
        "Whitfield",
        "fish oil",
        "My calf hurts",
        "physical therapy session next week",
        "RJ-204817",
        "1958-04-12",
        token.as_str(),
    ] {
        assert!(!log.contains(secret), "the log contains {secret:?}");
    }
    fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(&p, out)
            } else {
                out.push(p)
            }
        }
    }
    let mut all = Vec::new();
    files(data, &mut all);
    assert!(!all.is_empty());
    for f in all {
        let bytes = std::fs::read(&f).unwrap();
        for secret in [
            token.as_bytes(),
            b"Whitfield".as_slice(),
            b"fish oil".as_slice(),
        ] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "{} holds a secret",
                f.display()
            );
        }
    }
    support::judge_written(&server);
    server.stop().await;
}
