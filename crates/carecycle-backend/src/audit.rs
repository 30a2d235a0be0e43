//! AuditEvents: every read and write of patient data leaves one, naming who
//! (the signed-in user's FHIR identity), what interaction, and whose record.
//! They sit in the patient's compartment, so a patient can see who looked at
//! their record; family members cannot (see `access`), and nobody can write them.
//!
//! A write's AuditEvent is written in the write's own transaction. A read's
//! (read, vread, search) goes through the [`AuditLog`]: the request's
//! handler reads on a read-only connection, hands its event to the log's
//! writer thread, and **answers only once the transaction holding that
//! event has committed** — group commit: the writer takes every event
//! waiting when it starts a transaction (up to [`MAX_BATCH`]), writes them
//! all and commits once, then releases each waiting request (or fails each
//! with a 500, when its event could not be written: then nothing was read
//! out). So reads share one transaction and one WAL append instead of each
//! taking the write lock, and no acknowledged read lacks its event: a crash
//! (the process killed at any point) loses only events whose requests were
//! never answered. Commits in WAL mode with `synchronous=NORMAL`, as for
//! every change this server stores, reach the operating system before the
//! answer; an operating-system crash or power cut may still lose the last
//! commits before a checkpoint (that is SQLite's NORMAL), events and record
//! changes alike.

use crate::auth::Principal;
use crate::store::{self, Db, Stamper, StoreError};
use carecycle_fhir::ResourceType;
use rusqlite::Transaction;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::mpsc;

/// The RESTful interaction audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    Read,
    Vread,
    Search,
    History,
    Create,
    Update,
    Delete,
}

impl Interaction {
    fn code(self) -> &'static str {
        match self {
            Interaction::Read => "read",
            Interaction::Vread => "vread",
            Interaction::Search => "search-type",
            Interaction::History => "history-instance",
            Interaction::Create => "create",
            Interaction::Update => "update",
            Interaction::Delete => "delete",
        }
    }

    /// AuditEvent.action: C, R, U, D or E (execute: a search).
    fn action(self) -> &'static str {
        match self {
            Interaction::Read | Interaction::Vread | Interaction::History => "R",
            Interaction::Search => "E",
            Interaction::Create => "C",
            Interaction::Update => "U",
            Interaction::Delete => "D",
        }
    }
}

/// Records one interaction touching the records of `patients` (each listed as
/// an entity), and the resource itself when there is one. Nothing is written
/// when no patient's data was touched.
pub fn record(
    tx: &Transaction<'_>,
    stamper: &Stamper,
    principal: &Principal,
    interaction: Interaction,
    patients: &[&str],
    resource: Option<(ResourceType, &str)>,
) -> Result<(), StoreError> {
    match event(stamper, principal, interaction, patients, resource) {
        Some(e) => write(tx, stamper, e),
        None => Ok(()),
    }
}

