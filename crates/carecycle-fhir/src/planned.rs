//! The planned procedure a care cycle hangs on (the surgery), said in R4's
//! own words inside the cycle's CarePlan: an activity whose `detail` is of
//! kind `ServiceRequest`, status `scheduled`, and whose `scheduledPeriod` is
//! the day. Records written before kept the day in CareCycle's
//! `procedure-date` extension; it is still read, and moved with the day.

use crate::PROCEDURE_DATE_EXTENSION;
use serde_json::{Value, json};

/// The cycle's activity for a procedure planned on `day` (YYYY-MM-DD).
pub fn activity(title: &str, day: &str) -> Value {
    json!({"detail": {
        "kind": "ServiceRequest",
        "code": {"text": title},
        "status": "scheduled",
        "scheduledPeriod": {"start": day, "end": day}
    }})
}

fn is_planned_procedure(activity: &Value) -> bool {
    activity["detail"]["kind"] == "ServiceRequest"
        && matches!(
            activity["detail"]["status"].as_str(),
            Some("not-started" | "scheduled" | "in-progress" | "on-hold")
        )
        && activity["detail"]["scheduledPeriod"]["start"].is_string()
}

/// The day of the cycle's planned procedure: from its activity, else from the
/// older extension.
pub fn day(cycle: &Value) -> Option<&str> {
    let from_activity = cycle["activity"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| is_planned_procedure(a))
        .and_then(|a| a["detail"]["scheduledPeriod"]["start"].as_str());
    from_activity
        .or_else(|| {
            cycle["extension"]
                .as_array()?
                .iter()
                .find(|e| e["url"] == PROCEDURE_DATE_EXTENSION)?["valueDate"]
                .as_str()
        })
        .map(|d| d.get(..10).unwrap_or(d))
}

/// Moves the cycle's planned procedure to `day`, wherever the cycle says it.
pub fn set_day(cycle: &mut Value, day: &str) {
    if let Some(activities) = cycle.get_mut("activity").and_then(Value::as_array_mut) {
        for a in activities.iter_mut().filter(|a| is_planned_procedure(a)) {
            a["detail"]["scheduledPeriod"] = json!({"start": day, "end": day});
        }
    }
    if let Some(exts) = cycle.get_mut("extension").and_then(Value::as_array_mut) {
        for e in exts
            .iter_mut()
            .filter(|e| e["url"] == PROCEDURE_DATE_EXTENSION)
        {
            e["valueDate"] = json!(day);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_is_read_and_moved_in_the_activity_and_in_older_records() {
        let mut cycle = json!({"resourceType": "CarePlan", "activity": [
            {"detail": {"kind": "Appointment", "status": "scheduled", "scheduledPeriod": {"start": "2026-01-01"}}},
            activity("Right total knee replacement", "2026-12-08")]});
        assert_eq!(day(&cycle), Some("2026-12-08"));
        set_day(&mut cycle, "2026-12-15");
        assert_eq!(day(&cycle), Some("2026-12-15"));
        assert_eq!(
            cycle["activity"][0]["detail"]["scheduledPeriod"]["start"],
            "2026-01-01"
        );

        let mut older = json!({"resourceType": "CarePlan",
            "extension": [{"url": PROCEDURE_DATE_EXTENSION, "valueDate": "2026-12-08"}]});
        assert_eq!(day(&older), Some("2026-12-08"));
        set_day(&mut older, "2026-12-01");
        assert_eq!(day(&older), Some("2026-12-01"));

        let done = json!({"activity": [{"detail": {"kind": "ServiceRequest", "status": "completed",
            "scheduledPeriod": {"start": "2026-12-08"}}}]});
        assert_eq!(day(&done), None);
    }
}
