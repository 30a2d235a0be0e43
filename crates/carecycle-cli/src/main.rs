//! `carecycle`: the patient app's core without a window, for support staff,
//! scripts and tests. It uses only the core's public API, so what it does is
//! what the app does: the same encrypted store, keyring, sync and outbox.

use carecycle_core::contract::ServerChoice;
use carecycle_core::smart::SystemBrowser;
use carecycle_core::{CareCycle, CoreConfig, CoreError, Invalid, SystemClock};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "carecycle",
    version,
    about = "CareCycle from the command line: sign in, sync, read and write your care record"
)]
struct Cli {
    /// Where the app keeps its encrypted databases (default: $CARECYCLE_DATA_DIR or ~/.local/share/carecycle).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Which record to use (see `carecycle profiles`); default: the only one.
    #[arg(long, global = true)]
    profile: Option<String>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Connect to a care organization's FHIR server (SMART sign-in in the browser,
    /// or --token/--patient for a server without SMART).
    Connect {
        fhir_base_url: String,
        #[arg(long)]
        token: Option<String>,
        /// The patient record's id, for --token (a server that cannot say whose record it is).
        #[arg(long)]
        patient: Option<String>,
    },
    /// The records on this device.
    Profiles,
    /// Send what is waiting and bring the record up to date.
    Sync,
    /// Last synced, and what has not reached the care team yet.
    Status,
    /// Where you are in your care and what comes next.
    Today,
    /// Conversations with the care team (one of them with --thread).
    Messages {
        #[arg(long)]
        thread: Option<String>,
    },
    /// Write to the care team; works offline (sent at the next sync).
    Send {
        /// The conversation to answer; without it a new one starts.
        #[arg(long)]
        thread: Option<String>,
        /// For a new conversation: clinical, scheduling, medications, billing or other.
        #[arg(long)]
        kind: Option<String>,
        text: String,
    },
    /// Try again what failed to send.
    Retry,
    /// Questionnaires the care team asked for.
    Due,
    /// Answer a questionnaire: answers as JSON ({"linkId": answer, …}) in a file.
    Answer {
        /// The task of the questionnaire (see `carecycle due`).
        task: String,
        #[arg(long)]
        answers: PathBuf,
    },
    /// Search messages and reading.
    Search { words: String },
    /// Sign out of this record: revoke the sign-in and delete its data from this device.
    SignOut {
        /// Sign out even though some items have not been sent (they are lost).
        #[arg(long)]
        force: bool,
    },
}

fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARECYCLE_DATA_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".local/share/carecycle")
}

fn say(text: &str) {
    let _ = writeln!(std::io::stdout(), "{text}");
}

/// A closed set's code as the JSON output and the UI spell it ("pending", "overdue").
fn code<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn json_out<T: serde::Serialize>(value: &T) {
    say(&serde_json::to_string_pretty(value).unwrap_or_default());
}

