//! Shows the core's notices as desktop notifications (notify-rust, the
//! freedesktop notification service on Linux). The text comes from the core,
//! which keeps health information out of it unless the patient chose detail.
//! With no notification service the app carries on: it says so once (in the
//! log, and in the settings the UI shows) and stops trying until restarted.

use carecycle_core::notices::Notice;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Notifier {
    /// None until the first notification; then whether it could be shown.
    available: Mutex<Option<bool>>,
}

impl Notifier {
    pub fn available(&self) -> Option<bool> {
        *self.available.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Shows each notice; blocking (D-Bus), so call it off the async runtime.
    pub fn deliver(&self, notices: &[Notice]) {
        if notices.is_empty() || self.available() == Some(false) {
            return;
        }
        for notice in notices {
            let shown = notify_rust::Notification::new()
                .appname("CareCycle")
                .summary(&notice.title)
                .body(&notice.body)
                .show();
            let ok = shown.is_ok();
            *self.available.lock().unwrap_or_else(|e| e.into_inner()) = Some(ok);
            if let Err(e) = shown {
                // The error is about the service, never the notice's text.
                tracing::warn!(error = %e, "no desktop notification service; notifications are off");
                return;
            }
        }
    }
}
