//! Shows the core's notices through `tauri-plugin-notification`: one path on
//! every platform (notify-rust — the freedesktop service, macOS, Windows — on
//! desktops; the platform's own on Android and iOS). The text comes from the
//! core, which keeps health information out of it unless the patient chose
//! detail. When notifications cannot show (no permission on a phone, no
//! notification service on a Linux desktop) the app carries on: it says so
//! once (in the log, and in the settings the UI shows) and stops trying until
//! restarted.

use carecycle_core::notices::Notice;
use std::sync::Mutex;
use tauri::plugin::PermissionState;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_notification::Notification;

#[derive(Debug, Default)]
pub struct Notifier {
    /// None until the first notification; then whether they can be shown.
    available: Mutex<Option<bool>>,
}

impl Notifier {
    pub fn available(&self) -> Option<bool> {
        *self.available.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_available(&self, ok: bool) {
        *self.available.lock().unwrap_or_else(|e| e.into_inner()) = Some(ok);
    }

    /// Shows each notice. Blocking (D-Bus, or a phone's permission prompt the
    /// first time), so call it off the async runtime.
    pub fn deliver<R: Runtime>(&self, app: &AppHandle<R>, notices: &[Notice]) {
        if notices.is_empty() || self.available() == Some(false) {
            return;
        }
        let Some(plugin) = app.try_state::<Notification<R>>() else {
            self.set_available(false);
            return;
        };
        // Permission once (a phone asks the person); the service every time,
        // since the plugin sends in the background and cannot say it failed.
        let ok = (self.available().is_some() || permitted(&plugin)) && notification_service();
        self.set_available(ok);
        if !ok {
            tracing::warn!("notifications cannot be shown here; notifications are off");
            return;
        }
        for notice in notices {
            if let Err(e) = plugin
                .builder()
                .title(&notice.title)
                .body(&notice.body)
                .show()
            {
                // The error is about the service, never the notice's text.
                tracing::warn!(error = %e, "a notification could not be shown; notifications are off");
                self.set_available(false);
                return;
            }
        }
    }
}

/// Whether the person lets the app notify: a phone asks once; desktops need
/// no permission.
fn permitted<R: Runtime>(plugin: &Notification<R>) -> bool {
    match plugin.permission_state() {
        Ok(PermissionState::Granted) => true,
        Ok(PermissionState::Prompt | PermissionState::PromptWithRationale) => {
            matches!(plugin.request_permission(), Ok(PermissionState::Granted))
        }
        Ok(PermissionState::Denied) | Err(_) => false,
    }
}

/// Is there a notification service? On Linux, asks the freedesktop server who
/// it is (which starts one that is D-Bus activated).
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
fn notification_service() -> bool {
    const NAME: &str = "org.freedesktop.Notifications";
    zbus::blocking::Connection::session()
        .and_then(|bus| {
            bus.call_method(
                Some(NAME),
                "/org/freedesktop/Notifications",
                Some(NAME),
                "GetServerInformation",
                &(),
            )
        })
        .is_ok()
}

/// macOS, Windows and phones always have their platform's notification centre.
#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd")))]
fn notification_service() -> bool {
    true
}
