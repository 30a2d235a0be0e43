//! Benchmark (prints figures; not a timed test) of the reference back end on
//! loopback: the time to serve a cold sync of a one-year record, and requests
//! per second of no-change incremental syncs from many simulated patients.
//! Run with `cargo bench -p carecycle-backend --bench sync`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use carecycle_backend::generate::{RecordSize, year_record};
use carecycle_backend::{ServerOptions, auth, start};
use carecycle_fhir::time::{Clock, SystemClock};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the app pulls for a patient, per resource type.
const TYPES: [&str; 12] = [
    "EpisodeOfCare",
    "CareTeam",
    "CarePlan",
    "Appointment",
    "Task",
    "Communication",
    "DocumentReference",
    "QuestionnaireResponse",
    "Observation",
    "Questionnaire",
    "Practitioner",
    "PractitionerRole",
];

async fn pull(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    since: Option<&str>,
) -> (usize, usize, usize) {
    let (mut requests, mut resources, mut bytes) = (0, 0, 0);
    for t in TYPES {
        let mut url = format!("{base}/{t}?_count=200&_sort=_lastUpdated");
        if let Some(since) = since {
            url.push_str(&format!("&_lastUpdated=gt{}", since.replace('+', "%2B")));
        }
        loop {
            let body = http
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            requests += 1;
            bytes += body.len();
            let bundle: Value = serde_json::from_slice(&body).unwrap();
            resources += bundle["entry"].as_array().map(Vec::len).unwrap_or(0);
            match bundle["link"]
                .as_array()
                .and_then(|l| l.iter().find(|l| l["relation"] == "next"))
            {
                Some(next) => url = next["url"].as_str().unwrap().to_owned(),
                None => break,
            }
        }
    }
    (requests, resources, bytes)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let server = start(ServerOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: None,
        seed: Some(carecycle_backend::Seed::Demo),
        clock: clock.clone(),
    })
    .await
    .unwrap();
    let base = server.fhir_base();
    let db = server.state.db.clone();
    let stamper = server.state.stamper.clone();
    let patients = 100;
    let started = Instant::now();
    let tokens: Vec<String> = db
        .with(
            |c| -> Result<Vec<String>, carecycle_backend::api::ApiError> {
                year_record(c, &stamper, "year", "bench", RecordSize::YEAR, 1)?;
                let mut tokens = vec![auth::mint_access_token(
                    c,
                    "year",
                    "patient/*.rs",
                    clock.now(),
                )?];
                for i in 0..patients {
                    let name = format!("bench-{i:03}");
                    year_record(
                        c,
                        &stamper,
                        &name,
                        "bench",
                        RecordSize::SMALL,
                        100 + i as u64,
                    )?;
                    tokens.push(auth::mint_access_token(
                        c,
                        &name,
                        "patient/*.rs",
                        clock.now(),
                    )?);
                }
                Ok(tokens)
            },
        )
        .unwrap();
    println!(
        "generated 1 one-year record ({:?}) and {patients} small ones in {:.1} s",
        RecordSize::YEAR,
        started.elapsed().as_secs_f64()
    );
    let http = reqwest::Client::new();

    // Cold sync of the one-year record: every page of every type, five times.
    let mut runs = Vec::new();
    let mut last = (0, 0, 0);
    for _ in 0..5 {
        let t = Instant::now();
        last = pull(&http, &base, &tokens[0], None).await;
        runs.push(t.elapsed());
    }
    let cold = median(runs);
    println!(
        "cold sync of the one-year record: median {:.0} ms over 5 runs ({} requests, {} resources, {:.1} MiB)",
        cold.as_secs_f64() * 1e3,
        last.0,
        last.1,
        last.2 as f64 / 1_048_576.0
    );

    // No-change incremental syncs: every patient asks each type for changes
    // since now; 16 clients at once.
    let since = carecycle_fhir::time::format_instant(clock.now());
    let tokens = Arc::new(tokens);
    let t = Instant::now();
    let rounds = 3;
    let mut handles = Vec::new();
    for worker in 0..16 {
        let (http, base, tokens, since) =
            (http.clone(), base.clone(), tokens.clone(), since.clone());
        handles.push(tokio::spawn(async move {
            let mut requests = 0;
            for round in 0..rounds {
                for (i, token) in tokens.iter().enumerate() {
                    if (i + round) % 16 == worker {
                        let (r, found, _) = pull(&http, &base, token, Some(&since)).await;
                        assert_eq!(found, 0, "nothing changed");
                        requests += r;
                    }
                }
            }
            requests
        }));
    }
    let mut requests = 0;
    for h in handles {
        requests += h.await.unwrap();
    }
    let elapsed = t.elapsed().as_secs_f64();
    println!(
        "no-change incremental sync, {} patients × {rounds} rounds, 16 concurrent clients: {:.0} requests/s ({:.0} patient syncs/s of {} requests each)",
        patients + 1,
        requests as f64 / elapsed,
        (patients + 1) as f64 * rounds as f64 / elapsed,
        TYPES.len()
    );
    server.stop().await;
}
