//! The app lock: when the app hides the record behind its lock screen, how
//! wrong passcodes slow down, which passcodes are acceptable, and how a
//! passcode is kept. The rules here are pure (time is passed in); the part at
//! the end connects them to the keyring vault and the device settings.
//!
//! - **When.** After `timeout` with no input from the person (default 5
//!   minutes, 1–30 to choose), or when the window has been hidden or in the
//!   background that long, every record locks. The app starts locked. A record
//!   is unlocked by its passcode, or by signing in to it at its server.
//! - **Passcode.** At least [`MIN_LENGTH`] characters (digits or anything
//!   else), not one repeated character and not a run like 123456. Six is what
//!   phones ask for, and it is enough here because it is throttled (below) and
//!   guards only the screen: the database key stays in the OS keyring and is
//!   not derived from it. It is kept only as an Argon2id hash (PHC string,
//!   random salt) in the OS keyring, per record, with the count of wrong
//!   tries, so quitting the app does not reset the wait.
//! - **Slowing down.** [`Backoff::STANDARD`]: three free tries (typos), then a
//!   wait that doubles from 30 seconds up to 15 minutes; from the tenth wrong
//!   passcode in a row the app offers to sign out of that record (its data is
//!   wiped from the device; the server keeps everything).
//! - **Phones.** Platform biometrics (`tauri-plugin-biometric`, with the mobile
//!   work) will unlock through [`CareCycle::unlock_verified`]: the shell proves
//!   the person, this module opens the record.

use crate::error::{CoreError, Invalid, Result};
use crate::secrets::{SecretKind, Vault};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use ts_rs::TS;

/// The lock timeout a new device starts with, and the range a patient may choose.
pub const DEFAULT_MINUTES: u32 = 5;
pub const MIN_MINUTES: u32 = 1;
pub const MAX_MINUTES: u32 = 30;

/// Passcode length bounds, in characters.
pub const MIN_LENGTH: usize = 6;
/// Long enough for a passphrase, short enough that hashing stays bounded.
pub const MAX_LENGTH: usize = 64;

/// The timeout for `minutes`, when the patient may choose it.
pub fn timeout_of_minutes(minutes: u32) -> Result<SignedDuration> {
    if !(MIN_MINUTES..=MAX_MINUTES).contains(&minutes) {
        return Err(CoreError::InvalidInput(Invalid::LockMinutes {
            min: MIN_MINUTES,
            max: MAX_MINUTES,
        }));
    }
    Ok(SignedDuration::from_mins(i64::from(minutes)))
}

/// Which records are open on screen, and since when nobody touched the app.
/// Everything starts locked.
#[derive(Debug, Clone)]
pub struct LockPolicy {
    timeout: SignedDuration,
    last_activity: Timestamp,
    hidden_since: Option<Timestamp>,
    unlocked: BTreeSet<String>,
}

impl LockPolicy {
    pub fn new(timeout: SignedDuration, now: Timestamp) -> LockPolicy {
        LockPolicy {
            timeout,
            last_activity: now,
            hidden_since: None,
            unlocked: BTreeSet::new(),
        }
    }

    pub fn timeout(&self) -> SignedDuration {
        self.timeout
    }

    pub fn set_timeout(&mut self, timeout: SignedDuration) {
        self.timeout = timeout;
    }

    /// Idle, or hidden, for the whole timeout.
    fn expired(&self, now: Timestamp) -> bool {
        let longer = |since: Timestamp| now.duration_since(since) >= self.timeout;
        longer(self.last_activity) || self.hidden_since.is_some_and(longer)
    }

    /// Whether `profile` must not be shown at `now`.
    pub fn is_locked(&self, profile: &str, now: Timestamp) -> bool {
        !self.unlocked.contains(profile) || self.expired(now)
    }

    /// Whether some record is open (the app is in use).
    pub fn any_unlocked(&self, now: Timestamp) -> bool {
        !self.unlocked.is_empty() && !self.expired(now)
    }

    /// The person used the app. Too late once the timeout has passed: the
    /// lock stands (a late report cannot reopen it).
    pub fn activity(&mut self, now: Timestamp) {
        if self.expired(now) {
            return;
        }
        self.last_activity = self.last_activity.max(now);
        // Input means the window is in front again.
        self.hidden_since = None;
    }

    /// The window was hidden, minimised or left for another one.
    pub fn hidden(&mut self, now: Timestamp) {
        self.hidden_since.get_or_insert(now);
    }

