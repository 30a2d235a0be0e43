//! Errors of the core, classified by cause, and the closed set of codes the UI
//! turns into a sentence a patient understands.

use serde::Serialize;
use ts_rs::TS;

/// Why something failed, as the UI sees it. Closed: the UI has a sentence for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    /// No profile, or the profile's sign-in is gone: sign in again.
    NotSignedIn,
    /// The server rejected our sign-in (expired or revoked): sign in again.
    SessionExpired,
    /// The sign-in in the browser failed or was refused.
    SignInFailed,
    /// The browser sign-in did not come back in time.
    SignInTimedOut,
    /// The OS keyring cannot be used; nothing is stored without it.
    KeyringUnavailable,
    /// The server could not be reached (offline, wrong address, down).
    Offline,
    /// The server answered with an error.
    ServerError,
    /// The address given is not a usable FHIR server.
    NotAFhirServer,
    /// Input that cannot be accepted as it is; nothing was lost.
    InvalidInput,
    /// What was asked for is not on this device (not synced yet, or gone).
    NotFound,
    /// The local database cannot be opened (wrong key or damaged).
    StoreUnavailable,
    /// The app is locked: unlock it to see the record.
    Locked,
    /// Something that should not happen; details are in the log.
    Internal,
}

/// What was wrong with the patient's input, as a reason with its figures: the
/// UI words it in the patient's language (the core words it only for logs and
/// the command line, in English, through `Display`). Closed: the UI has a
/// sentence for each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[serde(
    tag = "reason",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Invalid {
    #[error("the server address must start with https:// (plain http only on this computer)")]
    NotHttps,
    #[error("that is not a web address")]
    NotAnAddress,
    #[error("the app can lock after {min} to {max} minutes")]
    LockMinutes { min: u32, max: u32 },
    #[error("the file could not be read")]
    FileUnreadable,
    #[error("the file is empty")]
    FileEmpty,
    /// `tenths_of_mb`: the file's size in tenths of a megabyte (72 is 7.2 MB).
    #[error("the file is {tenths_of_mb} tenths of a MB and the limit is {limit_mb} MB")]
    FileTooLarge { tenths_of_mb: u32, limit_mb: u32 },
    #[error("only photos (JPEG, PNG, HEIC) and PDF documents can be attached")]
    FileType,
    #[error("the message is empty")]
    MessageEmpty,
    #[error("the message is longer than {limit} characters")]
    MessageTooLong { limit: u32 },
    #[error("this questionnaire is already answered")]
    AlreadyAnswered,
    /// Answers the form itself would have flagged (the patient sees each on its question).
    #[error("{count} answers still need attention")]
    Unfinished { count: u32 },
    #[error("that folder already holds too many files of this name")]
    FolderFull,
    #[error("there is no Downloads folder to save to")]
    NoDownloadFolder,
    /// A request the app's own screens never make (a wrong code, id or shape):
    /// `what` says what, in English, for whoever called the core directly.
    #[error("{what}")]
    Malformed { what: String },
}

impl Invalid {
    pub fn malformed(what: impl Into<String>) -> Invalid {
        Invalid::Malformed { what: what.into() }
    }
}

/// What crosses the command boundary: `{code, message}`, and for input that
/// cannot be accepted, `invalid`: why, for the UI to word. The message is
/// safe to show and carries no health information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub invalid: Option<Invalid>,
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("no profile with id {0}")]
    NoProfile(String),
    #[error("this profile has no saved sign-in")]
    NotSignedIn,
    #[error("the server no longer accepts this sign-in: {0}")]
    SessionExpired(String),
    #[error("sign-in failed: {0}")]
    SignIn(String),
    #[error("the sign-in was not completed within {0} seconds")]
    SignInTimedOut(u64),
    #[error("the system keyring is not available: {0}")]
    Keyring(String),
    #[error("could not reach the server: {0}")]
    Network(String),
    #[error("the server answered {status}: {message}")]
    Server { status: u16, message: String },
    #[error("{0}")]
    NotAFhirServer(String),
    #[error("{0}")]
    InvalidInput(Invalid),
    /// What a command names is not on this device ("that reading").
    #[error("{0} is not on this device")]
    NotHere(&'static str),
    #[error("the local database cannot be opened: {0}")]
    StoreLocked(String),
    #[error("local database error: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("data error: {0}")]
    Data(String),
    /// JSON that could not be written or read back (its message names a
    /// position, never the content).
    #[error("data error: {0}")]
    Json(#[from] serde_json::Error),
    #[error("CareCycle is locked")]
    Locked,
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
}

impl CoreError {
    pub fn code(&self) -> ErrorCode {
        match self {
            CoreError::NoProfile(_) | CoreError::NotSignedIn => ErrorCode::NotSignedIn,
            CoreError::SessionExpired(_) => ErrorCode::SessionExpired,
            CoreError::SignIn(_) => ErrorCode::SignInFailed,
            CoreError::SignInTimedOut(_) => ErrorCode::SignInTimedOut,
            CoreError::Keyring(_) => ErrorCode::KeyringUnavailable,
            CoreError::Network(_) => ErrorCode::Offline,
            CoreError::Server { .. } => ErrorCode::ServerError,
            CoreError::NotAFhirServer(_) => ErrorCode::NotAFhirServer,
            CoreError::InvalidInput(_) => ErrorCode::InvalidInput,
            CoreError::NotHere(_) => ErrorCode::NotFound,
            CoreError::StoreLocked(_) => ErrorCode::StoreUnavailable,
            CoreError::Locked => ErrorCode::Locked,
            CoreError::Store(_) | CoreError::Data(_) | CoreError::Json(_) | CoreError::Io(_) => {
                ErrorCode::Internal
            }
        }
    }

    /// Transport failures from reqwest, without the URL (it can carry a patient id).
    pub fn network(e: reqwest::Error) -> CoreError {
        let e = e.without_url();
        if e.is_timeout() {
            CoreError::Network("the server did not answer in time".into())
        } else if e.is_connect() {
            CoreError::Network("could not connect".into())
        } else if e.is_decode() {
            CoreError::Data(format!("the server's answer could not be read: {e}"))
        } else {
            CoreError::Network(e.to_string())
        }
    }
}

impl From<CoreError> for CommandError {
    fn from(e: CoreError) -> Self {
        CommandError {
            code: e.code(),
            message: e.to_string(),
            invalid: match e {
                CoreError::InvalidInput(why) => Some(why),
                _ => None,
            },
        }
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