/// The AuditEvent [`record`] writes (recorded now), or `None` when no
/// patient's data was touched.
pub fn event(
    stamper: &Stamper,
    principal: &Principal,
    interaction: Interaction,
    patients: &[&str],
    resource: Option<(ResourceType, &str)>,
) -> Option<Value> {
    if patients.is_empty() {
        return None;
    }
    let mut entities: Vec<Value> = patients
        .iter()
        .map(|p| json!({"what": {"reference": format!("Patient/{p}")}, "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}}))
        .collect();
    if let Some((t, id)) = resource {
        entities.push(json!({"what": {"reference": format!("{t}/{id}")}, "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "4", "display": "Domain Resource"}}));
    }
    let recorded = carecycle_fhir::time::format_instant(stamper.clock().now());
    let event = json!({
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": interaction.code()}],
        "action": interaction.action(),
        "recorded": recorded,
        "outcome": "0",
        "agent": [{"who": {"reference": principal.fhir_user}, "requestor": true}],
        "source": {"observer": {"display": "CareCycle reference back end"}},
        "entity": entities
    });
    Some(event)
}

/// Stores one AuditEvent made by [`event`].
pub fn write(tx: &Transaction<'_>, stamper: &Stamper, event: Value) -> Result<(), StoreError> {
    store::write(
        tx,
        stamper,
        ResourceType::AuditEvent,
        &uuid::Uuid::new_v4().to_string(),
        event,
        None,
    )?;
    Ok(())
}

/// Events one transaction of the [`AuditLog`] takes at most.
pub const MAX_BATCH: usize = 512;

/// Events waiting for the writer, each with the request that waits for it.
struct Pending {
    events: Vec<Value>,
    done: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

/// The read audit's group commit (see the module's documentation): one
/// writer thread, fed by every read's handler.
#[derive(Clone, Debug)]
pub struct AuditLog {
    queue: Arc<std::sync::Mutex<Option<mpsc::Sender<Pending>>>>,
    writer: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl AuditLog {
    /// Starts the writer thread on `db`'s writer connection.
    pub fn start(db: Db, stamper: Arc<Stamper>) -> std::io::Result<AuditLog> {
        let (tx, rx) = mpsc::channel::<Pending>();
        let writer = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer_loop(&db, &stamper, &rx))?;
        Ok(AuditLog {
            queue: Arc::new(std::sync::Mutex::new(Some(tx))),
            writer: Arc::new(std::sync::Mutex::new(Some(writer))),
        })
    }

    /// Stores `events` and returns once they are committed: the caller
    /// answers its request only after this succeeds.
    pub async fn commit(&self, events: Vec<Value>) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let (done, committed) = tokio::sync::oneshot::channel();
        {
            let queue = self.queue.lock().map_err(|_| StoreError::Poisoned)?;
            let Some(queue) = queue.as_ref() else {
                return Err(StoreError::Open("the audit log is closed".into()));
            };
            queue
                .send(Pending { events, done })
                .map_err(|_| StoreError::Open("the audit log is closed".into()))?;
        }
        committed.await.map_err(|_| StoreError::Join)?
    }

    /// Stops taking events, commits those already handed over, and waits for
    /// the writer to finish.
    pub fn close(&self) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.take();
        }
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }
}

fn writer_loop(db: &Db, stamper: &Stamper, rx: &mpsc::Receiver<Pending>) {
    // Ends when every sender is gone (the log closed), after the last batch.
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let mut events = batch[0].events.len();
        while events < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => {
                    events += p.events.len();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        match commit_all(db, stamper, batch.iter().flat_map(|p| p.events.iter())) {
            Ok(()) => {
                for p in batch {
                    let _ = p.done.send(Ok(()));
                }
            }
            // One bad event must not fail the others: each request alone.
            Err(_) => {
                for p in batch {
                    let result = commit_all(db, stamper, p.events.iter());
                    if result.is_err() {
                        tracing::error!("a read's audit event could not be stored");
                    }
                    let _ = p.done.send(result);
                }
            }
        }
    }
}

fn commit_all<'a>(
    db: &Db,
    stamper: &Stamper,
    events: impl Iterator<Item = &'a Value>,
) -> Result<(), StoreError> {
    db.with(|c| {
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for e in events {
            write(&tx, stamper, e.clone())?;
        }
        tx.commit()?;
        Ok(())
    })
}

/// Sign-in and token events, and refused requests: what answers "who tried to
/// get into my record, and when".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityEvent {
    SignIn,
    SignInFailed,
    TokenIssued,
    TokenRefreshed,
    /// A spent refresh token came back and its whole sign-in was ended.
    RefreshReused,
    TokenRevoked,
    /// A request the policy or the scopes refused (403).
    Refused,
}

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
/// CareCycle's codes for token events, which DICOM's list does not name.
pub use carecycle_fhir::SECURITY_EVENT_SYSTEM;

impl SecurityEvent {
    /// AuditEvent.type and .subtype as (system, code, display).
    fn codes(self) -> [(&'static str, &'static str, &'static str); 2] {
        let auth = (DCM, "110114", "User Authentication");
        // CareCycle's own codes take their words from the published code system.
        let ours = |code: &'static str| {
            let display = carecycle_fhir::published::display(SECURITY_EVENT_SYSTEM, code);
            (SECURITY_EVENT_SYSTEM, code, display.unwrap_or(code))
        };
        match self {
            SecurityEvent::SignIn | SecurityEvent::SignInFailed => [auth, (DCM, "110122", "Login")],
            SecurityEvent::TokenRevoked => [auth, (DCM, "110123", "Logout")],
            SecurityEvent::TokenIssued => [auth, ours("token-issued")],
            SecurityEvent::TokenRefreshed => [auth, ours("token-refreshed")],
            SecurityEvent::RefreshReused => [auth, ours("refresh-reused")],
            SecurityEvent::Refused => [
                (
                    "http://terminology.hl7.org/CodeSystem/audit-event-type",
                    "rest",
                    "RESTful Operation",
                ),
                ours("refused"),
            ],
        }
    }

    fn failed(self) -> bool {
        matches!(
            self,
            SecurityEvent::SignInFailed | SecurityEvent::RefreshReused | SecurityEvent::Refused
        )
    }
}

/// Who a security event is about: the user (their FHIR identity when known,
/// else the name they typed) and the patient whose record it concerns.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub fhir_user: Option<String>,
    pub username: Option<String>,
    pub patient: Option<String>,
}

/// Records a security event. It sits in the patient's compartment when there
/// is one (so the patient sees failed sign-ins on their account); otherwise
/// only the operator sees it. `detail` must carry no health information.
pub fn security(
    tx: &Transaction<'_>,
    stamper: &Stamper,
    event: SecurityEvent,
    actor: &Actor,
    detail: &str,
) -> Result<(), StoreError> {
    let [(ts, tc, td), (ss, sc, sd)] = event.codes();
    let mut agent = json!({"requestor": true});
    match (&actor.fhir_user, &actor.username) {
        (Some(who), _) => agent["who"] = json!({"reference": who}),
        (None, Some(name)) => agent["altId"] = json!(name),
        (None, None) => agent["who"] = json!({"display": "unknown caller"}),
    }
    let mut event_json = json!({
        "resourceType": "AuditEvent",
        "type": {"system": ts, "code": tc, "display": td},
        "subtype": [{"system": ss, "code": sc, "display": sd}],
        "action": "E",
        "recorded": carecycle_fhir::time::format_instant(stamper.clock().now()),
        "outcome": if event.failed() { "4" } else { "0" },
        "outcomeDesc": detail,
        "agent": [agent],
        "source": {"observer": {"display": "CareCycle reference back end"}},
    });
    if let Some(p) = &actor.patient {
        event_json["entity"] = json!([{"what": {"reference": format!("Patient/{p}")},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}}]);
    }
    store::write(
        tx,
        stamper,
        ResourceType::AuditEvent,
        &uuid::Uuid::new_v4().to_string(),
        event_json,
        None,
    )?;
    Ok(())
}
