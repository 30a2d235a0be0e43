//! Benchmark (prints figures; not a timed test) of the core against the
//! reference back end on loopback: a cold sync of the one-year record, a
//! no-change sync, and full-text search over 10,000 messages; beside them a raw
//! baseline that only downloads the same pages, parses them and inserts them
//! into an encrypted database, so the ratio to that limit is printed.
//! Run with `cargo bench -p carecycle-core --bench sync`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use carecycle_backend::generate::{RecordSize, year_record};
use carecycle_backend::{ServerOptions, auth, start};
use carecycle_core::secrets::Vault;
use carecycle_core::smart::SystemBrowser;
use carecycle_core::store::{Store, apply_page, new_database_key};
use carecycle_core::sync::{PULLED_TYPES, first_page_url};
use carecycle_core::{CareCycle, CoreConfig, SystemClock, text_index};
use carecycle_fhir::ResourceType;
use carecycle_fhir::time::Clock;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Downloads every page of the patient's record, parses it and inserts it: the floor.
async fn raw_baseline(
    base: &str,
    token: &str,
    patient: &str,
    dir: &std::path::Path,
) -> (Duration, usize) {
    let http = reqwest::Client::new();
    let t = Instant::now();
    let mut store = Store::open(
        &dir.join(format!("raw-{}.db", uuid::Uuid::new_v4())),
        &new_database_key(),
    )
    .unwrap();
    let mut count = 0;
    for &ty in PULLED_TYPES {
        let mut url = Some(first_page_url(base, ty, patient, None));
        while let Some(u) = url.take() {
            let bytes = http
                .get(&u)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let bundle: Value = serde_json::from_slice(&bytes).unwrap();
            let rows: Vec<(ResourceType, String, Value)> = bundle["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    (
                        ty,
                        e["resource"]["id"].as_str().unwrap().to_owned(),
                        e["resource"].clone(),
                    )
                })
                .collect();
            count += rows.len();
            // A bare insert: the same table, no index, no cursor.
            let tx = store.connection().transaction().unwrap();
            for (t, id, v) in &rows {
                tx.execute(
                    "INSERT OR REPLACE INTO resource (type, id, content) VALUES (?1, ?2, ?3)",
                    rusqlite::params![t.as_str(), id, v.to_string()],
                )
                .unwrap();
            }
            tx.commit().unwrap();
            url = bundle["link"]
                .as_array()
                .and_then(|l| l.iter().find(|l| l["relation"] == "next"))
                .and_then(|l| l["url"].as_str())
                .map(str::to_owned);
        }
    }
    (t.elapsed(), count)
}

