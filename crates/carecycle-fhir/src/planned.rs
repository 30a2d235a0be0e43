//! The planned procedure a care cycle hangs on (the surgery), said in R4's
//! own words inside the cycle's CarePlan: an activity whose `detail` is of
//! kind `ServiceRequest`, status `scheduled`, and whose `scheduledPeriod` is
//! the day. Records written before kept the day in CareCycle's
//! `procedure-date` extension; it is still read, and moved with the day.

use crate::PROCEDURE_DATE_EXTENSION;
use crate::time::FhirDateTime;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

/// R4's extension saying a date is relative to another event: here, to the
/// cycle's planned procedure.
pub const RELATIVE_DATE_TIME: &str = "http://hl7.org/fhir/StructureDefinition/cqf-relativeDateTime";

/// R4's extension naming the IANA time zone a dateTime was set in.
pub const TZ_CODE: &str = "http://hl7.org/fhir/StructureDefinition/tz-code";

/// The date elements a care cycle sets from its procedure (JSON pointers):
/// appointments, task windows and phases.
pub const RELATIVE_DATES: [&str; 6] = [
    "/start",
    "/end",
    "/period/start",
    "/period/end",
    "/restriction/period/start",
    "/restriction/period/end",
];

/// Says on each of `content`'s [`RELATIVE_DATES`] how it stands to the
/// procedure planned in `cycle` (`CarePlan/{id}`) on the day that starts at
/// `procedure_day` in `tz`: R4's `cqf-relativeDateTime` on the element's
/// `_`-twin (before or after its start, by whole days, hours or minutes); a
/// date with a time also names the zone it was set in (`tz-code`).
pub fn relate(content: &mut Value, cycle: &str, procedure_day: Timestamp, tz: &TimeZone) {
    for pointer in RELATIVE_DATES {
        let Some(value) = content.pointer(pointer).and_then(Value::as_str) else {
            continue;
        };
        let has_time = value.contains('T');
        let Some(at) = FhirDateTime::parse(value).ok().map(|d| d.start_instant(tz)) else {
            continue;
        };
        let minutes = at.duration_since(procedure_day).as_mins();
        let (relationship, minutes) = if minutes < 0 {
            ("before-start", -minutes)
        } else {
            ("after-start", minutes)
        };
        let (value, unit, code) = match minutes {
            m if m % 1440 == 0 => (m / 1440, "days", "d"),
            m if m % 60 == 0 => (m / 60, "hours", "h"),
            m => (m, "minutes", "min"),
        };
        let relative = json!({"url": RELATIVE_DATE_TIME, "extension": [
            {"url": "target", "valueReference": {"reference": cycle}},
            {"url": "targetPath", "valueString": "activity.detail.scheduled"},
            {"url": "relationship", "valueCode": relationship},
            {"url": "offset", "valueDuration": {"value": value, "unit": unit,
                "system": "http://unitsofmeasure.org", "code": code}}
        ]});
        if let Some(twin) = twin_mut(content, pointer) {
            let exts = twin
                .as_object_mut()
                .map(|o| o.entry("extension").or_insert_with(|| json!([])));
            if let Some(Value::Array(exts)) = exts {
                exts.retain(|e| e["url"] != RELATIVE_DATE_TIME && e["url"] != TZ_CODE);
                exts.push(relative);
                if let (true, Some(zone)) = (has_time, tz.iana_name()) {
                    exts.push(json!({"url": TZ_CODE, "valueCode": zone}));
                }
            }
        }
    }
}

/// Takes away what [`relate`] said of the element at `pointer` (a date that
/// stays put while the procedure moves is no longer relative to it).
/// Whether there was anything to take away.
pub fn unrelate(content: &mut Value, pointer: &str) -> bool {
    let Some((parent, name)) = pointer.rsplit_once('/') else {
        return false;
    };
    let Some(parent) = content.pointer_mut(parent).and_then(Value::as_object_mut) else {
        return false;
    };
    let twin_name = format!("_{name}");
    let Some(Value::Array(exts)) = parent
        .get_mut(&twin_name)
        .and_then(|t| t.get_mut("extension"))
    else {
        return false;
    };
    let before = exts.len();
    exts.retain(|e| e["url"] != RELATIVE_DATE_TIME);
    let removed = exts.len() < before;
    if exts.is_empty() {
        parent.remove(&twin_name);
    }
    removed
}

/// The `_`-twin of the primitive at `pointer` (made when absent).
fn twin_mut<'a>(content: &'a mut Value, pointer: &str) -> Option<&'a mut Value> {
    let (parent, name) = pointer.rsplit_once('/')?;
    let parent = content.pointer_mut(parent)?.as_object_mut()?;
    Some(
        parent
            .entry(format!("_{name}"))
            .or_insert_with(|| json!({})),
    )
}

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
    fn dates_say_how_they_stand_to_the_procedure() {
        let tz = TimeZone::get("America/Chicago").unwrap();
        let day: Timestamp = "2026-12-08T06:00:00Z".parse().unwrap(); // midnight in Chicago
        let mut appt = json!({"resourceType": "Appointment",
            "start": "2026-12-01T09:00:00-06:00", "end": "2026-12-01T09:30:00-06:00"});
        relate(&mut appt, "CarePlan/c1", day, &tz);
        let rel = &appt["_start"]["extension"][0];
        assert_eq!(rel["url"], RELATIVE_DATE_TIME);
        assert_eq!(
            rel["extension"][0]["valueReference"]["reference"],
            "CarePlan/c1"
        );
        assert_eq!(rel["extension"][2]["valueCode"], "before-start");
        // 7 days before, at 09:00: 159 hours before the day starts.
        assert_eq!(rel["extension"][3]["valueDuration"]["value"], 159);
        assert_eq!(rel["extension"][3]["valueDuration"]["code"], "h");
        assert_eq!(
            appt["_end"]["extension"][0]["extension"][3]["valueDuration"]["value"],
            9510
        );
        assert_eq!(appt["_start"]["extension"][1]["url"], TZ_CODE);
        assert_eq!(
            appt["_start"]["extension"][1]["valueCode"],
            "America/Chicago"
        );
        let mut phase = json!({"resourceType": "CarePlan", "period": {"start": "2026-12-22", "end": "2027-03-08"}});
        relate(&mut phase, "CarePlan/c1", day, &tz);
        let after = &phase["period"]["_start"]["extension"][0]["extension"];
        assert_eq!(after[2]["valueCode"], "after-start");
        assert_eq!(after[3]["valueDuration"]["value"], 14);
        assert_eq!(after[3]["valueDuration"]["code"], "d");
        // Related again (the procedure moved): still one extension per date.
        relate(&mut phase, "CarePlan/c1", day, &tz);
        assert_eq!(
            phase["period"]["_start"]["extension"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert!(unrelate(&mut phase, "/period/start"));
        assert!(!unrelate(&mut phase, "/period/start"));
        assert!(phase["period"].get("_start").is_none());
        assert!(phase["period"].get("_end").is_some());
    }

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
