//! The care cycle as the patient sees it: which phase they are in, what comes
//! next, and who coordinates their care. Built from the local store, at an
//! instant that is passed in.

use crate::contract::{NextStep, PhaseView, StepKind, TeamMemberView, TodayView};
use crate::error::{CoreError, Result};
use crate::store::Store;
use carecycle_fhir::time::FhirDateTime;
use carecycle_fhir::{
    Appointment, CARE_PLAN_KIND_SYSTEM, CarePlan, CareTeam, EpisodeOfCare, LocalReference,
    Organization, Patient, Practitioner, Resource, ResourceType, TASK_KIND_SYSTEM, Task,
    preferred_name,
};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::Value;
use std::collections::HashMap;

/// Extension on the managing Organization naming its IANA time zone.
pub use carecycle_fhir::TIME_ZONE_EXTENSION;

/// How many upcoming steps Today shows.
pub const NEXT_STEPS_SHOWN: usize = 3;

/// Everything the care-cycle views are computed from, read once from the store.
#[derive(Debug, Default)]
pub struct Record {
    pub patient_id: String,
    pub patients: Vec<Patient>,
    pub episodes: Vec<EpisodeOfCare>,
    pub organizations: Vec<(String, Organization)>,
    pub practitioners: Vec<(String, Practitioner)>,
    pub care_teams: Vec<CareTeam>,
    pub care_plans: Vec<CarePlan>,
    pub appointments: Vec<Appointment>,
    pub tasks: Vec<Task>,
    /// The resources ("Type/id") the team gave no text in the app's language,
    /// with the language their text shows in instead.
    pub left_untranslated: HashMap<String, String>,
}

/// Resources of one type in `lang` where the team translated them; those
/// left in another language are noted in `left`.
fn typed<T: Resource>(
    values: Vec<Value>,
    lang: &str,
    left: &mut HashMap<String, String>,
) -> Vec<T> {
    // A resource the app cannot read is left out of the views, not fatal: the
    // rest of the record must still show.
    values
        .into_iter()
        .filter_map(|mut v| {
            if let (Some(written), Some(t), Some(id)) = (
                carecycle_fhir::translation::localize_resource(&mut v, lang),
                v["resourceType"].as_str(),
                v["id"].as_str(),
            ) {
                left.insert(format!("{t}/{id}"), written);
            }
            T::from_value(v).ok()
        })
        .collect()
}

fn with_ids<T: Resource>(
    values: Vec<Value>,
    lang: &str,
    left: &mut HashMap<String, String>,
) -> Vec<(String, T)> {
    typed::<T>(values, lang, left)
        .into_iter()
        .filter_map(|r| r.id().map(str::to_owned).map(|id| (id, r)))
        .collect()
}

impl Record {
    /// The record as the views read it, with what the team wrote in `lang`
    /// wherever they gave a translation (FHIR's `translation` extension).
    pub fn load(store: &Store, lang: &str) -> Result<Record> {
        let patient_id = store
            .patient_id_if_any()?
            .ok_or_else(|| CoreError::Data("this profile has not synced yet".into()))?;
        let mut left = HashMap::new();
        Ok(Record {
            patient_id,
            patients: typed(store.all(ResourceType::Patient)?, lang, &mut left),
            episodes: typed(store.all(ResourceType::EpisodeOfCare)?, lang, &mut left),
            organizations: with_ids(store.all(ResourceType::Organization)?, lang, &mut left),
            practitioners: with_ids(store.all(ResourceType::Practitioner)?, lang, &mut left),
            care_teams: typed(store.all(ResourceType::CareTeam)?, lang, &mut left),
            care_plans: typed(store.all(ResourceType::CarePlan)?, lang, &mut left),
            appointments: typed(store.all(ResourceType::Appointment)?, lang, &mut left),
            tasks: typed(store.all(ResourceType::Task)?, lang, &mut left),
            left_untranslated: left,
        })
    }

