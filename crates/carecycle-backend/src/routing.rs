//! Who answers a patient's message, and by when.
//!
//! Each IPU declares, on its Organization, per kind of message (symptom or
//! clinical question, scheduling, medications, billing/insurance, other) which
//! role of its team answers and its reply target in business days (0: the same
//! business day), with its business hours, closed days and time zone. A new
//! patient thread of a kind gets a reply Task: `owner` the PractitionerRole of
//! that role in the patient's IPU, `restriction.period.end` the time the reply
//! is due, `focus` the thread's first message. The app reads both from
//! standard Task elements; the team's reply completes the task, and the
//! patient's next message in the thread opens it again.
//!
//! FHIR R4 has no standard codes for these policies: the extensions and code
//! systems are CareCycle's (see the README).

use crate::access::TASK_KIND_SYSTEM;
use crate::store::{self, Stamper, StoreError, Stored};
use carecycle_fhir::time::format_zoned;
use carecycle_fhir::{ResourceType, TEAM_ROLE_SYSTEM};
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use rusqlite::{Connection, OptionalExtension, Transaction};
use serde_json::{Value, json};

pub use carecycle_fhir::{
    BUSINESS_HOURS_EXTENSION as EXT_BUSINESS_HOURS, REPLY_POLICY_EXTENSION as EXT_REPLY_POLICY,
    TIME_ZONE_EXTENSION as EXT_TIME_ZONE,
};
pub use carecycle_fhir::{MESSAGE_KIND_SYSTEM, MESSAGE_KINDS};

/// One line of an IPU's reply policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyPolicy {
    pub kind: String,
    /// A code of the IPU team-role system (e.g. `nurse-navigator`).
    pub role: String,
    /// 0: by the close of the same business day; n: by the close of the n-th business day after.
    pub business_days: u32,
}

/// When the IPU is open.
#[derive(Debug, Clone)]
pub struct BusinessCalendar {
    pub tz: TimeZone,
    /// The days of the week the unit is open.
    pub days: Vec<Weekday>,
    pub open: Time,
    pub close: Time,
    /// Days on which the unit is closed (holidays).
    pub closed_days: Vec<Date>,
}

/// Monday to Friday.
const WORKING_WEEK: [Weekday; 5] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
];

/// R4's days-of-week codes (HealthcareService.availableTime.daysOfWeek).
const DAY_CODES: [(Weekday, &str); 7] = [
    (Weekday::Monday, "mon"),
    (Weekday::Tuesday, "tue"),
    (Weekday::Wednesday, "wed"),
    (Weekday::Thursday, "thu"),
    (Weekday::Friday, "fri"),
    (Weekday::Saturday, "sat"),
    (Weekday::Sunday, "sun"),
];

impl BusinessCalendar {
    pub fn is_business_day(&self, day: Date) -> bool {
        self.days.contains(&day.weekday()) && !self.closed_days.contains(&day)
    }

    fn next_business_day(&self, day: Date) -> Date {
        let mut d = day;
        // Bounded: a calendar closed for a year is a configuration error, not a loop.
        for _ in 0..366 {
            d = d.tomorrow().unwrap_or(d);
            if self.is_business_day(d) {
                return d;
            }
        }
        d
    }

    /// When a reply to a message sent at `sent` is due: a message after
    /// closing time, or on a closed day, counts from the next business day.
    pub fn reply_due(&self, sent: Timestamp, business_days: u32) -> Zoned {
        let local = sent.to_zoned(self.tz.clone());
        let mut day = local.date();
        if !self.is_business_day(day) || local.time() >= self.close {
            day = self.next_business_day(day);
        }
        for _ in 0..business_days {
            day = self.next_business_day(day);
        }
        day.to_datetime(self.close)
            .to_zoned(self.tz.clone())
            .unwrap_or(local)
    }
}

fn sub_extension<'a>(ext: &'a Value, name: &str) -> Option<&'a Value> {
    ext.get("extension")?
        .as_array()?
        .iter()
        .find(|e| e.get("url").and_then(Value::as_str) == Some(name))
}

fn extensions<'a>(resource: &'a Value, url: &'a str) -> impl Iterator<Item = &'a Value> {
    resource
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |e| e.get("url").and_then(Value::as_str) == Some(url))
}