    /// The window is back: locks at once if it was away too long. True when
    /// that locked something.
    pub fn shown(&mut self, now: Timestamp) -> bool {
        let locked = self.tick(now);
        self.hidden_since = None;
        locked
    }

    /// Locks everything once the timeout has passed. True when that locked
    /// something (the moment to tell the UI).
    pub fn tick(&mut self, now: Timestamp) -> bool {
        if self.expired(now) {
            self.lock_all()
        } else {
            false
        }
    }

    /// Locks every record now. True when something was open.
    pub fn lock_all(&mut self) -> bool {
        let was_open = !self.unlocked.is_empty();
        self.unlocked.clear();
        was_open
    }

    /// Opens `profile` (its passcode was right, or the person signed in).
    pub fn unlock(&mut self, profile: &str, now: Timestamp) {
        if self.expired(now) {
            self.unlocked.clear();
        }
        self.unlocked.insert(profile.to_owned());
        self.last_activity = now;
        self.hidden_since = None;
    }

    /// The profile is gone (signed out).
    pub fn forget(&mut self, profile: &str) {
        self.unlocked.remove(profile);
    }
}

/// How wrong passcodes slow down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wrong tries allowed before any wait.
    pub free_tries: u32,
    /// The first wait; each further wrong try doubles it.
    pub first_wait: SignedDuration,
    pub longest_wait: SignedDuration,
    /// From this many wrong tries in a row, offer to sign out of the record.
    pub offer_sign_out_after: u32,
}

impl Backoff {
    pub const STANDARD: Backoff = Backoff {
        free_tries: 3,
        first_wait: SignedDuration::from_secs(30),
        longest_wait: SignedDuration::from_secs(15 * 60),
        offer_sign_out_after: 10,
    };

    /// The wait after `failures` wrong tries in a row.
    pub fn wait_after(&self, failures: u32) -> SignedDuration {
        if failures < self.free_tries {
            return SignedDuration::ZERO;
        }
        let doublings = (failures - self.free_tries).min(30);
        let factor = 1_i32.checked_shl(doublings).unwrap_or(i32::MAX);
        self.first_wait
            .checked_mul(factor)
            .unwrap_or(self.longest_wait)
            .min(self.longest_wait)
    }
}

/// What is wrong with a new passcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum PasscodeProblem {
    /// Fewer than [`MIN_LENGTH`] characters.
    TooShort,
    /// More than [`MAX_LENGTH`] characters.
    TooLong,
    /// One character repeated, or a run like 123456 or 654321.
    TooSimple,
}

/// Whether `passcode` may be chosen.
pub fn check_passcode(passcode: &str) -> Option<PasscodeProblem> {
    let chars: Vec<char> = passcode.chars().collect();
    if chars.len() < MIN_LENGTH {
        return Some(PasscodeProblem::TooShort);
    }
    if chars.len() > MAX_LENGTH {
        return Some(PasscodeProblem::TooLong);
    }
    let steps: Vec<i64> = chars
        .windows(2)
        .map(|w| i64::from(u32::from(w[1])) - i64::from(u32::from(w[0])))
        .collect();
    let one_step = |d: i64| steps.iter().all(|s| *s == d);
    if one_step(0) || one_step(1) || one_step(-1) {
        return Some(PasscodeProblem::TooSimple);
    }
    None
}

/// An Argon2id hash (PHC string) of `passcode` with a fresh random salt.
pub fn hash_passcode(passcode: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| CoreError::Data(format!("passcode salt: {e}")))?;
    Argon2::default()
        .hash_password(passcode.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CoreError::Data(format!("passcode hash: {e}")))
}

fn passcode_matches(hash: &str, passcode: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(passcode.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// What the keyring keeps for one record: the passcode's hash and the wrong
/// tries in a row (so a restart does not reset the wait).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasscodeRecord {
    pub hash: String,
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub last_failure: Option<Timestamp>,
}

/// What came of a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum UnlockOutcome {
    Unlocked,
    /// Not the passcode; the try counts.
    Wrong,
    /// A wait is running: the passcode was not even looked at.
    TooSoon,
    /// This record has no passcode: sign in to it again.
    NoPasscode,
}

impl PasscodeRecord {
    pub fn new(hash: String) -> PasscodeRecord {
        PasscodeRecord {
            hash,
            failures: 0,
            last_failure: None,
        }
    }