    /// The unit's time zone, reading only what says it (the episodes and the
    /// organizations), for the views that need no more of the record.
    pub fn time_zone_of(store: &Store) -> Result<TimeZone> {
        let mut left = HashMap::new();
        let record = Record {
            episodes: typed(store.all(ResourceType::EpisodeOfCare)?, "", &mut left),
            organizations: with_ids(store.all(ResourceType::Organization)?, "", &mut left),
            ..Record::default()
        };
        Ok(record.time_zone())
    }

    /// The language the text of `resource` (`Type/id`) shows in, when the
    /// team gave none in the app's language: the screen marks it so.
    pub fn left_in(&self, resource_type: &str, id: Option<&str>) -> Option<String> {
        self.left_untranslated
            .get(&format!("{resource_type}/{}", id?))
            .cloned()
    }

    pub fn patient_name(&self) -> Option<String> {
        self.patients
            .iter()
            .find(|p| p.id.as_deref() == Some(self.patient_id.as_str()))
            .and_then(|p| preferred_name(&p.name))
    }

    fn episode(&self) -> Option<&EpisodeOfCare> {
        self.episodes
            .iter()
            .find(|e| e.status == "active")
            .or_else(|| {
                self.episodes
                    .iter()
                    .find(|e| e.status != "entered-in-error")
            })
    }

    fn organization(&self, reference: Option<&carecycle_fhir::Reference>) -> Option<&Organization> {
        let id = LocalReference::parse(reference?.reference.as_deref()?, None)
            .ok()?
            .id;
        self.organizations
            .iter()
            .find(|(oid, _)| *oid == id)
            .map(|(_, o)| o)
    }

    fn practitioner_name(&self, reference: &carecycle_fhir::Reference) -> Option<String> {
        let id = reference
            .reference
            .as_deref()
            .and_then(|r| LocalReference::parse(r, None).ok())
            .filter(|r| r.resource_type == ResourceType::Practitioner)
            .map(|r| r.id);
        reference.display.clone().or_else(|| {
            self.practitioners
                .iter()
                .find(|(pid, _)| Some(pid) == id.as_ref())
                .and_then(|(_, p)| preferred_name(&p.name))
        })
    }

    /// The time zone of the clinic's calendar: from its organization, else this device's.
    pub fn time_zone(&self) -> TimeZone {
        self.episode()
            .and_then(|e| self.organization(e.managing_organization.as_ref()))
            .and_then(|o| o.extra.get("extension"))
            .and_then(|ext| ext.as_array())
            .and_then(|exts| {
                exts.iter()
                    .find(|e| e.get("url").and_then(Value::as_str) == Some(TIME_ZONE_EXTENSION))
            })
            .and_then(|e| e.get("valueCode").and_then(Value::as_str))
            .and_then(|name| TimeZone::get(name).ok())
            .unwrap_or_else(TimeZone::system)
    }
}

fn is_phase(plan: &CarePlan) -> bool {
    plan.category
        .iter()
        .any(|c| c.has(CARE_PLAN_KIND_SYSTEM, "phase"))
        && !matches!(plan.status.as_str(), "revoked" | "entered-in-error")
}

fn period_dates(plan: &CarePlan) -> (Option<Date>, Option<Date>) {
    let parse = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| FhirDateTime::parse(s).ok())
            .map(|d| d.date())
    };
    plan.period
        .as_ref()
        .map(|p| (parse(&p.start), parse(&p.end)))
        .unwrap_or((None, None))
}

/// The phases in order, and the index of the current one: the last phase that
/// has started by `today` (the team's `active` status decides when no dates say).
pub fn phases(record: &Record, today: Date) -> (Vec<&CarePlan>, Option<usize>) {
    let mut phases: Vec<&CarePlan> = record.care_plans.iter().filter(|p| is_phase(p)).collect();
    // By start, then by end: a one-day phase (the surgery) comes before one
    // that starts the same day and goes on (the hospital stay).
    phases.sort_by_key(|p| {
        let (start, end) = period_dates(p);
        (start.unwrap_or(Date::MAX), end.unwrap_or(Date::MAX))
    });
    let by_date = phases.iter().rposition(|p| {
        let (start, end) = period_dates(p);
        start.is_some_and(|s| s <= today) && end.is_none_or(|e| e >= today)
    });
    let by_start = phases
        .iter()
        .rposition(|p| period_dates(p).0.is_some_and(|s| s <= today));
    let by_status = phases.iter().position(|p| p.status == "active");
    let current = by_date.or(by_status).or(by_start);
    (phases, current)
}

