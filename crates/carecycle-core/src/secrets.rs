//! Secrets (tokens, database keys) live only in the OS keyring (see
//! [`Vault::platform`] for each platform's). When no keyring is
//! usable the caller gets a clear error; nothing ever falls back to a file.

use crate::error::{CoreError, Result};
use keyring_core::{CredentialStore, Entry};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The keyring service under which every CareCycle secret is filed.
pub const SERVICE: &str = carecycle_fhir::APP_IDENTIFIER;

/// What a secret is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// The key of a profile's encrypted database.
    DatabaseKey,
    /// The profile's OAuth tokens (JSON).
    Tokens,
    /// The app passcode's Argon2id hash and wrong tries (JSON; see [`crate::lock`]).
    Passcode,
}

impl SecretKind {
    fn name(self) -> &'static str {
        match self {
            SecretKind::DatabaseKey => "db-key",
            SecretKind::Tokens => "tokens",
            SecretKind::Passcode => "passcode",
        }
    }
}

/// Entries built so far, by profile and kind.
type EntryCache = Arc<Mutex<HashMap<(String, SecretKind), Arc<Entry>>>>;

/// A handle on one credential store. Entries are kept for the life of the vault
/// (some stores, like the mock used in unit tests, keep a secret only as long as
/// its entry lives).
#[derive(Clone)]
pub struct Vault {
    store: Arc<CredentialStore>,
    entries: EntryCache,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("store", &self.store.vendor())
            .finish()
    }
}

fn keyring_error(e: keyring_core::Error) -> CoreError {
    // The error's Display never includes the secret itself.
    CoreError::Keyring(e.to_string())
}

impl Vault {
    pub fn with_store(store: Arc<CredentialStore>) -> Vault {
        Vault {
            store,
            entries: Arc::default(),
        }
    }

    /// The platform's keyring, chosen here and nowhere else. Fails (rather than
    /// falling back to anything) when the platform has none that works.
    ///
    /// | platform | store |
    /// |---|---|
    /// | Linux, BSDs | Secret Service (GNOME Keyring, KWallet) over D-Bus |
    /// | macOS | the login keychain |
    /// | iOS | the data-protection keychain, this device only |
    /// | Android | SharedPreferences sealed with an Android Keystore key |
    /// | Windows | the Credential Manager |
    ///
    /// Linux's kernel keyutils store is not used: its keys do not survive a
    /// reboot, and losing the database key would lose the record.
    pub fn platform() -> Result<Vault> {
        #[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
        let store: Arc<CredentialStore> =
            zbus_secret_service_keyring_store::Store::new().map_err(keyring_error)?;
        #[cfg(target_os = "macos")]
        let store: Arc<CredentialStore> =
            apple_native_keyring_store::keychain::Store::new().map_err(keyring_error)?;
        #[cfg(target_os = "ios")]
        let store: Arc<CredentialStore> =
            apple_native_keyring_store::protected::Store::new().map_err(keyring_error)?;
        #[cfg(target_os = "android")]
        let store: Arc<CredentialStore> =
            android_native_keyring_store::Store::new().map_err(keyring_error)?;
        #[cfg(target_os = "windows")]
        let store: Arc<CredentialStore> =
            windows_native_keyring_store::Store::new().map_err(keyring_error)?;
        #[cfg(not(any(
            target_os = "linux",
            target_os = "freebsd",
            target_os = "openbsd",
            target_os = "macos",
            target_os = "ios",
            target_os = "android",
            target_os = "windows"
        )))]
        return Err(CoreError::Keyring(
            "no supported keyring on this platform".into(),
        ));
        #[allow(unreachable_code)]
        Ok(Vault::with_store(store))
    }

    fn entry(&self, profile: &str, kind: SecretKind) -> Result<Arc<Entry>> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| CoreError::Keyring("keyring handle poisoned".into()))?;
        if let Some(entry) = entries.get(&(profile.to_owned(), kind)) {
            return Ok(entry.clone());
        }
        let user = format!("{profile}/{}", kind.name());
        let entry = Arc::new(
            self.store
                .build(SERVICE, &user, None)
                .map_err(keyring_error)?,
        );
        entries.insert((profile.to_owned(), kind), entry.clone());
        Ok(entry)
    }

    pub fn get(&self, profile: &str, kind: SecretKind) -> Result<Option<Secret>> {
        match self.entry(profile, kind)?.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error(e)),
        }
    }

    pub fn set(&self, profile: &str, kind: SecretKind, value: &str) -> Result<()> {
        self.entry(profile, kind)?
            .set_password(value)
            .map_err(keyring_error)
    }

    pub fn delete(&self, profile: &str, kind: SecretKind) -> Result<()> {
        match self.entry(profile, kind)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(e)),
        }
    }

    /// Proves the keyring works end to end (write, read back, delete), so a
    /// broken keyring is reported at start-up rather than after a sign-in.
    pub fn check(&self) -> Result<()> {
        let probe = "health-check";
        self.set(probe, SecretKind::Tokens, "ok")?;
        let read = self.get(probe, SecretKind::Tokens)?;
        self.delete(probe, SecretKind::Tokens)?;
        match read {
            Some(v) if v.expose() == "ok" => Ok(()),
            _ => Err(CoreError::Keyring(
                "the keyring did not return what was stored".into(),
            )),
        }
    }
}

/// A secret string: wiped from memory on drop (`zeroize`), never printed.
pub struct Secret(zeroize::Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(zeroize::Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mock_vault() -> Vault {
        Vault::with_store(keyring_core::mock::Store::new().unwrap())
    }

    #[test]
    fn set_get_delete() {
        let vault = mock_vault();
        assert!(vault.get("p1", SecretKind::Tokens).unwrap().is_none());
        vault.set("p1", SecretKind::Tokens, "t").unwrap();
        assert_eq!(
            vault
                .get("p1", SecretKind::Tokens)
                .unwrap()
                .unwrap()
                .expose(),
            "t"
        );
        assert!(vault.get("p1", SecretKind::DatabaseKey).unwrap().is_none());
        vault.delete("p1", SecretKind::Tokens).unwrap();
        assert!(vault.get("p1", SecretKind::Tokens).unwrap().is_none());
        vault.check().unwrap();
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", Secret::new("tok".into())), "Secret(…)");
    }
}
