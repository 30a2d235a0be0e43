//! Who may see and change what. Three kinds of user sign in:
//!
//! - a **patient**, who reaches their own compartment;
//! - a **family member** (a RelatedPerson user), who reaches only the areas the
//!   patient granted — schedule & milestones, education, messages,
//!   questionnaires — each revocable at any time (checked on every request);
//! - a **care-team member**, who reaches the patients of their own IPU (the
//!   patients whose EpisodeOfCare that IPU manages).
//!
//! The decisions are plain functions of the caller and the stored resource, so
//! they are tested without HTTP. A denial of a single resource answers exactly
//! as "not found" would, so it reveals nothing.

use carecycle_fhir::ResourceType;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS proxy_grant (
    related_person TEXT NOT NULL,
    patient TEXT NOT NULL,
    area TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    revoked_at TEXT,
    PRIMARY KEY (related_person, area)
);
CREATE TABLE IF NOT EXISTS patient_org (
    patient TEXT NOT NULL,
    org TEXT NOT NULL,
    PRIMARY KEY (patient, org)
);
"#;

pub use carecycle_fhir::TASK_KIND_SYSTEM;

/// The parts of a record a patient can share with a family member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Area {
    Schedule,
    Education,
    Messages,
    Questionnaires,
}

impl Area {
    pub const ALL: [Area; 4] = [
        Area::Schedule,
        Area::Education,
        Area::Messages,
        Area::Questionnaires,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Area::Schedule => "schedule",
            Area::Education => "education",
            Area::Messages => "messages",
            Area::Questionnaires => "questionnaires",
        }
    }

    pub fn parse(code: &str) -> Option<Area> {
        Area::ALL.into_iter().find(|a| a.code() == code)
    }
}

/// Which area a resource of the patient's record belongs to; `None` for what
/// every user of the record sees (the Patient itself, the family member's own
/// RelatedPerson) and for what no family member sees (AuditEvent: see [`may_read`]).
pub fn area_of(t: ResourceType, content: &Value) -> Option<Area> {
    match t {
        ResourceType::Task => Some(match carecycle_fhir::task_kind(content) {
            Some("questionnaire") => Area::Questionnaires,
            Some("reply") => Area::Messages,
            _ if focus_type(content) == Some("Questionnaire") => Area::Questionnaires,
            _ if focus_type(content) == Some("Communication") => Area::Messages,
            _ => Area::Schedule,
        }),
        _ => carecycle_fhir::record_area(t).and_then(Area::parse),
    }
}

/// Why a family member cannot see an area, in words.
pub fn not_shared(area: Area) -> &'static str {
    match area {
        Area::Schedule => "the patient has not shared their schedule with you",
        Area::Education => "the patient has not shared their reading with you",
        Area::Messages => "the patient has not shared their messages with you",
        Area::Questionnaires => "the patient has not shared their questionnaires with you",
    }
}

fn focus_type(content: &Value) -> Option<&str> {
    content
        .get("focus")?
        .get("reference")?
        .as_str()?
        .split('/')
        .rev()
        .nth(1)
}

/// What kind of user is calling, with what they may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Patient {
        patient: String,
    },
    /// A family member: the patient whose record they help with, and the
    /// areas granted right now.
    Proxy {
        related_person: String,
        patient: String,
        areas: Vec<Area>,
    },
    /// A care-team member of one IPU (an Organization id).
    Team {
        practitioner: String,
        organization: String,
    },
    /// A signed-in user linked to no record.
    Unlinked,
}

impl Role {
    /// The patient in context (SMART `patient`), for patients and family members.
    pub fn patient(&self) -> Option<&str> {
        match self {
            Role::Patient { patient } | Role::Proxy { patient, .. } => Some(patient),
            _ => None,
        }
    }
}

/// Facts about a stored resource that access depends on.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub resource_type: ResourceType,
    pub id: &'a str,
    /// The patient whose compartment holds it.
    pub patient: Option<&'a str>,
    pub area: Option<Area>,
}