fn is_open_appointment(a: &Appointment) -> bool {
    matches!(
        a.status.as_str(),
        "proposed" | "pending" | "booked" | "arrived" | "checked-in" | "waitlist"
    )
}

fn is_open_task(t: &Task) -> bool {
    matches!(
        t.status.as_str(),
        "draft" | "requested" | "received" | "accepted" | "ready" | "in-progress" | "on-hold"
    )
}

fn appointment_step(record: &Record, a: &Appointment, now: Timestamp) -> Option<NextStep> {
    let start = FhirDateTime::parse(a.start.as_deref()?).ok()?;
    if !is_open_appointment(a) || start.start_instant(&TimeZone::UTC) < now {
        return None;
    }
    let title = a.description.clone().or_else(|| {
        a.service_type
            .first()
            .and_then(|s| s.label())
            .map(str::to_owned)
    })?;
    let who = a
        .participant
        .iter()
        .filter_map(|p| p.actor.as_ref())
        .find_map(|actor| {
            let is_practitioner = actor.reference.as_deref().is_some_and(|r| {
                r.starts_with("Practitioner/") || r.starts_with("PractitionerRole/")
            });
            if is_practitioner {
                record.practitioner_name(actor)
            } else {
                None
            }
        });
    let place = a
        .participant
        .iter()
        .filter_map(|p| p.actor.as_ref())
        .find_map(|actor| {
            let is_location = match actor.reference.as_deref() {
                Some(r) => r.starts_with("Location/"),
                None => true,
            };
            if is_location {
                actor.display.clone()
            } else {
                None
            }
        });
    Some(NextStep {
        id: format!("Appointment/{}", a.id.as_deref().unwrap_or_default()),
        kind: StepKind::Appointment,
        title,
        date: start.date().to_string(),
        time: start.time().map(|t| t.strftime("%H:%M").to_string()),
        place,
        who,
        prepare: a.patient_instruction.clone().or_else(|| a.comment.clone()),
        lang: record.left_in("Appointment", a.id.as_deref()),
    })
}

fn task_due(t: &Task) -> Option<FhirDateTime> {
    let period = t.restriction.as_ref()?.period.as_ref()?;
    period
        .end
        .as_deref()
        .or(period.start.as_deref())
        .and_then(|d| FhirDateTime::parse(d).ok())
}

/// Task kinds that are not the patient's own to-do: the team's reply to a
/// message, and questionnaires (shown in their own list).
const NOT_CHECKLIST: [&str; 2] = ["reply", "questionnaire"];

fn is_checklist(t: &Task) -> bool {
    !t.code.as_ref().is_some_and(|c| {
        c.has(
            carecycle_fhir::sdc::SDC_TEMP_SYSTEM,
            "complete-questionnaire",
        ) || NOT_CHECKLIST
            .iter()
            .any(|kind| c.has(TASK_KIND_SYSTEM, kind))
    })
}

fn task_step(record: &Record, t: &Task, today: Date) -> Option<NextStep> {
    let due = task_due(t)?;
    if !is_open_task(t) || !is_checklist(t) || due.date() < today {
        return None;
    }
    let note = t
        .extra
        .get("note")
        .and_then(Value::as_array)
        .and_then(|n| n.first())
        .and_then(|n| n.get("text"))
        .and_then(Value::as_str);
    Some(NextStep {
        id: format!("Task/{}", t.id.as_deref().unwrap_or_default()),
        kind: StepKind::Checklist,
        title: t
            .description
            .clone()
            .or_else(|| t.code.as_ref().and_then(|c| c.label()).map(str::to_owned))?,
        date: due.date().to_string(),
        time: due.time().map(|t| t.strftime("%H:%M").to_string()),
        place: None,
        who: None,
        prepare: note.map(str::to_owned),
        lang: record.left_in("Task", t.id.as_deref()),
    })
}

