//! The list of records on this device. It holds no health information: an id,
//! the server's address and the label the person chose it by. Everything else
//! lives in each profile's encrypted database.

use crate::error::{CoreError, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileEntry {
    pub id: String,
    pub server_label: String,
    pub fhir_base_url: String,
}

#[derive(Debug, Clone)]
pub struct ProfileList {
    path: PathBuf,
}

impl ProfileList {
    pub fn new(data_dir: &Path) -> ProfileList {
        ProfileList {
            path: data_dir.join("profiles.json"),
        }
    }

    pub fn load(&self) -> Result<Vec<ProfileEntry>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| CoreError::Data(format!("the profile list is damaged: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the list atomically.
    pub fn save(&self, profiles: &[ProfileEntry]) -> Result<()> {
        write_json(&self.path, profiles)
    }

    pub fn database_path(data_dir: &Path, profile_id: &str) -> PathBuf {
        data_dir.join("profiles").join(format!("{profile_id}.db"))
    }
}

/// Writes JSON atomically (write aside, then rename).
fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(value)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Choices that belong to this device, not to a record: the app's language,
/// when it locks. No health information.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSettings {
    /// "en" or "es"; None follows the system language.
    pub language: Option<String>,
    /// Minutes without input before the app locks; None: the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_minutes: Option<u32>,
}

impl DeviceSettings {
    fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("settings.json")
    }

    /// The saved settings; damaged or missing settings are the defaults.
    pub fn load(data_dir: &Path) -> DeviceSettings {
        std::fs::read(Self::path(data_dir))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, data_dir: &Path) -> Result<()> {
        std::fs::create_dir_all(data_dir)?;
        write_json(&Self::path(data_dir), self)
    }
}
