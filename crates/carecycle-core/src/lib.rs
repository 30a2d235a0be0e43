//! The patient app's brain. The shell (Tauri) and the headless CLI call this
//! plain async API; it owns the encrypted store, the SMART sign-in, sync, and
//! the views of the care cycle. Time comes from a [`Clock`] passed in.

pub mod care_cycle;
pub mod contract;
pub mod education;
pub mod error;
pub mod fhir_http;
pub mod files;
pub mod lock;
pub mod messages;
pub mod notices;
pub mod outbox;
pub mod profiles;
pub mod questionnaires;
pub mod secrets;
pub mod smart;
pub mod store;
pub mod sync;
pub mod text_index;
pub mod urgent;
pub mod words;

pub use carecycle_fhir::time::{Clock, FixedClock, SystemClock};
pub use error::{CommandError, CoreError, ErrorCode, Invalid, Result};

use contract::{
    AppOverview, ProfileSummary, ServerChoice, SyncFailure, SyncReport, SyncStatus, ThreadSummary,
    ThreadView, TodayView,
};
use fhir_http::FhirSession;
use profiles::{ProfileEntry, ProfileList};
use secrets::{SecretKind, Vault};
use smart::Browser;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use store::Store;
use sync::with_store;

/// Something the UI should re-read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeEvent {
    /// A profile's record changed (a sync brought data).
    RecordChanged {
        profile_id: String,
    },
    ProfilesChanged,
    /// A sync with the server finished (after RecordChanged): the moment to
    /// look for things to notify.
    Synced {
        profile_id: String,
    },
}

/// How the core is set up by its host (the shell or the CLI).
#[derive(Debug)]
pub struct CoreConfig {
    pub data_dir: PathBuf,
    /// The keyring, or why there is none.
    pub vault: std::result::Result<Vault, String>,
    pub clock: Arc<dyn Clock>,
    pub browser: Arc<dyn Browser>,
    /// How the sign-in page's answer comes back ([`smart::ReturnPath::for_this_platform`]).
    pub return_path: smart::ReturnPath,
    /// Care organizations offered on the first screen.
    pub server_choices: Vec<ServerChoice>,
}

/// One profile's open parts.
#[derive(Debug)]
struct OpenProfile {
    entry: ProfileEntry,
    store: Arc<Mutex<Store>>,
    session: Arc<FhirSession>,
    /// One sync at a time per profile.
    sync_lock: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug)]
pub struct CareCycle {
    data_dir: PathBuf,
    vault: std::result::Result<Vault, String>,
    clock: Arc<dyn Clock>,
    browser: Arc<dyn Browser>,
    return_path: smart::ReturnPath,
    http: reqwest::Client,
    server_choices: Vec<ServerChoice>,
    profiles: ProfileList,
    open: tokio::sync::Mutex<HashMap<String, Arc<OpenProfile>>>,
    events: tokio::sync::broadcast::Sender<ChangeEvent>,
    /// The app lock (see [`lock`]); enforced only when the host asks.
    lock: Mutex<lock::LockState>,
}

impl CareCycle {
    pub fn new(config: CoreConfig) -> Result<CareCycle> {
        std::fs::create_dir_all(config.data_dir.join("profiles"))?;
        let lock = lock::LockState {
            policy: lock::LockPolicy::new(
                jiff::SignedDuration::from_mins(i64::from(lock::DEFAULT_MINUTES)),
                config.clock.now(),
            ),
            options: None,
        };
        Ok(CareCycle {
            lock: Mutex::new(lock),
            profiles: ProfileList::new(&config.data_dir),
            data_dir: config.data_dir,
            vault: config.vault,
            clock: config.clock,
            browser: config.browser,
            return_path: config.return_path,
            http: smart::http_client()?,
            server_choices: config.server_choices,
            open: tokio::sync::Mutex::new(HashMap::new()),
            events: tokio::sync::broadcast::channel(64).0,
        })
    }

