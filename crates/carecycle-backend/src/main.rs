//! `carecycle-backend`: run the reference IPU back end.

use carecycle_backend::store::{Db, Stamper};
use carecycle_backend::{Seed, ServerOptions, start, team};
use carecycle_fhir::time::SystemClock;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "carecycle-backend",
    version,
    about = "CareCycle reference IPU back end (SMART on FHIR R4)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve FHIR R4 and SMART authorization on a loopback address.
    Serve {
        /// Address to listen on; port 0 picks a free port (the address is printed).
        #[arg(long, default_value = "127.0.0.1:8710")]
        addr: SocketAddr,
        /// Directory for the database; data survives restarts.
        #[arg(long)]
        data: PathBuf,
        /// Seed data to load on first start.
        #[arg(long, value_enum)]
        seed: Option<SeedArg>,
    },
    /// The care team's side: messages, schedule, questionnaires, family access.
    Team {
        /// The server's data directory.
        #[arg(long)]
        data: PathBuf,
        /// The care-team user to act as (e.g. priya in the demo).
        #[arg(long = "as")]
        as_user: String,
        #[command(subcommand)]
        command: TeamCommand,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SeedArg {
    Demo,
}

#[derive(Subcommand, Debug)]
enum TeamCommand {
    /// List the unit's patients.
    Patients,
    /// Send a message to a patient (into a thread with --thread).
    Send {
        #[arg(long)]
        patient: String,
        #[arg(long)]
        thread: Option<String>,
        /// clinical, scheduling, medications, billing or other (for a new thread).
        #[arg(long)]
        kind: Option<String>,
        text: String,
    },
    /// Publish an appointment (or update one with --id).
    Appointment {
        #[arg(long)]
        patient: String,
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        title: String,
        /// Start with its offset, e.g. 2026-12-02T14:00:00-06:00.
        #[arg(long)]
        start: String,
        #[arg(long, default_value_t = 30)]
        minutes: i64,
        #[arg(long)]
        place: Option<String>,
        /// Practitioner id (default: you).
        #[arg(long)]
        with: Option<String>,
        #[arg(long)]
        prepare: Option<String>,
    },
    /// Publish a checklist activity (or update one with --id).
    Activity {
        #[arg(long)]
        patient: String,
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        title: String,
        /// Due day (YYYY-MM-DD).
        #[arg(long)]
        due: String,
        #[arg(long)]
        how: Option<String>,
    },
    /// Move the procedure date and every future date anchored to it.
    MoveSurgery {
        #[arg(long)]
        patient: String,
        /// The new day (YYYY-MM-DD).
        #[arg(long)]
        to: String,
    },
    /// Assign a questionnaire with a window (dates or date-times).
    Assign {
        #[arg(long)]
        patient: String,
        #[arg(long)]
        questionnaire: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        title: Option<String>,
    },
    /// Publish a markdown education document for a phase of the patient's care.
    Publish {
        #[arg(long)]
        patient: String,
        #[arg(long)]
        phase: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        file: PathBuf,
        #[arg(long, default_value = "en")]
        language: String,
    },
    /// Add a family member who signs in with their own username.
    AddProxy {
        #[arg(long)]
        patient: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        given: String,
        #[arg(long)]
        family: String,
        #[arg(long, default_value = "Family member")]
        relationship: String,
        /// Areas: schedule, education, messages, questionnaires (comma-separated).
        #[arg(long, value_delimiter = ',')]
        grant: Vec<String>,
    },
    /// Withdraw a family member's access to one area.
    Revoke {
        #[arg(long)]
        username: String,
        #[arg(long)]
        area: String,
    },
    /// Patient messages waiting for a reply: who answers and by when.
    Inbox,
    /// Questionnaire responses with their scores.
    Responses,
    /// Responses with red flags.
    Flags,
}

impl TeamCommand {
    fn into_command(self) -> Result<team::Command, String> {
        use team::Command as C;
        Ok(match self {
            TeamCommand::Patients => C::Patients,
            TeamCommand::Send {
                patient,
                thread,
                kind,
                text,
            } => C::Send {
                patient,
                thread,
                kind,
                text,
            },
            TeamCommand::Appointment {
                patient,
                id,
                title,
                start,
                minutes,
                place,
                with,
                prepare,
            } => C::Appointment {
                patient,
                id,
                title,
                start,
                minutes,
                place,
                with,
                prepare,
            },
            TeamCommand::Activity {
                patient,
                id,
                title,
                due,
                how,
            } => C::Activity {
                patient,
                id,
                title,
                due,
                how,
            },
            TeamCommand::MoveSurgery { patient, to } => C::MoveSurgery { patient, to },
            TeamCommand::Assign {
                patient,
                questionnaire,
                from,
                to,
                title,
            } => C::Assign {
                patient,
                questionnaire,
                from,
                to,
                title,
            },
            TeamCommand::Publish {
                patient,
                phase,
                title,
                file,
                language,
            } => C::Publish {
                patient,
                phase,
                title,
                markdown: std::fs::read_to_string(&file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?,
                language,
            },
            TeamCommand::AddProxy {
                patient,
                username,
                password,
                given,
                family,
                relationship,
                grant,
            } => C::AddProxy {
                patient,
                username,
                password,
                given,
                family,
                relationship,
                grants: grant,
            },
            TeamCommand::Revoke { username, area } => C::Revoke { username, area },
            TeamCommand::Inbox => C::Inbox,
            TeamCommand::Responses => C::Responses,
            TeamCommand::Flags => C::Flags,
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Team {
            data,
            as_user,
            command,
        } => run_team(&data, &as_user, command),
        Command::Serve { addr, data, seed } => {
            if !addr.ip().is_loopback() {
                tracing::warn!(
                    "listening on a non-loopback address: put TLS in front of this server"
                );
            }
            let options = ServerOptions {
                addr,
                data_dir: Some(data),
                seed: seed.map(|SeedArg::Demo| Seed::Demo),
                clock: Arc::new(SystemClock),
            };
            let server = match start(options).await {
                Ok(server) => server,
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "carecycle-backend: {e}");
                    return ExitCode::FAILURE;
                }
            };
            // Tests and scripts read this line to learn the port.
            let mut out = std::io::stdout();
            let _ = writeln!(
                out,
                "listening on {} (FHIR base {})",
                server.addr,
                server.fhir_base()
            );
            let _ = out.flush();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => server.stop().await,
                _ = terminate() => {}
            }
            ExitCode::SUCCESS
        }
    }
}

fn run_team(data: &std::path::Path, as_user: &str, command: TeamCommand) -> ExitCode {
    let fail = |message: String| {
        let _ = writeln!(std::io::stderr(), "carecycle-backend team: {message}");
        ExitCode::FAILURE
    };
    let path = data.join(carecycle_backend::DATABASE_FILE);
    if !path.exists() {
        return fail(format!(
            "no database in {} (start the server with --data there first)",
            data.display()
        ));
    }
    let command = match command.into_command() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let db = match Db::open(&path) {
        Ok(db) => db,
        Err(e) => return fail(e.to_string()),
    };
    let stamper = match Stamper::new(Arc::new(SystemClock), &db) {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    match team::run(&db, &stamper, as_user, command) {
        Ok(out) => {
            let _ = write!(std::io::stdout(), "{out}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e.to_string()),
    }
}

#[cfg(unix)]
async fn terminate() {
    if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        s.recv().await;
    }
}

#[cfg(not(unix))]
async fn terminate() {
    std::future::pending::<()>().await
}