/// May this role read the resource? `team_reaches` answers whether a patient
/// belongs to the caller's IPU (looked up only for team members).
pub fn may_read(role: &Role, s: Subject<'_>, team_reaches: impl Fn(&str) -> bool) -> bool {
    if !s.resource_type.in_patient_compartment() {
        // The shared directory: practitioners, organizations, questionnaires.
        return !matches!(role, Role::Unlinked);
    }
    let Some(owner) = s.patient else {
        // A compartment resource that names no patient belongs to no one here.
        return matches!(role, Role::Team { .. }) && s.resource_type != ResourceType::AuditEvent;
    };
    match role {
        Role::Patient { patient } => patient == owner,
        Role::Proxy {
            related_person,
            patient,
            areas,
        } => {
            patient == owner
                && match s.resource_type {
                    ResourceType::Patient => true,
                    ResourceType::RelatedPerson => s.id == related_person,
                    ResourceType::AuditEvent => false,
                    _ => s.area.is_some_and(|a| areas.contains(&a)),
                }
        }
        Role::Team { .. } => team_reaches(owner),
        Role::Unlinked => false,
    }
}

/// May this role create, change or delete the resource (as it will be after
/// the write)? Patients and family members write only inside the record they
/// see (family members only in granted areas, and never the Patient or
/// AuditEvents); the team writes for its own patients and, as the IPU, the
/// shared directory.
pub fn may_write(role: &Role, s: Subject<'_>, team_reaches: impl Fn(&str) -> bool) -> bool {
    if s.resource_type == ResourceType::AuditEvent {
        return false;
    }
    if !s.resource_type.in_patient_compartment() {
        return matches!(role, Role::Team { .. });
    }
    let Some(owner) = s.patient else {
        return false;
    };
    match role {
        Role::Patient { patient } => patient == owner,
        Role::Proxy { patient, areas, .. } => {
            patient == owner
                && !matches!(
                    s.resource_type,
                    ResourceType::Patient | ResourceType::RelatedPerson
                )
                && s.area.is_some_and(|a| areas.contains(&a))
        }
        Role::Team { .. } => team_reaches(owner),
        Role::Unlinked => false,
    }
}

/// The areas a family member may reach now (granted and not revoked).
pub fn granted_areas(conn: &Connection, related_person: &str) -> rusqlite::Result<Vec<Area>> {
    let mut stmt = conn.prepare_cached(
        "SELECT area FROM proxy_grant WHERE related_person = ?1 AND revoked_at IS NULL ORDER BY area",
    )?;
    let rows = stmt.query_map([related_person], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for code in rows {
        if let Some(a) = Area::parse(&code?) {
            out.push(a);
        }
    }
    Ok(out)
}

/// Grants (or re-grants) an area to a family member.
pub fn grant(
    conn: &Connection,
    related_person: &str,
    patient: &str,
    area: Area,
    now: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO proxy_grant (related_person, patient, area, granted_at, revoked_at)
         VALUES (?1, ?2, ?3, ?4, NULL)
         ON CONFLICT (related_person, area) DO UPDATE SET patient = excluded.patient,
            granted_at = excluded.granted_at, revoked_at = NULL",
        params![related_person, patient, area.code(), now],
    )?;
    Ok(())
}

/// Revokes an area; true when a live grant was revoked.
pub fn revoke(
    conn: &Connection,
    related_person: &str,
    area: Area,
    now: &str,
) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE proxy_grant SET revoked_at = ?3 WHERE related_person = ?1 AND area = ?2 AND revoked_at IS NULL",
        params![related_person, area.code(), now],
    )? > 0)
}

/// Does this IPU look after this patient?
pub fn org_reaches(conn: &Connection, org: &str, patient: &str) -> rusqlite::Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM patient_org WHERE org = ?1 AND patient = ?2",
            params![org, patient],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Keeps `patient_org` in step with an EpisodeOfCare: the IPU that manages an