/// Upcoming appointments and open checklist items, soonest first; on one day,
/// timed appointments come before things to do by the end of the day.
pub fn next_steps(record: &Record, now: Timestamp, tz: &TimeZone) -> Vec<NextStep> {
    let today = now.to_zoned(tz.clone()).date();
    let mut steps: Vec<NextStep> = record
        .appointments
        .iter()
        .filter_map(|a| appointment_step(record, a, now))
        .chain(
            record
                .tasks
                .iter()
                .filter_map(|t| task_step(record, t, today)),
        )
        .collect();
    steps.sort_by(|a, b| {
        (&a.date, a.time.as_deref().unwrap_or("99:99"), &a.title).cmp(&(
            &b.date,
            b.time.as_deref().unwrap_or("99:99"),
            &b.title,
        ))
    });
    steps
}

/// The care coordinator of the patient's active care team.
pub fn coordinator(record: &Record) -> Option<TeamMemberView> {
    let team = record
        .care_teams
        .iter()
        .find(|t| t.status.as_deref() == Some("active"))
        .or(record.care_teams.first())?;
    let participant = team
        .participant
        .iter()
        .find(|p| p.role.iter().any(|r| r.is_team_role("care-coordinator")))?;
    let role = participant
        .role
        .iter()
        .find(|r| !r.is_team_role("care-coordinator"))
        .and_then(|r| r.label())
        .map(str::to_owned);
    Some(TeamMemberView {
        name: record.practitioner_name(participant.member.as_ref()?)?,
        role,
        is_care_coordinator: true,
        lang: record.left_in("CareTeam", team.id.as_deref()),
    })
}

