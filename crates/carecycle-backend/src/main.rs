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
        command: Box<team::Command>,
    },
    /// Print the access policy table (markdown), as the README shows it.
    Policy,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SeedArg {
    /// The demo units, their teams and patients.
    Demo,
    /// The demo, plus a knee patient with a one-year record (the record
    /// generator's: 2,000 messages, 300 activities, 60 responses, 120 documents).
    Year,
}

#[tokio::main]
async fn main() -> ExitCode {
    carecycle_log::init();
    let cli = Cli::parse();
    match cli.command {
        Command::Policy => {
            let _ = write!(
                std::io::stdout(),
                "{}",
                carecycle_backend::policy::markdown()
            );
            ExitCode::SUCCESS
        }
        Command::Team {
            data,
            as_user,
            command,
        } => run_team(&data, &as_user, *command),
        Command::Serve { addr, data, seed } => {
            if !addr.ip().is_loopback() {
                tracing::warn!(
                    "listening on a non-loopback address: put TLS in front of this server"
                );
            }
            let options = ServerOptions {
                addr,
                data_dir: Some(data),
                seed: seed.map(|s| match s {
                    SeedArg::Demo => Seed::Demo,
                    SeedArg::Year => Seed::Year,
                }),
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

fn run_team(data: &std::path::Path, as_user: &str, command: team::Command) -> ExitCode {
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