/// An Organization's reply policies.
pub fn policies(org: &Value) -> Vec<ReplyPolicy> {
    extensions(org, EXT_REPLY_POLICY)
        .filter_map(|e| {
            Some(ReplyPolicy {
                kind: sub_extension(e, "kind")?
                    .get("valueCode")?
                    .as_str()?
                    .to_owned(),
                role: sub_extension(e, "role")?
                    .get("valueCode")?
                    .as_str()?
                    .to_owned(),
                business_days: u32::try_from(
                    sub_extension(e, "businessDays")?
                        .get("valueInteger")?
                        .as_u64()?,
                )
                .ok()?,
            })
        })
        .collect()
}

/// An Organization's business calendar as CareCycle's extensions on it say
/// (its time zone; its hours in records written before the unit's
/// HealthcareService held them): Monday to Friday, 08:00–17:00 in UTC when it
/// declares nothing.
pub fn calendar(org: &Value) -> BusinessCalendar {
    let tz = extensions(org, EXT_TIME_ZONE)
        .find_map(|e| e.get("valueCode")?.as_str())
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or(TimeZone::UTC);
    let hours = extensions(org, EXT_BUSINESS_HOURS).next();
    let time = |name: &str, default: Time| {
        hours
            .and_then(|h| sub_extension(h, name))
            .and_then(|e| e.get("valueTime")?.as_str()?.parse::<Time>().ok())
            .unwrap_or(default)
    };
    let closed_days = hours
        .and_then(|h| h.get("extension")?.as_array())
        .into_iter()
        .flatten()
        .filter(|e| e.get("url").and_then(Value::as_str) == Some("closedDay"))
        .filter_map(|e| e.get("valueDate")?.as_str()?.parse::<Date>().ok())
        .collect();
    BusinessCalendar {
        tz,
        days: WORKING_WEEK.to_vec(),
        open: time("open", Time::constant(8, 0, 0, 0)),
        close: time("close", Time::constant(17, 0, 0, 0)),
        closed_days,
    }
}

/// A unit's business calendar: its hours and closed days as R4 says them, on
/// the unit's HealthcareService (`availableTime`, `notAvailable`), over what
/// its Organization says ([`calendar`]: the time zone, which R4 has no element
/// for).
pub fn unit_calendar(conn: &Connection, org: &Stored) -> Result<BusinessCalendar, StoreError> {
    let mut cal = calendar(&org.content);
    let service: Option<String> = conn
        .prepare_cached(
            "SELECT content FROM resource WHERE type = 'HealthcareService' AND deleted = 0
               AND json_extract(content, '$.providedBy.reference') = ?1
               AND coalesce(json_extract(content, '$.active'), 1) = 1
             ORDER BY id LIMIT 1",
        )?
        .query_row([format!("Organization/{}", org.id)], |r| r.get(0))
        .optional()?;
    let Some(service) = service.and_then(|s| serde_json::from_str::<Value>(&s).ok()) else {
        return Ok(cal);
    };
    if let Some(hours) = service["availableTime"].as_array().and_then(|a| a.first()) {
        let days: Vec<Weekday> = hours["daysOfWeek"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| DAY_CODES.iter().find(|(_, c)| d == *c).map(|(w, _)| *w))
            .collect();
        if !days.is_empty() {
            cal.days = days;
        }
        let time = |key: &str| hours[key].as_str().and_then(|t| t.parse::<Time>().ok());
        if hours["allDay"] == true {
            (cal.open, cal.close) = (Time::MIN, Time::MAX);
        } else if let (Some(open), Some(close)) =
            (time("availableStartTime"), time("availableEndTime"))
        {
            (cal.open, cal.close) = (open, close);
        }
    }
    for closed in service["notAvailable"].as_array().into_iter().flatten() {
        let day = |key: &str| {
            closed["during"][key]
                .as_str()
                .and_then(|d| d.get(..10)?.parse::<Date>().ok())
        };
        if let Some(start) = day("start") {
            let end = day("end").unwrap_or(start);
            let mut d = start;
            // A closure longer than a year is a data error, not a loop.
            for _ in 0..366 {
                if d > end {
                    break;
                }
                cal.closed_days.push(d);
                d = d.tomorrow().unwrap_or(end);
            }
        }
    }
    Ok(cal)
}