    /// How long before the next try is looked at (zero: now).
    pub fn wait(&self, backoff: &Backoff, now: Timestamp) -> SignedDuration {
        let Some(at) = self.last_failure else {
            return SignedDuration::ZERO;
        };
        let wait = backoff.wait_after(self.failures);
        // A clock set back cannot stretch the wait beyond its length.
        (wait - now.duration_since(at)).clamp(SignedDuration::ZERO, wait)
    }

    pub fn offer_sign_out(&self, backoff: &Backoff) -> bool {
        self.failures >= backoff.offer_sign_out_after
    }

    /// Tries `passcode` at `now`: right resets the count, wrong adds to it,
    /// and during a wait nothing is checked.
    pub fn attempt(&mut self, passcode: &str, backoff: &Backoff, now: Timestamp) -> UnlockOutcome {
        if self.wait(backoff, now) > SignedDuration::ZERO {
            return UnlockOutcome::TooSoon;
        }
        if passcode_matches(&self.hash, passcode) {
            self.failures = 0;
            self.last_failure = None;
            UnlockOutcome::Unlocked
        } else {
            self.failures = self.failures.saturating_add(1);
            self.last_failure = Some(now);
            UnlockOutcome::Wrong
        }
    }
}

/// The lock as the UI sees it for one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LockView {
    /// Show the lock screen, not the record.
    pub locked: bool,
    /// The record has an app passcode (false right after the first sign-in:
    /// ask for one before showing the record).
    pub has_passcode: bool,
    /// Wrong passcodes in a row.
    pub failures: u32,
    /// Seconds before another try is looked at (0: now).
    pub wait_seconds: u32,
    /// Enough wrong tries that signing out of the record is offered.
    pub offer_sign_out: bool,
    /// How long without input before the app locks.
    pub timeout_seconds: u32,
}

/// The answer to a passcode try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct UnlockAnswer {
    pub outcome: UnlockOutcome,
    pub lock: LockView,
}

/// The shell's choices for the lock (tests shorten the times).
#[derive(Debug, Clone, Copy)]
pub struct LockOptions {
    /// Overrides the patient's timeout (debug builds, for tests).
    pub timeout: Option<SignedDuration>,
    pub backoff: Backoff,
}

impl LockOptions {
    /// The patient's timeout and [`Backoff::STANDARD`].
    pub fn standard() -> LockOptions {
        LockOptions {
            timeout: None,
            backoff: Backoff::STANDARD,
        }
    }

    /// Locks after `seconds` whatever the patient chose (for tests).
    pub fn with_timeout_secs(mut self, seconds: u64) -> LockOptions {
        self.timeout = Some(SignedDuration::from_secs(
            i64::try_from(seconds).unwrap_or(i64::MAX),
        ));
        self
    }

    /// Starts the waits after wrong passcodes at `ms` (for tests); they still
    /// double, up to 32 times that.
    pub fn with_first_wait_ms(mut self, ms: u64) -> LockOptions {
        let first = SignedDuration::from_millis(i64::try_from(ms).unwrap_or(i64::MAX));
        self.backoff.first_wait = first;
        self.backoff.longest_wait = first.checked_mul(32).unwrap_or(first);
        self
    }
}

/// The lock of a running app: its policy, and whether the host enforces it
/// (the CLI does not; the window does).
#[derive(Debug)]
pub(crate) struct LockState {
    pub(crate) policy: LockPolicy,
    pub(crate) options: Option<LockOptions>,
}

fn whole_seconds(d: SignedDuration) -> u32 {
    // Round up: "wait 1 second" rather than "0" while any wait remains.
    let s = d.as_secs() + i64::from(d.subsec_nanos() > 0);
    u32::try_from(s.max(0)).unwrap_or(u32::MAX)
}

fn load_record(vault: &Vault, profile: &str) -> Result<Option<PasscodeRecord>> {
    match vault.get(profile, SecretKind::Passcode)? {
        None => Ok(None),
        Some(secret) => serde_json::from_str(secret.expose())
            .map(Some)
            .map_err(|_| CoreError::Data("the app passcode in the keyring is damaged".into())),
    }
}

fn save_record(vault: &Vault, profile: &str, record: &PasscodeRecord) -> Result<()> {
    let json = serde_json::to_string(record)?;
    vault.set(profile, SecretKind::Passcode, &json)
}