    /// Runs `f` on the profile's store (on the blocking pool).
    async fn in_store<T: Send + 'static>(
        &self,
        profile_id: &str,
        f: impl FnOnce(&mut Store) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let open = self.profile(profile_id).await?;
        with_store(&open.store, f).await
    }

    /// Like [`Self::in_store`] for a change the patient made: the UI is told to re-read.
    async fn change_in_store<T: Send + 'static>(
        &self,
        profile_id: &str,
        f: impl FnOnce(&mut Store) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let out = self.in_store(profile_id, f).await?;
        let _ = self.events.send(ChangeEvent::RecordChanged {
            profile_id: profile_id.to_owned(),
        });
        Ok(out)
    }

    /// Bounds every request to the server by `timeout` (30 s by default).
    /// Takes effect for profiles opened afterwards.
    pub fn set_request_timeout(&mut self, timeout: std::time::Duration) -> Result<()> {
        self.http = smart::http_client_with_timeout(timeout)?;
        Ok(())
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ChangeEvent> {
        self.events.subscribe()
    }

    fn vault(&self) -> Result<&Vault> {
        self.vault
            .as_ref()
            .map_err(|why| CoreError::Keyring(why.clone()))
    }

    /// Profiles on this device and the organizations offered for a new one.
    pub async fn overview(&self) -> Result<AppOverview> {
        let mut profiles = Vec::new();
        for entry in self.profiles.load()? {
            // A profile whose store cannot be opened still shows, without a
            // name; so does a locked one (the lock screen shows no name), and
            // without its unit's name either, which can tell the condition.
            let locked = self.is_locked(&entry.id);
            // The lock screen, the usual first screen, opens no store.
            let open = match locked {
                true => Err(CoreError::NotHere("a locked record")),
                false => self.profile(&entry.id).await,
            };
            let patient_name = match open {
                Ok(open) => with_store(&open.store, |s| {
                    Ok(care_cycle::Record::load(s, "en")
                        .ok()
                        .and_then(|r| r.patient_name()))
                })
                .await
                .unwrap_or(None),
                Err(_) => None,
            };
            let lock = self.lock_view(&entry.id).ok();
            profiles.push(ProfileSummary {
                id: entry.id,
                server_label: if locked {
                    String::new()
                } else {
                    entry.server_label
                },
                fhir_base_url: entry.fhir_base_url,
                patient_name,
                lock,
            });
        }
        Ok(AppOverview {
            profiles,
            server_choices: self.server_choices.clone(),
            keyring_available: self.vault.is_ok(),
            language: self.language(),
        })
    }

    /// The language the app speaks now: the person's choice, else the system's.
    pub fn language(&self) -> words::Lang {
        words::Lang::chosen_or_system(
            profiles::DeviceSettings::load(&self.data_dir)
                .language
                .as_deref(),
        )
    }

    /// Keeps the app's language on this device ("en" or "es"; None: follow the system).
    pub fn set_language(&self, language: Option<String>) -> Result<()> {
        if let Some(l) = language.as_deref()
            && !matches!(l, "en" | "es")
        {
            return Err(CoreError::InvalidInput(Invalid::malformed(format!(
                "CareCycle speaks English (en) and Spanish (es), not {l:?}"
            ))));
        }
        let mut settings = profiles::DeviceSettings::load(&self.data_dir);
        settings.language = language;
        settings.save(&self.data_dir)?;
        // What the team wrote reads in the new language: every screen re-reads.
        let _ = self.events.send(ChangeEvent::ProfilesChanged);
        Ok(())
    }

    async fn profile(&self, profile_id: &str) -> Result<Arc<OpenProfile>> {
        let mut open = self.open.lock().await;
        if let Some(p) = open.get(profile_id) {
            return Ok(p.clone());
        }
        let entry = self
            .profiles
            .load()?
            .into_iter()
            .find(|p| p.id == profile_id)
            .ok_or_else(|| CoreError::NoProfile(profile_id.to_owned()))?;
        let vault = self.vault()?.clone();
        let key = vault
            .get(profile_id, SecretKind::DatabaseKey)?
            .ok_or_else(|| {
                CoreError::StoreLocked(
                    "the key of this profile's database is missing from the keyring".into(),
                )
            })?;
        let path = ProfileList::database_path(&self.data_dir, profile_id);
        let store = tokio::task::spawn_blocking(move || Store::open(&path, key.expose()))
            .await
            .map_err(|_| CoreError::Data("background task failed".into()))??;
        let session = FhirSession::new(
            self.http.clone(),
            &entry.fhir_base_url,
            profile_id,
            vault,
            self.clock.clone(),
        );
        let profile = Arc::new(OpenProfile {
            entry,
            store: Arc::new(Mutex::new(store)),
            session: Arc::new(session),
            sync_lock: Arc::default(),
        });
        open.insert(profile_id.to_owned(), profile.clone());
        Ok(profile)
    }

    /// Signs in to a FHIR server through the system browser (SMART standalone
    /// launch), creates the profile, and runs the first sync.
    pub async fn sign_in(&self, fhir_base_url: &str) -> Result<ProfileSummary> {
        let base = smart::parse_fhir_base(fhir_base_url)?;
        let vault = self.vault()?.clone();
        // A keyring that cannot keep a secret would lose this sign-in: find
        // out before the browser opens (not at every start, where the write
        // and read back cost the first screen ~0.1 s).
        let probe = vault.clone();
        tokio::task::spawn_blocking(move || probe.check())
            .await
            .map_err(|_| CoreError::Data("background task failed".into()))??;
        let tokens = smart::sign_in(
            &self.http,
            &base,
            self.browser.as_ref(),
            &self.return_path,
            self.clock.as_ref(),
            smart::SIGN_IN_TIMEOUT,
        )
        .await?;
        let patient = tokens.patient.clone().ok_or_else(|| {
            CoreError::SignIn(
                "the server did not say whose record this is (no patient in the sign-in answer)"
                    .into(),
            )
        })?;
        let base_text = base.as_str().trim_end_matches('/').to_owned();
        let label = self
            .server_choices
            .iter()
            .find(|c| c.fhir_base_url.trim_end_matches('/') == base_text)
            .map(|c| c.label.clone())
            .unwrap_or_else(|| base.host_str().unwrap_or("FHIR server").to_owned());
        let profile_id = self
            .create_profile(&vault, &base_text, &label, &patient, &tokens)
            .await?;
        // Signing in at the server proves the person: the record opens
        // (again after the first sync, however long that took).
        self.unlock_verified(&profile_id)?;
        self.sync(&profile_id).await?;
        self.unlock_verified(&profile_id)?;
        self.announce_new_profile(profile_id).await
    }

    /// Connects to a FHIR server that has no SMART sign-in, with a bearer token
    /// the person was given (or none) and the id of the patient record it opens.
    /// Used by support staff, developers and tests; the token goes to the keyring.
    pub async fn connect_with_token(
        &self,
        fhir_base_url: &str,
        token: Option<&str>,
        patient: &str,
    ) -> Result<ProfileSummary> {
        let base = smart::parse_fhir_base(fhir_base_url)?;
        if patient.trim().is_empty() || patient.contains('/') {
            return Err(CoreError::InvalidInput(Invalid::malformed(
                "give the patient's id (e.g. 123, not Patient/123)",
            )));
        }
        let vault = self.vault()?.clone();
        let tokens = smart::TokenSet {
            access_token: token.unwrap_or_default().to_owned(),
            refresh_token: None,
            expires_at: None,
            patient: Some(patient.to_owned()),
            scope: None,
            token_endpoint: None,
        };
        let base_text = base.as_str().trim_end_matches('/').to_owned();
        let label = base.host_str().unwrap_or("FHIR server").to_owned();
        let profile_id = self
            .create_profile(&vault, &base_text, &label, patient, &tokens)
            .await?;
        self.announce_new_profile(profile_id).await
    }

    /// Tells the shell a profile was added, and returns its summary.
    async fn announce_new_profile(&self, profile_id: String) -> Result<ProfileSummary> {
        let overview = self.overview().await?;
        let _ = self.events.send(ChangeEvent::ProfilesChanged);
        overview
            .profiles
            .into_iter()
            .find(|p| p.id == profile_id)
            .ok_or(CoreError::NoProfile(profile_id))
    }

    async fn create_profile(
        &self,
        vault: &Vault,
        base: &str,
        label: &str,
        patient: &str,
        tokens: &smart::TokenSet,
    ) -> Result<String> {
        // Signing in again to the same record reuses its profile.
        for entry in self
            .profiles
            .load()?
            .into_iter()
            .filter(|p| p.fhir_base_url == base)
        {
            if let Ok(open) = self.profile(&entry.id).await {
                let same = with_store(&open.store, |s| s.patient_id_if_any()).await?;
                if same.as_deref() == Some(patient) {
                    fhir_http::save_tokens(vault, &entry.id, tokens)?;
                    self.open.lock().await.remove(&entry.id);
                    return Ok(entry.id);
                }
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        vault.set(&id, SecretKind::DatabaseKey, &store::new_database_key())?;
        fhir_http::save_tokens(vault, &id, tokens)?;
        let mut list = self.profiles.load()?;
        list.push(ProfileEntry {
            id: id.clone(),
            server_label: label.to_owned(),
            fhir_base_url: base.to_owned(),
        });
        self.profiles.save(&list)?;
        let open = self.profile(&id).await?;
        let patient = patient.to_owned();
        with_store(&open.store, move |s| s.set_patient_id(&patient)).await?;
        Ok(id)
    }

    /// Syncs every record on this device, one after another; one that cannot
    /// sync now (offline, locked, signed out elsewhere) does not stop the rest.
    /// What the background timer, a phone coming back to the front and a
    /// notification tap run.
    pub async fn sync_all(&self) {
        let Ok(overview) = self.overview().await else {
            return;
        };
        for profile in overview.profiles {
            if let Err(e) = self.sync(&profile.id).await {
                tracing::debug!(code = ?e.code(), "background sync did not complete");
            }
        }
    }

    /// Brings the profile's local record up to date from its server.
    pub async fn sync(&self, profile_id: &str) -> Result<SyncReport> {
        let open = self.profile(profile_id).await?;
        let _one_at_a_time = open.sync_lock.lock().await;
        let patient = with_store(&open.store, |s| s.patient_id()).await?;
        // What the patient wrote goes first, so the pull brings back the server's copies.
        let pushed = outbox::push(&open.session, &open.store, self.clock.now(), || {
            rand::random::<f64>()
        })
        .await;
        let result = sync::pull(&open.session, &open.store, &patient).await?;
        if result.received > 0 {
            index_in_background(&open.store);
        }
        let pushed = pushed?;
        let finished_at = self.clock.now().to_string();
        let stamp = finished_at.clone();
        if result.failures.is_empty() && pushed.waiting == 0 {
            with_store(&open.store, move |s| s.set_meta("last_synced", &stamp)).await?;
        }
        let not_shared: Vec<String> = result.not_shared.iter().map(|t| t.to_string()).collect();
        with_store(&open.store, move |s| {
            s.set_meta("not_shared", &serde_json::to_string(&not_shared)?)
        })
        .await?;
        for (resource_type, error) in &result.failures {
            tracing::warn!(resource_type = %resource_type, code = ?error.code(), "sync of a resource type failed");
        }
        let _ = self.events.send(ChangeEvent::RecordChanged {
            profile_id: open.entry.id.clone(),
        });
        let _ = self.events.send(ChangeEvent::Synced {
            profile_id: open.entry.id.clone(),
        });
        Ok(SyncReport {
            sent: pushed.sent,
            received: result.received,
            failures: result
                .failures
                .into_iter()
                .map(|(resource_type, e)| SyncFailure {
                    resource_type,
                    message: e.to_string(),
                })
                .collect(),
            finished_at,
        })
    }

    /// The Today screen, from the local store (works offline).
    pub async fn today(&self, profile_id: &str) -> Result<TodayView> {
        let now = self.clock.now();
        let lang = self.language().code();
        self.in_store(profile_id, move |s| {
            let record = care_cycle::Record::load(s, lang)?;
            Ok(care_cycle::today_view(&record, now, s.meta("last_synced")?))
        })
        .await
    }

    /// The conversations with the care team (works offline).
    pub async fn messages(&self, profile_id: &str) -> Result<Vec<ThreadView>> {
        let now = self.clock.now();
        self.in_store(profile_id, move |s| {
            let patient = s.patient_id()?;
            messages::threads(s, &patient, now)
        })
        .await
    }

    /// The list of threads (no messages): what the Messages screen opens on.
    pub async fn thread_list(&self, profile_id: &str) -> Result<Vec<ThreadSummary>> {
        let now = self.clock.now();
        self.in_store(profile_id, move |s| {
            let patient = s.patient_id()?;
            messages::thread_list(s, &patient, now)
        })
        .await
    }

    /// One thread with every message (`Communication/{id}`), or NotFound.
    pub async fn thread(&self, profile_id: &str, thread: String) -> Result<ThreadView> {
        let now = self.clock.now();
        self.in_store(profile_id, move |s| {
            let patient = s.patient_id()?;
            messages::thread(s, &patient, &thread, now)?
                .ok_or(CoreError::NotHere("that conversation"))
        })
        .await
    }

    /// Writes a message (a new thread of `kind`, or into `thread`); it is kept
    /// and shown at once, and sent by the next sync. Returns its id.
    pub async fn send_message(
        &self,
        profile_id: &str,
        thread: Option<String>,
        kind: Option<String>,
        text: String,
    ) -> Result<String> {
        let out = contract::Outgoing {
            thread,
            kind,
            text,
            ..Default::default()
        };
        self.send(profile_id, out).await
    }

    /// Sends what the patient wrote (see [`messages::send`]): text, a file,
    /// or both; a new thread may be about a reading. Works offline.
    pub async fn send(&self, profile_id: &str, out: contract::Outgoing) -> Result<String> {
        let now = self.clock.now();
        self.change_in_store(profile_id, move |s| {
            let patient = s.patient_id()?;
            messages::send(s, &patient, &out, now)
        })
        .await
    }

    /// Marks the team's messages in a thread read (synced to the team).
    pub async fn mark_thread_read(&self, profile_id: &str, thread: String) -> Result<u32> {
        let now = self.clock.now();
        self.change_in_store(profile_id, move |s| {
            let patient = s.patient_id()?;
            messages::mark_read(s, &patient, &thread, now)
        })
        .await
    }

    /// The unsent text of a thread (None: a new message), kept across restarts.
    pub async fn message_draft(
        &self,
        profile_id: &str,
        thread: Option<String>,
    ) -> Result<Option<String>> {
        self.in_store(profile_id, move |s| messages::draft(s, thread.as_deref()))
            .await
    }

    pub async fn save_message_draft(
        &self,
        profile_id: &str,
        thread: Option<String>,
        text: String,
    ) -> Result<()> {
        self.in_store(profile_id, move |s| {
            messages::save_draft(s, thread.as_deref(), &text)
        })
        .await
    }

    /// Last synced, and what is still waiting to reach the team.
    pub async fn sync_status(&self, profile_id: &str) -> Result<SyncStatus> {
        self.in_store(profile_id, |s| {
            let unsent = outbox::unsent(s.connection_ref())?;
            let count = |state: outbox::ItemState| {
                unsent.iter().filter(|e| e.state == state).count() as u32
            };
            Ok(SyncStatus {
                last_synced: s.meta("last_synced")?,
                pending: count(outbox::ItemState::Pending),
                failed: count(outbox::ItemState::Failed),
                conflicts: count(outbox::ItemState::Conflict),
            })
        })
        .await
    }

    /// Tries again what failed to send.
    pub async fn retry_failed(&self, profile_id: &str) -> Result<u32> {
        self.in_store(profile_id, |s| {
            Ok(outbox::retry_all(s.connection_ref())? as u32)
        })
        .await
    }

    /// Ticks (or unticks) a checklist item; the team sees it after the next
    /// sync. If the team changed the item meanwhile, it becomes a visible
    /// conflict instead of overwriting their change.
    pub async fn set_checklist_done(
        &self,
        profile_id: &str,
        task_id: &str,
        done: bool,
    ) -> Result<()> {
        let now = self.clock.now();
        let id = task_id.trim_start_matches("Task/").to_owned();
        self.change_in_store(profile_id, move |s| {
            let mut task = s
                .get(carecycle_fhir::ResourceType::Task, &id)?
                .ok_or_else(|| CoreError::NotHere("that checklist item"))?;
            task["status"] = serde_json::json!(if done { "completed" } else { "requested" });
            task["lastModified"] = serde_json::json!(carecycle_fhir::time::format_instant(now));
            outbox::queue_update(
                s.connection(),
                carecycle_fhir::ResourceType::Task,
                &id,
                task,
                now,
            )
        })
        .await?;
        Ok(())
    }

    /// Settles a change the team made at the same time as the patient
    /// (`reference` is `Type/id`): keeping theirs drops the patient's change,
    /// keeping mine sends it again on top of theirs (offline: at the next sync).
    pub async fn settle_conflict(
        &self,
        profile_id: &str,
        reference: &str,
        keep: outbox::Keep,
    ) -> Result<()> {
        let (t, id) = reference
            .split_once('/')
            .and_then(|(t, id)| Some((t.parse::<carecycle_fhir::ResourceType>().ok()?, id)))
            .ok_or_else(|| {
                CoreError::InvalidInput(Invalid::malformed("not a Type/id reference"))
            })?;
        let id = id.to_owned();
        self.change_in_store(profile_id, move |s| {
            outbox::settle_conflict(s.connection(), t, &id, keep)
        })
        .await
    }

    /// Messages and reading matching the words typed (newest first; offline).
    pub async fn search(&self, profile_id: &str, text: String) -> Result<Vec<contract::SearchHit>> {
        self.in_store(profile_id, move |s| {
            text_index::search(s.connection_ref(), &text)
        })
        .await
    }

    /// The questionnaires the team asked for, most urgent first (offline).
    pub async fn due_questionnaires(
        &self,
        profile_id: &str,
    ) -> Result<Vec<contract::DueQuestionnaire>> {
        let now = self.clock.now();
        let lang = self.language().code();
        self.in_store(profile_id, move |s| {
            let tz = care_cycle::Record::time_zone_of(s)?;
            questionnaires::due_list(s, now, &tz, lang)
        })
        .await
    }

    /// Answers an assigned questionnaire (see [`questionnaires::answer`]).
    pub async fn answer_questionnaire(
        &self,
        profile_id: &str,
        task_id: String,
        answers: serde_json::Value,
    ) -> Result<questionnaires::Answered> {
        let now = self.clock.now();
        let result = self
            .change_in_store(profile_id, move |s| {
                let patient = s.patient_id()?;
                questionnaires::answer(s, &patient, &task_id, &answers, now)
            })
            .await?;
        Ok(result)
    }

    /// Signs out of a record on this device: the sign-in is revoked at the
    /// server when it offers revocation (best effort: offline, the secrets
    /// still go), then the tokens and the database key leave the keyring and
    /// the encrypted database is deleted. What was not yet sent is lost with
    /// it, so the app shows `sync_status` and asks first.
    pub async fn sign_out(&self, profile_id: &str) -> Result<()> {
        let vault = self.vault()?.clone();
        let mut list = self.profiles.load()?;
        let entry = list
            .iter()
            .find(|p| p.id == profile_id)
            .cloned()
            .ok_or_else(|| CoreError::NoProfile(profile_id.to_owned()))?;
        if let Ok(tokens) = fhir_http::load_tokens(&vault, profile_id)
            && let Ok(base) = smart::parse_fhir_base(&entry.fhir_base_url)
            && let Ok(config) = smart::discover(&self.http, &base).await
            && let Some(endpoint) = config.revocation_endpoint
        {
            let revoked = smart::revoke(&self.http, &endpoint, &tokens).await;
            if revoked.is_err() {
                tracing::warn!(
                    "could not reach the server to revoke the sign-in; removing it here anyway"
                );
            }
        }
        self.open.lock().await.remove(profile_id);
        vault.delete(profile_id, SecretKind::Tokens)?;
        vault.delete(profile_id, SecretKind::DatabaseKey)?;
        vault.delete(profile_id, SecretKind::Passcode)?;
        self.lock_forget(profile_id);
        let db = ProfileList::database_path(&self.data_dir, profile_id);
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", db.display()));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        list.retain(|p| p.id != profile_id);
        self.profiles.save(&list)?;
        let _ = self.events.send(ChangeEvent::ProfilesChanged);
        Ok(())
    }

    /// Saves the answers so far of an assigned questionnaire (resumable, synced).
    pub async fn save_questionnaire_draft(
        &self,
        profile_id: &str,
        task_id: String,
        answers: serde_json::Value,
    ) -> Result<String> {
        let now = self.clock.now();
        self.change_in_store(profile_id, move |s| {
            let patient = s.patient_id()?;
            questionnaires::save_draft(s, &patient, &task_id, &answers, now)
        })
        .await
    }

    /// The form of an assigned questionnaire as it stands with `answers`
    /// (`{"linkId": answer}`), or with the saved draft when None (offline).
    pub async fn questionnaire_form(
        &self,
        profile_id: &str,
        task_id: String,
        answers: Option<serde_json::Value>,
        language: String,
    ) -> Result<contract::FormView> {
        let now = self.clock.now();
        self.in_store(profile_id, move |s| {
            let tz = care_cycle::Record::time_zone_of(s)?;
            questionnaires::form(s, &task_id, answers.as_ref(), &language, now, &tz)
        })
        .await
    }

    /// Submits an assigned questionnaire and says what the answers mean,
    /// guidance first (see [`questionnaires::answer`]).
    pub async fn submit_questionnaire(
        &self,
        profile_id: &str,
        task_id: String,
        answers: serde_json::Value,
        language: &str,
    ) -> Result<contract::SubmittedQuestionnaire> {
        let done = self
            .answer_questionnaire(profile_id, task_id, answers)
            .await?;
        Ok(done.view(language))
    }

    /// The saved in-progress response of a task, to resume it.
    pub async fn questionnaire_draft(
        &self,
        profile_id: &str,
        task_id: String,
    ) -> Result<Option<serde_json::Value>> {
        self.in_store(profile_id, move |s| questionnaires::draft_of(s, &task_id))
            .await
    }

    /// Scores over time with their meaning (offline).
    /// Every score over time, worded in `language`.
    pub async fn results(
        &self,
        profile_id: &str,
        language: String,
    ) -> Result<Vec<contract::ResultSeries>> {
        self.in_store(profile_id, move |s| questionnaires::results(s, &language))
            .await
    }

    /// What to notify the patient of since the last time (each thing once;
    /// see [`notices`]). Call after a sync. While the record is locked they
    /// carry no detail, whatever the patient chose.
    pub async fn take_notices(&self, profile_id: &str) -> Result<Vec<notices::Notice>> {
        let now = self.clock.now();
        let locked = self.is_locked(profile_id);
        let lang = self.language();
        self.in_store(profile_id, move |s| {
            let patient = s.patient_id()?;
            notices::take_new(s, &patient, now, locked, lang)
        })
        .await
    }

    /// Whether notifications say what they are about (off by default).
    pub async fn notification_detail(&self, profile_id: &str) -> Result<bool> {
        self.in_store(profile_id, |s| notices::detail(s)).await
    }

    pub async fn set_notification_detail(&self, profile_id: &str, on: bool) -> Result<()> {
        self.in_store(profile_id, move |s| notices::set_detail(s, on))
            .await
    }

    /// Call-now guidance to show before sending `text`, when it suggests an emergency.
    pub fn check_urgent(&self, text: &str, language: &str) -> Option<urgent::UrgentGuidance> {
        urgent::check(text, language)
    }

    /// Everyone on the care team and whom to ask about what (offline).
    pub async fn care_team(&self, profile_id: &str) -> Result<Vec<contract::TeamMemberDetail>> {
        let lang = self.language().code();
        self.in_store(profile_id, |s| {
            let record = care_cycle::Record::load(s, lang)?;
            let roles: Vec<_> = s
                .all(carecycle_fhir::ResourceType::PractitionerRole)?
                .into_iter()
                .map(|mut r| {
                    let left = carecycle_fhir::translation::localize_resource(&mut r, lang);
                    (r, left)
                })
                .collect();
            Ok(care_cycle::care_team(&record, &roles))
        })
        .await
    }

    /// The patient's checklist, open items first (offline).
    pub async fn checklist(&self, profile_id: &str) -> Result<Vec<contract::ChecklistItem>> {
        let lang = self.language().code();
        self.in_store(profile_id, |s| {
            let record = care_cycle::Record::load(s, lang)?;
            Ok(checklist_in(&record, s))
        })
        .await
    }

    /// Everything the Today screen shows, from one read of the record, so the
    /// first screen waits on one call instead of a chain of them.
    pub async fn today_screen(&self, profile_id: &str) -> Result<contract::TodayScreen> {
        let now = self.clock.now();
        let lang = self.language().code();
        let lock_minutes = self
            .lock_view(profile_id)?
            .timeout_seconds
            .div_ceil(60)
            .max(1);
        self.in_store(profile_id, move |s| {
            let record = care_cycle::Record::load(s, lang)?;
            Ok(contract::TodayScreen {
                today: care_cycle::today_view(&record, now, s.meta("last_synced")?),
                checklist: checklist_in(&record, s),
                notifications: contract::NotificationSettings {
                    show_details: notices::detail(s)?,
                    available: None,
                },
                lock_minutes,
            })
        })
        .await
    }

    /// The reading, the current phase's first, in the preferred language (offline).
    pub async fn education(
        &self,
        profile_id: &str,
        language: String,
    ) -> Result<Vec<contract::EducationItem>> {
        let now = self.clock.now();
        let lang = self.language().code();
        self.in_store(profile_id, move |s| {
            let record = care_cycle::Record::load(s, lang)?;
            let today = now.to_zoned(record.time_zone()).date();
            education::library(s, &record, today, &language)
        })
        .await
    }

    /// One reading as sanitised HTML; marks it read on this device.
    pub async fn open_education(
        &self,
        profile_id: &str,
        id: String,
    ) -> Result<contract::EducationDoc> {
        let now = carecycle_fhir::time::format_instant(self.clock.now());
        self.in_store(profile_id, move |s| education::open(s, &id, &now))
            .await
    }

    /// The care-cycle timeline (offline).
    pub async fn timeline(&self, profile_id: &str) -> Result<contract::TimelineView> {
        let now = self.clock.now();
        let lang = self.language().code();
        self.in_store(profile_id, move |s| {
            Ok(care_cycle::timeline(
                &care_cycle::Record::load(s, lang)?,
                now,
            ))
        })
        .await
    }

    /// Saves an appointment as an iCalendar file (RFC 5545) in `dir`, worded in
    /// the app's language and named by its date (never by anything the server
    /// sent, never over another file); says where.
    pub async fn save_appointment_ics(
        &self,
        profile_id: &str,
        appointment_id: String,
        dir: std::path::PathBuf,
    ) -> Result<std::path::PathBuf> {
        let now = self.clock.now();
        let lang = self.language();
        self.in_store(profile_id, move |s| {
            let record = care_cycle::Record::load(s, lang.code())?;
            let missing = || CoreError::NotHere("that appointment");
            let ics = care_cycle::appointment_ics(&record, &appointment_id, now, lang)
                .ok_or_else(missing)?;
            let stem =
                care_cycle::appointment_file_stem(&record, &appointment_id).ok_or_else(missing)?;
            files::write_new(&dir, &stem, "ics", ics.as_bytes())
        })
        .await
    }

    /// What this sign-in may see of the record: the areas a family member has
    /// not been given, as the server answered the last sync (empty for the
    /// patient).
    pub async fn record_access(&self, profile_id: &str) -> Result<contract::RecordAccess> {
        self.in_store(profile_id, |s| {
            let types: Vec<String> = s
                .meta("not_shared")?
                .and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_default();
            let mut not_shared: Vec<String> = types
                .iter()
                .filter_map(|t| t.parse().ok().and_then(carecycle_fhir::record_area))
                .map(str::to_owned)
                .collect();
            not_shared.sort();
            not_shared.dedup();
            Ok(contract::RecordAccess {
                family_view: !not_shared.is_empty(),
                not_shared,
            })
        })
        .await
    }

    /// The kinds of message a patient can start (each routed to its own role of the team).
    pub fn message_kinds(&self) -> Vec<contract::MessageKindOption> {
        messages::KINDS
            .iter()
            .map(|(code, _)| contract::MessageKindOption {
                code: (*code).to_owned(),
            })
            .collect()
    }
}

/// Puts the words of what a sync wrote into the search index, after the sync
/// has returned: a few hundred resources a turn, so a screen opened meanwhile
/// waits for one turn at most. A search indexes what is left before it answers.
fn index_in_background(store: &Arc<Mutex<Store>>) {
    const TURN: usize = 200;
    let store = store.clone();
    tokio::spawn(async move {
        loop {
            match with_store(&store, |s| text_index::catch_up(s.connection_ref(), TURN)).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(code = ?e.code(), "indexing for search stopped; a search resumes it");
                    break;
                }
            }
        }
    });
}

/// The checklist of a loaded record, with the send state of what the patient ticked.
fn checklist_in(record: &care_cycle::Record, s: &store::Store) -> Vec<contract::ChecklistItem> {
    let conn = s.connection_ref();
    care_cycle::checklist(record, |id| {
        outbox::state_of(conn, carecycle_fhir::ResourceType::Task, id)
            .ok()
            .flatten()
            .map(|(state, _)| state)
    })
}