/// What each screen's first command costs in the core on the one-year record
/// (the window adds the UI's share: ui/bench/first-screen.mjs --year).
async fn screens(core: &CareCycle, profile: &str) {
    let mut rows = Vec::new();
    macro_rules! time {
        ($label:literal, $call:expr) => {{
            let mut runs = Vec::new();
            let mut n = 0;
            for _ in 0..5 {
                let t = Instant::now();
                n = $call.await.unwrap().len();
                runs.push(t.elapsed());
            }
            rows.push(format!(
                "{}: median {:.1} ms ({n} items)",
                $label,
                ms(median(runs))
            ));
        }};
    }
    time!("every thread with every message", core.messages(profile));
    time!("the list of threads (Messages)", core.thread_list(profile));
    let longest = core
        .messages(profile)
        .await
        .unwrap()
        .into_iter()
        .max_by_key(|t| t.messages.len())
        .unwrap();
    time!("the longest thread (Messages, opened)", async {
        core.thread(profile, longest.summary.id.clone())
            .await
            .map(|t| t.messages)
    });
    time!("education (Reading)", core.education(profile, "en".into()));
    time!("results (Results)", core.results(profile, "en".into()));
    for row in rows {
        println!("core, one-year record, {row}");
    }
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
    let stamper = server.state.stamper.clone();
    let (patient, token) = server
        .state
        .db
        .with(
            |c| -> Result<(String, String), carecycle_backend::api::ApiError> {
                let p = year_record(c, &stamper, "year", "bench", RecordSize::YEAR, 1)?;
                Ok((
                    p,
                    auth::mint_access_token(c, "year", "patient/*.cruds", clock.now())?,
                ))
            },
        )
        .unwrap();
    let base = server.fhir_base();
    let work = tempfile::tempdir().unwrap();
    println!("one-year record: {:?}", RecordSize::YEAR);

    let mut cold = Vec::new();
    let mut first_search = Vec::new();
    let mut warm = Vec::new();
    let mut received = 0;
    for round in 0..3 {
        let dir = work.path().join(format!("app-{round}"));
        let core = CareCycle::new(CoreConfig {
            data_dir: dir,
            vault: Ok(Vault::with_store(keyring_core::mock::Store::new().unwrap())),
            clock: clock.clone(),
            browser: Arc::new(SystemBrowser),
            return_path: carecycle_core::smart::ReturnPath::Loopback,
            server_choices: vec![],
        })
        .unwrap();
        let profile = core
            .connect_with_token(&base, Some(&token), &patient)
            .await
            .unwrap()
            .id;
        let t = Instant::now();
        received = core.sync(&profile).await.unwrap().received;
        cold.push(t.elapsed());
        // The sync leaves the words of what it wrote to be indexed after it;
        // a search at once indexes whatever is left first.
        let t = Instant::now();
        core.search(&profile, "knee".into()).await.unwrap();
        first_search.push(t.elapsed());
        if round == 0 {
            screens(&core, &profile).await;
        }
        for _ in 0..3 {
            let t = Instant::now();
            let r = core.sync(&profile).await.unwrap();
            warm.push(t.elapsed());
            assert!(
                r.received < 50,
                "a no-change sync re-reads only its boundary"
            );
        }
    }
    let mut raw = Vec::new();
    let mut raw_count = 0;
    for _ in 0..3 {
        let (d, n) = raw_baseline(&base, &token, &patient, work.path()).await;
        raw.push(d);
        raw_count = n;
    }
    let (cold, warm, raw) = (median(cold), median(warm), median(raw));
    println!(
        "cold sync of the one-year record: median {:.0} ms ({received} resources written)",
        ms(cold)
    );
    println!(
        "raw baseline (download + parse + insert the same pages): median {:.0} ms ({raw_count} resources)",
        ms(raw)
    );
    println!(
        "cold sync / raw baseline: {:.2}×",
        cold.as_secs_f64() / raw.as_secs_f64()
    );
    println!(
        "a search right after the cold sync (indexes what is left first): median {:.0} ms",
        ms(median(first_search))
    );
    println!("no-change sync: median {:.0} ms", ms(warm));

    // Full-text search over 10,000 messages in an encrypted store.
    let mut store = Store::open(&work.path().join("fts.db"), &new_database_key()).unwrap();
    let words = [
        "knee",
        "swelling",
        "exercise",
        "appointment",
        "pain",
        "walker",
        "stairs",
        "ice",
        "sleep",
        "wound",
    ];
    let rows: Vec<(ResourceType, String, Value)> = (0..10_000)
        .map(|i| {
            let text = format!(
                "Message {i}: my {} is better but the {} after {} still bothers me{}",
                words[i % 10],
                words[(i / 10) % 10],
                words[(i / 100) % 10],
                if i == 4242 { " — zeppelin" } else { "" }
            );
            (
                ResourceType::Communication,
                format!("m{i}"),
                json!({"resourceType": "Communication", "id": format!("m{i}"), "status": "completed", "payload": [{"contentString": text}],
                       "meta": {"versionId": "1", "lastUpdated": format!("2026-01-01T00:00:{:02}.{:06}Z", i / 1_000_000, i % 1_000_000)}}),
            )
        })
        .collect();
    let t = Instant::now();
    apply_page(store.connection(), &rows, None).unwrap();
    let stored = t.elapsed();
    // What a sync leaves for after it (text_index::catch_up), all of it.
    text_index::catch_up(store.connection_ref(), usize::MAX).unwrap();
    println!(
        "storing 10,000 messages: {:.0} ms, then indexing their words: {:.0} ms",
        ms(stored),
        ms(t.elapsed() - stored)
    );
    for (label, query) in [
        ("rare word", "zeppelin"),
        ("common word (every message)", "message"),
        ("two words, prefix", "knee swel"),
    ] {
        let mut runs = Vec::new();
        let mut hits = 0;
        for _ in 0..50 {
            let t = Instant::now();
            hits = text_index::search(store.connection_ref(), query)
                .unwrap()
                .len();
            runs.push(t.elapsed());
        }
        println!(
            "search over 10,000 messages, {label}: median {:.2} ms ({hits} hits shown)",
            ms(median(runs))
        );
    }
    server.stop().await;
}