/// The unit's HealthcareService that holds its hours and closed days (seed data
/// and the team CLI), as R4 says them.
pub fn hours_service(
    org_id: &str,
    name: &str,
    open: &str,
    close: &str,
    closed_days: &[Date],
) -> Value {
    let mut service = json!({
        "resourceType": "HealthcareService",
        "active": true,
        "providedBy": {"reference": format!("Organization/{org_id}"), "display": name},
        "name": format!("{name}: care team messages"),
        "availableTime": [{
            "daysOfWeek": WORKING_WEEK.iter().filter_map(|w| DAY_CODES.iter().find(|(d, _)| d == w).map(|(_, c)| *c)).collect::<Vec<_>>(),
            "availableStartTime": open,
            "availableEndTime": close
        }],
    });
    let closed: Vec<Value> = closed_days
        .iter()
        .map(|d| json!({"description": "Closed", "during": {"start": d.to_string(), "end": d.to_string()}}))
        .collect();
    if !closed.is_empty() {
        service["notAvailable"] = json!(closed);
    }
    service
}

/// The Organization extensions that declare a reply policy and the unit's time
/// zone (for seed data and the team CLI).
pub fn policy_extensions(policies: &[ReplyPolicy], tz: &str) -> Vec<Value> {
    let mut out: Vec<Value> = policies
        .iter()
        .map(|p| {
            json!({"url": EXT_REPLY_POLICY, "extension": [
                {"url": "kind", "valueCode": p.kind},
                {"url": "role", "valueCode": p.role},
                {"url": "businessDays", "valueInteger": p.business_days}
            ]})
        })
        .collect();
    out.push(json!({"url": EXT_TIME_ZONE, "valueCode": tz}));
    out
}

/// The kind of a message from its category (`other` when it has none we know).
pub fn kind_of(message: &Value) -> String {
    carecycle_fhir::message_kind(message).to_owned()
}

/// The first message of the thread `message` belongs to (its own id when it starts one).
pub fn thread_root(message: &Stored) -> String {
    ["partOf", "inResponseTo"]
        .iter()
        .filter_map(|el| message.content.get(*el)?.as_array())
        .flatten()
        .filter_map(|r| r.get("reference")?.as_str())
        .find_map(|r| r.strip_prefix("Communication/").map(str::to_owned))
        .unwrap_or_else(|| message.id.clone())
}

fn reply_task(conn: &Connection, root: &str) -> Result<Option<Stored>, StoreError> {
    let page = store::search(
        conn,
        ResourceType::Task,
        &store::Query {
            count: 1,
            filters: vec![
                store::Filter::Reference {
                    path: "$.focus",
                    values: vec![format!("Communication/{root}")],
                },
                store::Filter::Token {
                    path: "$.code",
                    system: Some(TASK_KIND_SYSTEM.into()),
                    code: "reply".into(),
                },
            ],
            ..Default::default()
        },
    )?;
    Ok(page.resources.into_iter().next())
}

/// The IPU looking after a patient, as its Organization resource.
fn patient_ipu(conn: &Connection, patient: &str) -> Result<Option<Stored>, StoreError> {
    let org: Option<String> = conn
        .query_row(
            "SELECT org FROM care_link WHERE patient = ?1 ORDER BY org LIMIT 1",
            [patient],
            |r| r.get(0),
        )
        .optional()?;
    match org {
        Some(org) => store::read(conn, ResourceType::Organization, &org),
        None => Ok(None),
    }
}

/// The PractitionerRole of `role` in `org`, as a reference with a display.
fn role_holder(conn: &Connection, org: &str, role: &str) -> Result<Option<Value>, StoreError> {
    let page = store::search(
        conn,
        ResourceType::PractitionerRole,
        &store::Query {
            count: 1,
            filters: vec![
                store::Filter::Reference {
                    path: "$.organization",
                    values: vec![format!("Organization/{org}")],
                },
                store::Filter::Token {
                    path: "$.code",
                    system: Some(TEAM_ROLE_SYSTEM.into()),
                    code: role.into(),
                },
            ],
            ..Default::default()
        },
    )?;
    Ok(page.resources.into_iter().next().map(|r| {
        let who = r.content["practitioner"]["display"].as_str().unwrap_or_default();
        let what = r.content["code"][0]["text"].as_str().unwrap_or(role);
        json!({"reference": format!("PractitionerRole/{}", r.id), "display": format!("{who} ({what})")})
    }))
}