impl crate::CareCycle {
    fn lock_state(&self) -> std::sync::MutexGuard<'_, LockState> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn saved_timeout(&self) -> SignedDuration {
        crate::profiles::DeviceSettings::load(&self.data_dir)
            .lock_minutes
            .and_then(|m| timeout_of_minutes(m).ok())
            .unwrap_or(SignedDuration::from_mins(i64::from(DEFAULT_MINUTES)))
    }

    /// Turns the lock on for this app (the window's shell does; the CLI does
    /// not). Every record starts locked.
    pub fn enforce_lock(&self, options: LockOptions) {
        let timeout = options.timeout.unwrap_or_else(|| self.saved_timeout());
        let mut state = self.lock_state();
        state.policy = LockPolicy::new(timeout, self.clock.now());
        state.options = Some(options);
    }

    /// Whether `profile`'s record must not be shown now (never, when the lock
    /// is not enforced).
    pub fn is_locked(&self, profile: &str) -> bool {
        let state = self.lock_state();
        state.options.is_some() && state.policy.is_locked(profile, self.clock.now())
    }

    /// Whether some record is open (or the lock is not enforced).
    pub fn in_use(&self) -> bool {
        let state = self.lock_state();
        state.options.is_none() || state.policy.any_unlocked(self.clock.now())
    }

    /// The person touched the app.
    pub fn still_here(&self) {
        let now = self.clock.now();
        self.lock_state().policy.activity(now);
    }

    /// The window went out of sight (`false`) or came back (`true`). True
    /// when coming back locked the app.
    pub fn window_visible(&self, visible: bool) -> bool {
        let now = self.clock.now();
        let mut state = self.lock_state();
        if visible {
            state.policy.shown(now)
        } else {
            state.policy.hidden(now);
            false
        }
    }

    /// Locks everything when the timeout has passed; true when that locked
    /// something. The shell calls it every second.
    pub fn lock_tick(&self) -> bool {
        let now = self.clock.now();
        let mut state = self.lock_state();
        state.options.is_some() && state.policy.tick(now)
    }

    /// Locks every record now (the patient steps away).
    pub fn lock_now(&self) -> bool {
        self.lock_state().policy.lock_all()
    }

    /// Opens a record the person just proved they may see (signed in to it
    /// at its server, or — on phones — platform biometrics); wrong tries are
    /// forgotten.
    pub fn unlock_verified(&self, profile: &str) -> Result<()> {
        let now = self.clock.now();
        let vault = self.vault()?;
        if let Some(mut record) = load_record(vault, profile)?
            && record.failures > 0
        {
            record.failures = 0;
            record.last_failure = None;
            save_record(vault, profile, &record)?;
        }
        self.lock_state().policy.unlock(profile, now);
        Ok(())
    }

    /// The lock of one record as the lock screen shows it.
    pub fn lock_view(&self, profile: &str) -> Result<LockView> {
        let now = self.clock.now();
        let record = load_record(self.vault()?, profile)?;
        let state = self.lock_state();
        let backoff = state
            .options
            .map(|o| o.backoff)
            .unwrap_or(Backoff::STANDARD);
        Ok(LockView {
            locked: state.options.is_some() && state.policy.is_locked(profile, now),
            has_passcode: record.is_some(),
            failures: record.as_ref().map_or(0, |r| r.failures),
            wait_seconds: record
                .as_ref()
                .map_or(0, |r| whole_seconds(r.wait(&backoff, now))),
            offer_sign_out: record.as_ref().is_some_and(|r| r.offer_sign_out(&backoff)),
            timeout_seconds: whole_seconds(state.policy.timeout()),
        })
    }

    /// Tries the app passcode of `profile`.
    pub fn unlock(&self, profile: &str, passcode: &str) -> Result<UnlockAnswer> {
        let passcode = zeroize::Zeroizing::new(passcode.to_owned());
        let now = self.clock.now();
        let vault = self.vault()?;
        let backoff = self
            .lock_state()
            .options
            .map(|o| o.backoff)
            .unwrap_or(Backoff::STANDARD);
        let outcome = match load_record(vault, profile)? {
            None => UnlockOutcome::NoPasscode,
            Some(mut record) => {
                let outcome = record.attempt(&passcode, &backoff, now);
                if outcome != UnlockOutcome::TooSoon {
                    // Counted before answering, so quitting cannot undo it.
                    save_record(vault, profile, &record)?;
                }
                outcome
            }
        };
        if outcome == UnlockOutcome::Unlocked {
            self.lock_state().policy.unlock(profile, now);
        }
        Ok(UnlockAnswer {
            outcome,
            lock: self.lock_view(profile)?,
        })
    }

    /// Sets (or changes) the app passcode of a record that is open on screen.
    /// Returns what is wrong with it instead, when something is.
    pub fn set_passcode(&self, profile: &str, passcode: &str) -> Result<Option<PasscodeProblem>> {
        let passcode = zeroize::Zeroizing::new(passcode.to_owned());
        if self.is_locked(profile) {
            return Err(CoreError::Locked);
        }
        if let Some(problem) = check_passcode(&passcode) {
            return Ok(Some(problem));
        }
        let record = PasscodeRecord::new(hash_passcode(&passcode)?);
        save_record(self.vault()?, profile, &record)?;
        Ok(None)
    }

    /// Keeps the lock timeout the patient chose, on this device.
    pub fn set_lock_minutes(&self, minutes: u32) -> Result<()> {
        let timeout = timeout_of_minutes(minutes)?;
        let mut settings = crate::profiles::DeviceSettings::load(&self.data_dir);
        settings.lock_minutes = Some(minutes);
        settings.save(&self.data_dir)?;
        let mut state = self.lock_state();
        if state.options.is_none_or(|o| o.timeout.is_none()) {
            state.policy.set_timeout(timeout);
        }
        Ok(())
    }

    /// Forgets a signed-out record's place in the lock.
    pub(crate) fn lock_forget(&self, profile: &str) {
        self.lock_state().policy.forget(profile);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
    const T0: &str = "2026-12-01T09:00:00Z";
    fn secs(n: i64) -> SignedDuration {
        SignedDuration::from_secs(n)
    }
    fn t(n: i64) -> Timestamp {
        at(T0) + secs(n)
    }

    #[test]
    fn everything_starts_locked_and_locks_again_after_the_timeout() {
        let mut p = LockPolicy::new(SignedDuration::from_mins(5), t(0));
        assert!(p.is_locked("a", t(0)));
        p.unlock("a", t(10));
        assert!(!p.is_locked("a", t(10)));
        assert!(p.is_locked("b", t(10)), "another record stays locked");
        // Input keeps it open…
        p.activity(t(200));
        assert!(!p.is_locked("a", t(499)));
        assert!(!p.tick(t(499)));
        // …until five minutes pass without any.
        assert!(
            p.is_locked("a", t(500)),
            "locked at the timeout, even before the tick"
        );
        assert!(p.tick(t(500)), "the tick says it locked");
        assert!(!p.tick(t(501)), "and says so once");
        // A late report of activity does not reopen it.
        p.activity(t(502));
        assert!(p.is_locked("a", t(502)));
    }

    #[test]
    fn a_window_hidden_longer_than_the_timeout_is_locked_when_it_comes_back() {
        let mut p = LockPolicy::new(SignedDuration::from_mins(1), t(0));
        p.unlock("a", t(0));
        p.hidden(t(30));
        p.hidden(t(40)); // the first moment counts
        assert!(!p.shown(t(50)), "back within the minute: still open");
        assert!(!p.is_locked("a", t(50)));
        p.activity(t(55));
        p.hidden(t(60));
        assert!(p.is_locked("a", t(120)), "hidden for a minute");
        assert!(p.shown(t(400)), "coming back locks at once");
        assert!(p.is_locked("a", t(400)));
    }

    #[test]
    fn unlocking_after_the_timeout_opens_only_that_record() {
        let mut p = LockPolicy::new(SignedDuration::from_mins(5), t(0));
        p.unlock("a", t(0));
        p.unlock("b", t(1));
        assert!(p.any_unlocked(t(2)));
        p.unlock("a", t(1000));
        assert!(!p.is_locked("a", t(1000)));
        assert!(p.is_locked("b", t(1000)));
        assert!(p.lock_all());
        assert!(!p.any_unlocked(t(1000)));
        p.unlock("a", t(1001));
        p.forget("a");
        assert!(p.is_locked("a", t(1001)));
    }

    #[test]
    fn a_shorter_timeout_applies_at_once() {
        let mut p = LockPolicy::new(SignedDuration::from_mins(30), t(0));
        p.unlock("a", t(0));
        assert!(!p.is_locked("a", t(120)));
        p.set_timeout(SignedDuration::from_mins(1));
        assert!(p.is_locked("a", t(120)));
    }

    #[test]
    fn the_patient_chooses_one_to_thirty_minutes() {
        assert_eq!(timeout_of_minutes(1).unwrap(), SignedDuration::from_mins(1));
        assert_eq!(
            timeout_of_minutes(30).unwrap(),
            SignedDuration::from_mins(30)
        );
        assert!(timeout_of_minutes(0).is_err());
        assert!(timeout_of_minutes(31).is_err());
    }

    #[test]
    fn waits_start_after_three_free_tries_and_double_up_to_fifteen_minutes() {
        let b = Backoff::STANDARD;
        let waits: Vec<i64> = (0..12).map(|n| b.wait_after(n).as_secs()).collect();
        assert_eq!(waits, [0, 0, 0, 30, 60, 120, 240, 480, 900, 900, 900, 900]);
        assert_eq!(b.wait_after(u32::MAX), b.longest_wait);
    }

    #[test]
    fn wrong_tries_count_wait_and_past_the_limit_offer_sign_out() {
        let b = Backoff::STANDARD;
        let mut r = PasscodeRecord::new(hash_passcode("482916").unwrap());
        for n in 0..3 {
            assert_eq!(r.attempt("000000", &b, t(n)), UnlockOutcome::Wrong);
        }
        assert_eq!(r.failures, 3);
        assert_eq!(r.wait(&b, t(2)), secs(30));
        assert_eq!(r.wait(&b, t(12)), secs(20));
        // During the wait even the right passcode is not looked at.
        assert_eq!(r.attempt("482916", &b, t(12)), UnlockOutcome::TooSoon);
        assert_eq!(r.failures, 3, "a try refused for waiting does not count");
        // A clock set back cannot make the wait longer than it is.
        assert_eq!(r.wait(&b, t(-3600)), secs(30));
        let mut now = t(32);
        while !r.offer_sign_out(&b) {
            assert_eq!(r.attempt("111111", &b, now), UnlockOutcome::Wrong);
            now = now + r.wait(&b, now);
        }
        assert_eq!(r.failures, 10);
        // The record in the keyring keeps the count across a restart.
        let kept: PasscodeRecord =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(kept, r);
        assert!(kept.offer_sign_out(&b));
        assert_eq!(kept.wait(&b, now), SignedDuration::ZERO);
        // The right passcode still opens it, and the count starts over.
        assert_eq!(r.attempt("482916", &b, now), UnlockOutcome::Unlocked);
        assert_eq!((r.failures, r.last_failure), (0, None));
        assert!(!r.offer_sign_out(&b));
    }

    #[test]
    fn passcodes_are_six_or_more_characters_and_not_trivial() {
        assert_eq!(check_passcode("12345"), Some(PasscodeProblem::TooShort));
        assert_eq!(check_passcode(""), Some(PasscodeProblem::TooShort));
        assert_eq!(check_passcode("ñandú"), Some(PasscodeProblem::TooShort));
        assert_eq!(
            check_passcode(&"7".repeat(65)),
            Some(PasscodeProblem::TooLong)
        );
        for simple in ["000000", "123456", "654321", "abcdef", "aaaaaaa", "3456789"] {
            assert_eq!(
                check_passcode(simple),
                Some(PasscodeProblem::TooSimple),
                "{simple}"
            );
        }
        for fine in ["482916", "112233", "ñandú!", "correct horse", "135791"] {
            assert_eq!(check_passcode(fine), None, "{fine}");
        }
    }

    #[test]
    fn the_hash_is_argon2id_salted_and_never_the_passcode() {
        let a = hash_passcode("482916").unwrap();
        let b = hash_passcode("482916").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(!a.contains("482916"));
        assert!(passcode_matches(&a, "482916"));
        assert!(passcode_matches(&b, "482916"));
        assert!(!passcode_matches(&a, "482917"));
        assert!(!passcode_matches("not a hash", "482916"));
    }

    #[test]
    fn lock_views_round_waits_up() {
        assert_eq!(whole_seconds(SignedDuration::from_millis(1)), 1);
        assert_eq!(whole_seconds(secs(30)), 30);
        assert_eq!(whole_seconds(SignedDuration::ZERO), 0);
        assert_eq!(whole_seconds(secs(-5)), 0);
    }
}