#[tokio::main]
async fn main() -> ExitCode {
    carecycle_log::init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "carecycle: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CoreError> {
    let core = CareCycle::new(CoreConfig {
        data_dir: cli.data_dir.clone().unwrap_or_else(default_data_dir),
        vault: carecycle_core::secrets::Vault::platform().map_err(|e| e.to_string()),
        clock: Arc::new(SystemClock),
        browser: Arc::new(SystemBrowser),
        return_path: carecycle_core::smart::ReturnPath::Loopback,
        server_choices: Vec::<ServerChoice>::new(),
    })?;
    let profile = || async {
        let overview = core.overview().await?;
        match &cli.profile {
            Some(p) => Ok(p.clone()),
            None => match overview.profiles.as_slice() {
                [only] => Ok(only.id.clone()),
                [] => Err(CoreError::NotSignedIn),
                _ => Err(CoreError::InvalidInput(Invalid::malformed(
                    "there are several records here: choose one with --profile (see `carecycle profiles`)",
                ))),
            },
        }
    };
    match cli.command {
        Command::Connect {
            fhir_base_url,
            token,
            patient,
        } => {
            let summary = match (token, patient) {
                (token, Some(patient)) => {
                    core.connect_with_token(&fhir_base_url, token.as_deref(), &patient)
                        .await?
                }
                (Some(_), None) => {
                    return Err(CoreError::InvalidInput(Invalid::malformed(
                        "--token needs --patient with the record's id",
                    )));
                }
                (None, None) => core.sign_in(&fhir_base_url).await?,
            };
            if cli.json {
                json_out(&summary);
            } else {
                say(&format!(
                    "connected: profile {} ({})",
                    summary.id, summary.server_label
                ));
            }
        }
        Command::Profiles => {
            let overview = core.overview().await?;
            if cli.json {
                json_out(&overview.profiles);
            } else {
                for p in overview.profiles {
                    say(&format!(
                        "{}  {}  {}",
                        p.id,
                        p.server_label,
                        p.patient_name.unwrap_or_default()
                    ));
                }
            }
        }
        Command::Sync => {
            let report = core.sync(&profile().await?).await?;
            if cli.json {
                json_out(&report);
            } else {
                say(&format!(
                    "sent {}, received {}",
                    report.sent, report.received
                ));
                for f in &report.failures {
                    say(&format!(
                        "could not bring {}: {}",
                        f.resource_type, f.message
                    ));
                }
            }
            if !report.failures.is_empty() {
                return Err(CoreError::Network(
                    "part of the record could not be brought up to date".into(),
                ));
            }
        }
        Command::Status => {
            let status = core.sync_status(&profile().await?).await?;
            if cli.json {
                json_out(&status);
            } else {
                say(&format!(
                    "last synced: {}; waiting to send: {}; failed: {}; conflicts: {}",
                    status.last_synced.as_deref().unwrap_or("never"),
                    status.pending,
                    status.failed,
                    status.conflicts
                ));
            }
        }
        Command::Today => {
            let today = core.today(&profile().await?).await?;
            if cli.json {
                json_out(&today);
            } else {
                say(today
                    .patient_name
                    .as_deref()
                    .unwrap_or("(no name on the record)"));
                if let Some(phase) = &today.phase {
                    say(&format!(
                        "Now: {} (step {} of {})",
                        phase.title, phase.position, phase.count
                    ));
                }
                for s in &today.next_steps {
                    say(&format!(
                        "  {} {}  {}",
                        s.date,
                        s.time.as_deref().unwrap_or(""),
                        s.title
                    ));
                }
                if let Some(c) = &today.coordinator {
                    say(&format!(
                        "Your care coordinator: {} ({})",
                        c.name,
                        c.role.as_deref().unwrap_or("care coordinator")
                    ));
                }
            }
        }
        Command::Messages { thread } => {
            let threads = core.messages(&profile().await?).await?;
            let chosen: Vec<_> = match &thread {
                Some(t) => threads
                    .into_iter()
                    .filter(|x| x.summary.id == *t || x.summary.id == format!("Communication/{t}"))
                    .collect(),
                None => threads,
            };
            if thread.is_some() && chosen.is_empty() {
                return Err(CoreError::InvalidInput(Invalid::malformed(
                    "no such conversation on this device",
                )));
            }
            if cli.json {
                json_out(&chosen);
            } else {
                for t in &chosen {
                    let waiting = match (&t.summary.answered_by, &t.summary.reply_due) {
                        (Some(who), Some(due)) => format!(
                            " — {who} will answer by {due}{}",
                            if t.summary.overdue { " (late)" } else { "" }
                        ),
                        _ => String::new(),
                    };
                    let subject = t.summary.subject.clone().unwrap_or_else(|| {
                        carecycle_core::words::kind_label(core.language(), &t.summary.kind)
                    });
                    say(&format!("{}  {subject}{waiting}", t.summary.id));
                    if thread.is_some() {
                        for m in &t.messages {
                            let who = if m.from_me {
                                "me".to_owned()
                            } else {
                                m.sender.clone().unwrap_or_else(|| "care team".into())
                            };
                            say(&format!("  [{}] {who}: {}", code(&m.state), m.text));
                        }
                    }
                }
            }
        }
        Command::Send { thread, kind, text } => {
            // Guidance first, as the app shows it before sending; the message still goes.
            if let Some(g) = core.check_urgent(&text, "en") {
                let _ = writeln!(std::io::stderr(), "!! {}: {}", g.title, g.advice);
                for (label, number) in &g.calls {
                    let _ = writeln!(std::io::stderr(), "   Call {label}: {number}");
                }
            }
            let id = core
                .send_message(&profile().await?, thread, kind, text)
                .await?;
            if cli.json {
                json_out(&serde_json::json!({"id": id, "state": "pending"}));
            } else {
                say(&format!("queued {id}: it goes out with the next sync"));
            }
        }
        Command::Due => {
            let due = core.due_questionnaires(&profile().await?).await?;
            if cli.json {
                json_out(&due);
            } else {
                for d in due {
                    say(&format!(
                        "{}  [{}]  {}  until {}",
                        d.task_id,
                        code(&d.state),
                        d.title.as_deref().unwrap_or("(untitled questionnaire)"),
                        d.closes.as_deref().unwrap_or("-")
                    ));
                }
            }
        }
        Command::Answer { task, answers } => {
            let text = std::fs::read_to_string(&answers).map_err(|e| {
                CoreError::InvalidInput(Invalid::malformed(format!(
                    "cannot read {}: {e}",
                    answers.display()
                )))
            })?;
            let answers: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                CoreError::InvalidInput(Invalid::malformed(format!(
                    "{} is not JSON: {e}",
                    answers.display()
                )))
            })?;
            let done = core
                .answer_questionnaire(&profile().await?, task, answers)
                .await?;
            if cli.json {
                json_out(&done);
            } else {
                for flag in &done.red_flags {
                    say(&format!("!! {}\n   {}", flag.title.en, flag.guidance.en));
                    if let Some(call) = &flag.call {
                        say(&format!("   Call {}: {}", call.label.en, call.number));
                    }
                }
                for s in &done.scores {
                    if let carecycle_prom::ScoreOutcome::Scored(s) = s {
                        say(&format!(
                            "{}: {} {} — {} {}",
                            s.scale_name,
                            s.value,
                            s.unit,
                            s.band.as_ref().map(|b| b.label.as_str()).unwrap_or(""),
                            s.direction.words()
                        ));
                    }
                }
                say(&format!(
                    "saved {}: it goes out with the next sync",
                    done.response_id
                ));
            }
        }
        Command::Search { words } => {
            let hits = core.search(&profile().await?, words).await?;
            if cli.json {
                json_out(&hits);
            } else {
                for h in hits {
                    say(&format!("{}  {}  {}", h.id, h.title, h.snippet));
                }
            }
        }
        Command::SignOut { force } => {
            let id = profile().await?;
            let status = core.sync_status(&id).await?;
            let unsent = status.pending + status.failed + status.conflicts;
            if unsent > 0 && !force {
                return Err(CoreError::InvalidInput(Invalid::malformed(format!(
                    "{unsent} items have not reached your care team; sync first, or sign out with --force to lose them"
                ))));
            }
            core.sign_out(&id).await?;
            say("signed out; this record's data is gone from this device");
        }
        Command::Retry => {
            let n = core.retry_failed(&profile().await?).await?;
            say(&format!("{n} items will be tried again at the next sync"));
        }
    }
    Ok(())
}