/// episode reaches its patient.
pub fn index_episode(
    conn: &Connection,
    patient: Option<&str>,
    content: &Value,
) -> rusqlite::Result<()> {
    let org = content
        .get("managingOrganization")
        .and_then(|o| o.get("reference"))
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("Organization/"));
    if let (Some(patient), Some(org)) = (patient, org) {
        conn.execute(
            "INSERT OR IGNORE INTO patient_org (patient, org) VALUES (?1, ?2)",
            params![patient, org],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ResourceType as T;
    use serde_json::json;

    fn subject(
        t: ResourceType,
        patient: Option<&'static str>,
        area: Option<Area>,
    ) -> Subject<'static> {
        Subject {
            resource_type: t,
            id: "x",
            patient,
            area,
        }
    }

    #[test]
    fn tasks_belong_to_the_area_of_their_kind() {
        let q =
            json!({"code": {"coding": [{"system": TASK_KIND_SYSTEM, "code": "questionnaire"}]}});
        assert_eq!(area_of(T::Task, &q), Some(Area::Questionnaires));
        let by_focus = json!({"focus": {"reference": "Questionnaire/phq-9"}});
        assert_eq!(area_of(T::Task, &by_focus), Some(Area::Questionnaires));
        let reply = json!({"code": {"coding": [{"system": TASK_KIND_SYSTEM, "code": "reply"}]}});
        assert_eq!(area_of(T::Task, &reply), Some(Area::Messages));
        assert_eq!(area_of(T::Task, &json!({})), Some(Area::Schedule));
    }

    #[test]
    fn the_matrix() {
        let patient = Role::Patient {
            patient: "a".into(),
        };
        let proxy = Role::Proxy {
            related_person: "rp".into(),
            patient: "a".into(),
            areas: vec![Area::Schedule, Area::Education],
        };
        let team_a = Role::Team {
            practitioner: "d".into(),
            organization: "knee".into(),
        };
        let reaches_a = |p: &str| p == "a";
        let reaches_none = |_: &str| false;

        let appt_a = subject(T::Appointment, Some("a"), Some(Area::Schedule));
        let appt_b = subject(T::Appointment, Some("b"), Some(Area::Schedule));
        let msg_a = subject(T::Communication, Some("a"), Some(Area::Messages));
        let qr_a = subject(
            T::QuestionnaireResponse,
            Some("a"),
            Some(Area::Questionnaires),
        );
        let doc_a = subject(T::DocumentReference, Some("a"), Some(Area::Education));
        let audit_a = subject(T::AuditEvent, Some("a"), None);
        let patient_a = subject(T::Patient, Some("a"), None);
        let practitioner = subject(T::Practitioner, None, None);

        // A patient: their own record, never another's.
        assert!(may_read(&patient, appt_a, reaches_none));
        assert!(!may_read(&patient, appt_b, reaches_none));
        assert!(may_read(&patient, audit_a, reaches_none));
        assert!(may_write(&patient, msg_a, reaches_none));
        assert!(!may_write(&patient, audit_a, reaches_none));
        assert!(!may_write(&patient, practitioner, reaches_none));

        // A family member: granted areas only, the patient's name, no audit log.
        assert!(may_read(&proxy, appt_a, reaches_none));
        assert!(may_read(&proxy, doc_a, reaches_none));
        assert!(may_read(&proxy, patient_a, reaches_none));
        assert!(!may_read(&proxy, msg_a, reaches_none));
        assert!(!may_read(&proxy, qr_a, reaches_none));
        assert!(!may_read(&proxy, audit_a, reaches_none));
        assert!(!may_read(&proxy, appt_b, reaches_none));
        assert!(!may_write(&proxy, patient_a, reaches_none));
        assert!(!may_write(&proxy, msg_a, reaches_none));
        let revoked = Role::Proxy {
            related_person: "rp".into(),
            patient: "a".into(),
            areas: vec![],
        };
        assert!(!may_read(&revoked, appt_a, reaches_none));
        assert!(may_read(&revoked, patient_a, reaches_none));

        // The team: the patients of their own IPU, and the directory.
        assert!(may_read(&team_a, msg_a, reaches_a));
        assert!(!may_read(&team_a, appt_b, reaches_a));
        assert!(may_write(&team_a, practitioner, reaches_a));
        assert!(may_write(&team_a, appt_a, reaches_a));
        assert!(!may_write(&team_a, appt_b, reaches_a));

        assert!(!may_read(&Role::Unlinked, practitioner, reaches_none));
    }
}