/// A patient (or family member) wrote `message`: open the thread's reply task,
/// routed and dated by the patient's IPU's policy. Does nothing when the IPU
/// declares no policy for that kind.
pub fn after_patient_message(
    tx: &Transaction<'_>,
    stamper: &Stamper,
    message: &Stored,
) -> Result<(), StoreError> {
    let Some(patient) = message.patient.as_deref() else {
        return Ok(());
    };
    let Some(org) = patient_ipu(tx, patient)? else {
        return Ok(());
    };
    let root_id = thread_root(message);
    let root = if root_id == message.id {
        message.clone()
    } else {
        match store::read(tx, ResourceType::Communication, &root_id)? {
            Some(r) => r,
            None => message.clone(),
        }
    };
    let kind = kind_of(&root.content);
    let Some(policy) = policies(&org.content).into_iter().find(|p| p.kind == kind) else {
        return Ok(());
    };
    let existing = reply_task(tx, &root_id)?;
    if let Some(task) = &existing
        && matches!(
            task.content["status"].as_str(),
            Some("requested" | "received" | "accepted" | "in-progress")
        )
    {
        // Already waiting: the first unanswered message sets the due time.
        return Ok(());
    }
    let sent = message
        .content
        .get("sent")
        .and_then(Value::as_str)
        .and_then(|s| carecycle_fhir::time::FhirDateTime::parse(s).ok())
        .map(|d| d.start_instant(&TimeZone::UTC))
        .unwrap_or_else(|| stamper.clock().now());
    let due = unit_calendar(tx, &org)?.reply_due(sent, policy.business_days);
    let owner = role_holder(tx, &org.id, &policy.role)?;
    let label = MESSAGE_KINDS
        .iter()
        .find(|(code, _)| *code == kind)
        .map(|(_, l)| *l)
        .unwrap_or("Something else");
    let sent_text = carecycle_fhir::time::format_instant(sent);
    let mut task = json!({
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": {"coding": [carecycle_fhir::published::coding(TASK_KIND_SYSTEM, "reply")]},
        "description": format!("Reply: {label}"),
        "focus": {"reference": format!("Communication/{root_id}")},
        "for": {"reference": format!("Patient/{patient}")},
        "authoredOn": sent_text,
        "lastModified": sent_text,
        "restriction": {"period": {"start": sent_text, "end": format_zoned(&due)}},
        "businessStatus": {"text": "Waiting for the care team"},
        "input": [{"type": {"text": "message kind"}, "valueCoding": {"system": MESSAGE_KIND_SYSTEM, "code": kind}}]
    });
    if let Some(owner) = owner {
        task["owner"] = owner;
    }
    let id = existing
        .map(|t| t.id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    store::write(tx, stamper, ResourceType::Task, &id, task, None)?;
    Ok(())
}

/// The care team wrote `message`: a reply in a thread completes its reply task.
pub fn after_team_message(
    tx: &Transaction<'_>,
    stamper: &Stamper,
    message: &Stored,
) -> Result<(), StoreError> {
    let root = thread_root(message);
    if root == message.id {
        return Ok(());
    }
    if let Some(task) = reply_task(tx, &root)?
        && task.content["status"] != "completed"
    {
        let mut content = task.content.clone();
        let now = carecycle_fhir::time::format_instant(stamper.clock().now());
        content["status"] = json!("completed");
        content["lastModified"] = json!(now);
        content["businessStatus"] = json!({"text": "Answered"});
        content["output"] = json!([{"type": {"text": "reply"}, "valueReference": {"reference": format!("Communication/{}", message.id)}}]);
        store::write(tx, stamper, ResourceType::Task, &task.id, content, None)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chicago() -> BusinessCalendar {
        BusinessCalendar {
            tz: TimeZone::get("America/Chicago").unwrap(),
            days: WORKING_WEEK.to_vec(),
            open: Time::constant(8, 0, 0, 0),
            close: Time::constant(17, 0, 0, 0),
            closed_days: vec![Date::constant(2026, 11, 26)], // Thanksgiving
        }
    }

    fn due(sent_local: &str, days: u32) -> String {
        let cal = chicago();
        let sent = sent_local
            .parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(cal.tz.clone())
            .unwrap()
            .timestamp();
        cal.reply_due(sent, days).datetime().to_string()
    }

    #[test]
    fn business_days_hours_holidays_and_time_zone() {
        // Monday 10:00 → same business day by 17:00.
        assert_eq!(due("2026-11-23T10:00", 0), "2026-11-23T17:00:00");
        // After closing: the next business day.
        assert_eq!(due("2026-11-23T18:30", 0), "2026-11-24T17:00:00");
        // Wednesday evening before Thanksgiving: Thursday is closed → Friday.
        assert_eq!(due("2026-11-25T19:00", 0), "2026-11-27T17:00:00");
        // Friday afternoon, one business day: Monday.
        assert_eq!(due("2026-11-27T15:00", 1), "2026-11-30T17:00:00");
        // Saturday, same day target: Monday.
        assert_eq!(due("2026-11-28T09:00", 0), "2026-11-30T17:00:00");
        // Two business days across the holiday.
        assert_eq!(due("2026-11-25T09:00", 2), "2026-11-30T17:00:00");
    }

    /// The unit's hours and closed days are read where R4 puts them (its
    /// HealthcareService), and from CareCycle's extension on records written
    /// before; the time zone stays on the Organization.
    #[test]
    fn hours_come_from_the_healthcare_service_and_older_records_still_work() {
        use carecycle_fhir::time::FixedClock;
        let db = crate::store::Db::open_in_memory().unwrap();
        let clock = std::sync::Arc::new(FixedClock::new("2026-11-22T10:00:00Z".parse().unwrap()));
        let stamper = Stamper::new(clock, &db).unwrap();
        let thanksgiving = Date::constant(2026, 11, 26);
        let mut legacy = json!({"resourceType": "Organization", "name": "Old unit",
            "extension": policy_extensions(&[], "America/Chicago")});
        legacy["extension"].as_array_mut().unwrap().push(
            json!({"url": EXT_BUSINESS_HOURS, "extension": [
            {"url": "open", "valueTime": "09:00:00"}, {"url": "close", "valueTime": "16:00:00"},
            {"url": "closedDay", "valueDate": "2026-11-26"}]}),
        );
        let (old, new) = db
            .with(|c| {
                let tx = c.transaction()?;
                let old = store::write(
                    &tx,
                    &stamper,
                    ResourceType::Organization,
                    "old",
                    legacy,
                    None,
                )?;
                let org = json!({"resourceType": "Organization", "name": "New unit",
                    "extension": policy_extensions(&[], "America/Chicago")});
                let new =
                    store::write(&tx, &stamper, ResourceType::Organization, "new", org, None)?;
                let mut service =
                    hours_service("new", "New unit", "07:30:00", "18:00:00", &[thanksgiving]);
                service["availableTime"][0]["daysOfWeek"] =
                    json!(["mon", "tue", "wed", "thu", "fri", "sat"]);
                store::write(
                    &tx,
                    &stamper,
                    ResourceType::HealthcareService,
                    "hours",
                    service,
                    None,
                )?;
                tx.commit()?;
                Ok::<_, StoreError>((old, new))
            })
            .unwrap();
        let cal = db.with(|c| unit_calendar(c, &new)).unwrap();
        assert_eq!(cal.tz, TimeZone::get("America/Chicago").unwrap());
        assert_eq!(
            (cal.open, cal.close),
            (Time::constant(7, 30, 0, 0), Time::constant(18, 0, 0, 0))
        );
        assert!(
            cal.is_business_day(Date::constant(2026, 11, 28)),
            "open on Saturdays"
        );
        assert!(!cal.is_business_day(thanksgiving));
        let cal = db.with(|c| unit_calendar(c, &old)).unwrap();
        assert_eq!(
            (cal.open, cal.close),
            (Time::constant(9, 0, 0, 0), Time::constant(16, 0, 0, 0))
        );
        assert!(!cal.is_business_day(thanksgiving));
        assert!(!cal.is_business_day(Date::constant(2026, 11, 28)));
    }

    #[test]
    fn kinds_default_to_other() {
        let m = json!({"category": [{"coding": [{"system": MESSAGE_KIND_SYSTEM, "code": "medications"}]}]});
        assert_eq!(kind_of(&m), "medications");
        assert_eq!(kind_of(&json!({})), "other");
        let unknown =
            json!({"category": [{"coding": [{"system": MESSAGE_KIND_SYSTEM, "code": "gossip"}]}]});
        assert_eq!(kind_of(&unknown), "other");
    }
}