/// The patient's checklist: open items soonest first, then what is done
/// (newest first), each with how to do it. `state_of` gives the send state of
/// a task the patient ticked (pending, failed, conflict) when not yet settled.
pub fn checklist(
    record: &Record,
    state_of: impl Fn(&str) -> Option<crate::outbox::ItemState>,
) -> Vec<crate::contract::ChecklistItem> {
    let mut items: Vec<crate::contract::ChecklistItem> = record
        .tasks
        .iter()
        .filter(|t| {
            is_checklist(t)
                && !matches!(
                    t.status.as_str(),
                    "cancelled" | "entered-in-error" | "rejected"
                )
        })
        .filter_map(|t| {
            let id = t.id.clone()?;
            Some(crate::contract::ChecklistItem {
                id: format!("Task/{id}"),
                title: t
                    .description
                    .clone()
                    .or_else(|| t.code.as_ref().and_then(|c| c.label()).map(str::to_owned))?,
                due: task_due(t).map(|d| d.date().to_string()),
                how: t
                    .extra
                    .get("note")
                    .and_then(Value::as_array)
                    .and_then(|n| n.first())
                    .and_then(|n| n.get("text"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                done: t.status == "completed",
                state: state_of(&id).unwrap_or(crate::outbox::ItemState::Sent),
                lang: record.left_in("Task", Some(&id)),
            })
        })
        .collect();
    items.sort_by(|a, b| match (a.done, b.done) {
        (false, false) => a.due.cmp(&b.due),
        (true, true) => b.due.cmp(&a.due),
        (done_a, _) => done_a.cmp(&!done_a),
    });
    items
}

/// Everyone on the patient's active care team: name, role, what to contact
/// them about and how (from their PractitionerRole in the unit), the care
/// coordinator first and marked.
/// `roles` are the unit's PractitionerRoles, each with the language its words
/// show in when that is not the app's (`translation::left_in`).
pub fn care_team(
    record: &Record,
    roles: &[(Value, Option<String>)],
) -> Vec<crate::contract::TeamMemberDetail> {
    let Some(team) = record
        .care_teams
        .iter()
        .find(|t| t.status.as_deref() == Some("active"))
        .or(record.care_teams.first())
    else {
        return Vec::new();
    };
    let mut out: Vec<crate::contract::TeamMemberDetail> = team
        .participant
        .iter()
        .filter_map(|p| {
            let member = p.member.as_ref()?;
            let reference = member.reference.as_deref().unwrap_or_default();
            let has = |code: &str| p.role.iter().any(|r| r.is_team_role(code));
            let role = p
                .role
                .iter()
                .find(|r| !r.is_team_role("care-coordinator") && !r.is_team_role("team-captain"))
                .and_then(|r| r.label())
                .map(str::to_owned);
            let (practitioner_role, contact_lang) = roles
                .iter()
                .find(|(r, _)| r["practitioner"]["reference"].as_str() == Some(reference))
                .map_or((None, None), |(r, left)| (Some(r), left.clone()));
            Some(crate::contract::TeamMemberDetail {
                name: record.practitioner_name(member)?,
                role,
                contact_for: practitioner_role
                    .and_then(|r| r["availabilityExceptions"].as_str())
                    .map(str::to_owned),
                phone: practitioner_role
                    .and_then(|r| r["telecom"].as_array())
                    .and_then(|t| t.iter().find(|c| c["system"] == "phone"))
                    .and_then(|c| c["value"].as_str())
                    .map(str::to_owned),
                is_care_coordinator: has("care-coordinator"),
                is_team_captain: has("team-captain"),
                contact_lang,
                lang: record.left_in("CareTeam", team.id.as_deref()),
            })
        })
        .collect();
    out.sort_by_key(|m| !m.is_care_coordinator);
    out
}

/// The whole care cycle: every phase in order (the current one marked) and
/// every upcoming appointment, for the timeline.
pub fn timeline(record: &Record, now: Timestamp) -> crate::contract::TimelineView {
    let tz = record.time_zone();
    let today = now.to_zoned(tz.clone()).date();
    let (plans, current) = phases(record, today);
    let phases = plans
        .iter()
        .enumerate()
        .filter_map(|(i, plan)| {
            let (start, end) = period_dates(plan);
            Some(crate::contract::TimelinePhase {
                title: plan.title.clone()?,
                description: plan.description.clone(),
                start: start.map(|d| d.to_string()),
                end: end.map(|d| d.to_string()),
                current: current == Some(i),
                done: current.is_some_and(|c| i < c),
                lang: record.left_in("CarePlan", plan.id.as_deref()),
            })
        })
        .collect();
    let appointments = next_steps(record, now, &tz)
        .into_iter()
        .filter(|s| s.kind == StepKind::Appointment)
        .collect();
    crate::contract::TimelineView {
        phases,
        appointments,
    }
}

/// A name for an appointment's calendar file: `appointment-2026-11-24`, from
/// its date (in UTC, as the file's times are), never from its server id.
pub fn appointment_file_stem(record: &Record, id: &str) -> Option<String> {
    let id = id.trim_start_matches("Appointment/");
    let a = record
        .appointments
        .iter()
        .find(|a| a.id.as_deref() == Some(id))?;
    let start = FhirDateTime::parse(a.start.as_deref()?).ok()?;
    Some(format!(
        "appointment-{}",
        start.start_instant(&TimeZone::UTC).strftime("%Y-%m-%d")
    ))
}

/// One appointment as an iCalendar (RFC 5545) file, to add to a calendar,
/// with CareCycle's own words in `lang` (the team's words stay as written).
pub fn appointment_ics(
    record: &Record,
    id: &str,
    now: Timestamp,
    lang: crate::words::Lang,
) -> Option<String> {
    use crate::words::{Phrase, say};
    let id = id.trim_start_matches("Appointment/");
    let a = record
        .appointments
        .iter()
        .find(|a| a.id.as_deref() == Some(id))?;
    let instant = |v: Option<&str>| {
        v.and_then(|s| FhirDateTime::parse(s).ok()).map(|d| {
            d.start_instant(&TimeZone::UTC)
                .strftime("%Y%m%dT%H%M%SZ")
                .to_string()
        })
    };
    let start = instant(a.start.as_deref())?;
    let end = instant(a.end.as_deref()).unwrap_or_else(|| start.clone());
    let escape = |t: &str| {
        t.replace('\\', "\\\\")
            .replace(';', "\\;")
            .replace(',', "\\,")
            .replace('\n', "\\n")
    };
    let step = appointment_step(record, a, Timestamp::MIN)?;
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//CareCycle//Care cycle//EN".to_owned(),
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{id}@carecycle"),
        format!("DTSTAMP:{}", now.strftime("%Y%m%dT%H%M%SZ")),
        format!("DTSTART:{start}"),
        format!("DTEND:{end}"),
        format!("SUMMARY:{}", escape(&step.title)),
    ];
    if let Some(place) = &step.place {
        lines.push(format!("LOCATION:{}", escape(place)));
    }
    let mut description = Vec::new();
    if let Some(who) = &step.who {
        description.push(say(lang, Phrase::With { who }));
    }
    if let Some(prepare) = &step.prepare {
        description.push(say(lang, Phrase::HowToPrepare { prepare }));
    }
    if !description.is_empty() {
        lines.push(format!("DESCRIPTION:{}", escape(&description.join("\n"))));
    }
    lines.extend(["END:VEVENT".to_owned(), "END:VCALENDAR".to_owned()]);
    // Lines longer than 75 octets are folded (RFC 5545 §3.1), on character boundaries.
    let fold = |line: &str| {
        let mut out = String::new();
        let mut width = 0;
        for c in line.chars() {
            if width + c.len_utf8() > 75 {
                out.push_str("\r\n ");
                width = 1;
            }
            out.push(c);
            width += c.len_utf8();
        }
        out
    };
    Some(
        lines
            .iter()
            .map(|l| fold(l))
            .collect::<Vec<_>>()
            .join("\r\n")
            + "\r\n",
    )
}

pub fn today_view(record: &Record, now: Timestamp, last_synced: Option<String>) -> TodayView {
    let tz = record.time_zone();
    let today = now.to_zoned(tz.clone()).date();
    let (phases, current) = phases(record, today);
    let phase = current.and_then(|i| {
        let plan = phases.get(i)?;
        let (start, end) = period_dates(plan);
        Some(PhaseView {
            title: plan.title.clone()?,
            description: plan.description.clone(),
            start: start.map(|d| d.to_string()),
            end: end.map(|d| d.to_string()),
            position: (i + 1) as u32,
            count: phases.len() as u32,
            lang: record.left_in("CarePlan", plan.id.as_deref()),
        })
    });
    let episode = record.episode();
    let mut steps = next_steps(record, now, &tz);
    steps.truncate(NEXT_STEPS_SHOWN);
    TodayView {
        patient_name: record.patient_name(),
        ipu_name: episode.and_then(|e| {
            record
                .organization(e.managing_organization.as_ref())
                .and_then(|o| o.name.clone())
                .or_else(|| {
                    e.managing_organization
                        .as_ref()
                        .and_then(|r| r.display.clone())
                })
        }),
        condition: episode
            .and_then(|e| e.type_.first())
            .and_then(|c| c.label())
            .map(str::to_owned),
        condition_lang: episode.and_then(|e| record.left_in("EpisodeOfCare", e.id.as_deref())),
        phase,
        next_steps: steps,
        coordinator: coordinator(record),
        last_synced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::Lang;
    use carecycle_fhir::TEAM_ROLE_SYSTEM;
    use serde_json::json;

    fn plan(title: &str, start: &str, end: &str, status: &str) -> CarePlan {
        CarePlan::from_value(json!({
            "resourceType": "CarePlan", "status": status, "intent": "plan", "title": title,
            "category": [{"coding": [{"system": CARE_PLAN_KIND_SYSTEM, "code": "phase"}]}],
            "subject": {"reference": "Patient/p"}, "period": {"start": start, "end": end}
        }))
        .unwrap()
    }

    fn record() -> Record {
        Record {
            patient_id: "p".into(),
            patients: vec![Patient::from_value(json!({"resourceType": "Patient", "id": "p", "name": [{"given": ["Ana"], "family": "Ruiz"}]})).unwrap()],
            care_plans: vec![
                plan("Surgery", "2026-12-08", "2026-12-08", "draft"),
                plan("Evaluation", "2026-10-01", "2026-10-20", "completed"),
                plan("Prehabilitation", "2026-10-21", "2026-12-07", "active"),
            ],
            appointments: vec![
                Appointment::from_value(json!({"resourceType": "Appointment", "id": "past", "status": "booked",
                    "description": "Past visit", "start": "2026-11-01T09:00:00-06:00", "participant": []})).unwrap(),
                Appointment::from_value(json!({"resourceType": "Appointment", "id": "pt", "status": "booked",
                    "description": "Physical therapy", "start": "2026-11-24T10:00:00-06:00",
                    "patientInstruction": "Wear comfortable shoes.",
                    "participant": [{"actor": {"reference": "Practitioner/d", "display": "Tomás Herrera, DPT"}, "status": "accepted"},
                                    {"actor": {"display": "Rehab Gym"}, "status": "accepted"}]})).unwrap(),
                Appointment::from_value(json!({"resourceType": "Appointment", "id": "x", "status": "cancelled",
                    "description": "Cancelled", "start": "2026-11-23T10:00:00-06:00", "participant": []})).unwrap(),
            ],
            tasks: vec![
                Task::from_value(json!({"resourceType": "Task", "id": "t1", "status": "requested", "intent": "order",
                    "description": "Stop blood thinner", "restriction": {"period": {"end": "2026-11-24"}}})).unwrap(),
                Task::from_value(json!({"resourceType": "Task", "id": "t2", "status": "completed", "intent": "order",
                    "description": "Done already", "restriction": {"period": {"end": "2026-11-30"}}})).unwrap(),
                // The team's reply and a questionnaire are not the patient's checklist.
                Task::from_value(json!({"resourceType": "Task", "id": "t3", "status": "requested", "intent": "order",
                    "code": {"coding": [{"system": TASK_KIND_SYSTEM, "code": "reply"}]},
                    "description": "Reply: scheduling", "restriction": {"period": {"end": "2026-11-24"}}})).unwrap(),
                Task::from_value(json!({"resourceType": "Task", "id": "t4", "status": "requested", "intent": "order",
                    "code": {"coding": [{"system": TASK_KIND_SYSTEM, "code": "questionnaire"}]},
                    "description": "PHQ-9", "restriction": {"period": {"end": "2026-11-24"}}})).unwrap(),
                Task::from_value(json!({"resourceType": "Task", "id": "t5", "status": "requested", "intent": "order",
                    "code": carecycle_fhir::sdc::task_code(),
                    "description": "GAD-7", "restriction": {"period": {"end": "2026-11-24"}}})).unwrap(),
            ],
            care_teams: vec![CareTeam::from_value(json!({"resourceType": "CareTeam", "status": "active", "participant": [
                {"role": [{"text": "Surgeon"}], "member": {"reference": "Practitioner/s", "display": "Dr. S"}},
                {"role": [{"text": "Nurse navigator"}, {"coding": [{"system": TEAM_ROLE_SYSTEM, "code": "care-coordinator"}]}],
                 "member": {"reference": "Practitioner/n", "display": "Priya Raman, RN"}}
            ]})).unwrap()],
            ..Default::default()
        }
    }

    /// A server that never heard of CareCycle names the coordinator by SNOMED
    /// CT's occupation (768820003 Care coordinator) or NUCC's taxonomy
    /// (171M00000X Case Manager/Care Coordinator), as US Core does; a
    /// registered nurse alone is not taken for one.
    #[test]
    fn the_coordinator_is_found_by_standard_codes_too() {
        let team = |role: Value| {
            Record {
            care_teams: vec![CareTeam::from_value(json!({"resourceType": "CareTeam", "status": "active", "participant": [
                {"role": [role], "member": {"reference": "Practitioner/n", "display": "Priya Raman, RN"}}]})).unwrap()],
            ..Default::default()
        }
        };
        for system_code in [
            ("http://snomed.info/sct", "768820003"),
            ("http://nucc.org/provider-taxonomy", "171M00000X"),
        ] {
            let r = team(json!({"coding": [{"system": system_code.0, "code": system_code.1}]}));
            assert_eq!(
                coordinator(&r).map(|c| c.name),
                Some("Priya Raman, RN".to_owned())
            );
        }
        let nurse =
            team(json!({"coding": [{"system": "http://snomed.info/sct", "code": "224535009"}]}));
        assert!(coordinator(&nurse).is_none());
        let ours = team(carecycle_fhir::published::team_role("care-coordinator"));
        assert!(coordinator(&ours).is_some());
    }

    #[test]
    fn an_appointment_becomes_an_ics_file() {
        let r = record();
        let now: Timestamp = "2026-11-22T15:00:00Z".parse().unwrap();
        let ics = appointment_ics(&r, "Appointment/pt", now, Lang::En).unwrap();
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(ics.contains("DTSTART:20261124T160000Z\r\n"), "{ics}");
        assert!(ics.contains("SUMMARY:Physical therapy\r\n"));
        assert!(ics.contains("LOCATION:Rehab Gym\r\n"));
        let unfolded = ics.replace("\r\n ", "");
        assert!(
            unfolded.contains(
                "DESCRIPTION:With Tomás Herrera\\, DPT\\nHow to prepare: Wear comfortable shoes."
            ),
            "{ics}"
        );
        assert!(
            ics.lines().all(|l| l.trim_end_matches('\r').len() <= 75),
            "folded at 75 octets"
        );
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        assert!(appointment_ics(&r, "Appointment/nope", now, Lang::En).is_none());
        let spanish = appointment_ics(&r, "Appointment/pt", now, Lang::Es)
            .unwrap()
            .replace("\r\n ", "");
        assert!(
            spanish.contains(
                "DESCRIPTION:Con Tomás Herrera\\, DPT\\nCómo prepararse: Wear comfortable shoes."
            ),
            "{spanish}"
        );
        assert_eq!(
            appointment_file_stem(&r, "Appointment/pt").as_deref(),
            Some("appointment-2026-11-24")
        );
    }

    #[test]
    fn current_phase_follows_the_calendar() {
        let r = record();
        let (phases, current) = phases(&r, "2026-11-22".parse().unwrap());
        assert_eq!(
            phases
                .iter()
                .map(|p| p.title.as_deref().unwrap())
                .collect::<Vec<_>>(),
            ["Evaluation", "Prehabilitation", "Surgery"]
        );
        assert_eq!(current, Some(1));
        let (_, on_the_day) = super::phases(&r, "2026-12-08".parse().unwrap());
        assert_eq!(on_the_day, Some(2));
    }

    #[test]
    fn next_steps_are_open_future_and_ordered() {
        let r = record();
        let now: Timestamp = "2026-11-22T15:00:00Z".parse().unwrap();
        let steps = next_steps(&r, now, &TimeZone::get("America/Chicago").unwrap());
        let titles: Vec<_> = steps.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["Physical therapy", "Stop blood thinner"]);
        assert_eq!(steps[0].time.as_deref(), Some("10:00"));
        assert_eq!(steps[0].who.as_deref(), Some("Tomás Herrera, DPT"));
        assert_eq!(steps[0].place.as_deref(), Some("Rehab Gym"));
        assert_eq!(steps[1].date, "2026-11-24");
    }

    #[test]
    fn today_names_the_coordinator_and_phase() {
        let view = today_view(&record(), "2026-11-22T15:00:00Z".parse().unwrap(), None);
        assert_eq!(view.patient_name.as_deref(), Some("Ana Ruiz"));
        let phase = view.phase.unwrap();
        assert_eq!(
            (phase.title.as_str(), phase.position, phase.count),
            ("Prehabilitation", 2, 3)
        );
        let c = view.coordinator.unwrap();
        assert_eq!(
            (c.name.as_str(), c.role.as_deref()),
            ("Priya Raman, RN", Some("Nurse navigator"))
        );
    }
}
