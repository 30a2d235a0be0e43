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
    expires_at TEXT,
    PRIMARY KEY (related_person, area)
);
-- Which unit looks after which patient, derived on every request from the
-- current EpisodesOfCare (never a table that only grows): ending or deleting an
-- episode ends that unit's access at once. Earlier versions kept a table.
DROP TABLE IF EXISTS patient_org;
CREATE VIEW IF NOT EXISTS care_link AS
    SELECT patient, substr(json_extract(content, '$.managingOrganization.reference'), 14) AS org
    FROM resource
    WHERE type = 'EpisodeOfCare' AND deleted = 0 AND patient IS NOT NULL
      AND json_extract(content, '$.status') IN ('planned', 'waitlist', 'active', 'onhold')
      AND json_extract(content, '$.managingOrganization.reference') LIKE 'Organization/%';
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
/// RelatedPerson) and for what no family member sees (AuditEvent: see [`crate::policy`]).
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

/// The areas a family member may reach at `now` (granted, not revoked, not past their end).
pub fn granted_areas(
    conn: &Connection,
    related_person: &str,
    now: &str,
) -> rusqlite::Result<Vec<Area>> {
    let mut stmt = conn.prepare_cached(
        "SELECT area FROM proxy_grant WHERE related_person = ?1 AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > ?2) ORDER BY area",
    )?;
    let rows = stmt.query_map(params![related_person, now], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for code in rows {
        if let Some(a) = Area::parse(&code?) {
            out.push(a);
        }
    }
    Ok(out)
}

/// Grants (or re-grants) an area to a family member, until `until` when given.
pub fn grant(
    conn: &Connection,
    related_person: &str,
    patient: &str,
    area: Area,
    now: &str,
    until: Option<&str>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO proxy_grant (related_person, patient, area, granted_at, revoked_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, NULL, ?5)
         ON CONFLICT (related_person, area) DO UPDATE SET patient = excluded.patient,
            granted_at = excluded.granted_at, revoked_at = NULL, expires_at = excluded.expires_at",
        params![related_person, patient, area.code(), now, until],
    )?;
    Ok(())
}

/// Revokes an area, and ends every sign-in of that family member at once
/// (their access and refresh tokens): the next sign-in is granted what is
/// still shared. True when a live grant was revoked.
pub fn revoke(
    conn: &Connection,
    related_person: &str,
    area: Area,
    now: &str,
) -> rusqlite::Result<bool> {
    let revoked = conn.execute(
        "UPDATE proxy_grant SET revoked_at = ?3 WHERE related_person = ?1 AND area = ?2 AND revoked_at IS NULL",
        params![related_person, area.code(), now],
    )? > 0;
    end_sign_ins(conn, &format!("RelatedPerson/{related_person}"))?;
    Ok(revoked)
}

/// Revokes every live token of the users who sign in as `fhir_user`.
pub fn end_sign_ins(conn: &Connection, fhir_user: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE token SET state = 'revoked' WHERE state = 'active'
           AND username IN (SELECT username FROM user_account WHERE fhir_user = ?1)",
        [fhir_user],
    )
}

/// Does this IPU look after this patient now (a current EpisodeOfCare)?
pub fn org_reaches(conn: &Connection, org: &str, patient: &str) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM care_link WHERE org = ?1 AND patient = ?2 LIMIT 1")?
        .query_row(params![org, patient], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Does this practitioner hold a live PractitionerRole in the unit?
pub fn practitioner_in_unit(
    conn: &Connection,
    practitioner: &str,
    org: &str,
) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM resource WHERE type = 'PractitionerRole' AND deleted = 0
               AND json_extract(content, '$.practitioner.reference') = ?1
               AND json_extract(content, '$.organization.reference') = ?2 LIMIT 1",
        )?
        .query_row(
            params![
                format!("Practitioner/{practitioner}"),
                format!("Organization/{org}")
            ],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
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
    ) -> crate::policy::Subject<'static> {
        crate::policy::Subject {
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
        let sdc = json!({"code": carecycle_fhir::sdc::task_code()});
        assert_eq!(area_of(T::Task, &sdc), Some(Area::Questionnaires));
        let by_focus = json!({"focus": {"reference": "Questionnaire/phq-9"}});
        assert_eq!(area_of(T::Task, &by_focus), Some(Area::Questionnaires));
        let reply = json!({"code": {"coding": [{"system": TASK_KIND_SYSTEM, "code": "reply"}]}});
        assert_eq!(area_of(T::Task, &reply), Some(Area::Messages));
        assert_eq!(area_of(T::Task, &json!({})), Some(Area::Schedule));
    }

    #[test]
    fn the_matrix() {
        use crate::policy::{Facts, Op, Subject, check_read};
        struct Reaches(&'static str);
        impl Facts for Reaches {
            fn unit_reaches(&self, patient: &str) -> bool {
                patient == self.0
            }
            fn practitioner_in_unit(&self, _: &str, _: &str) -> bool {
                false
            }
        }
        let reaches_a = Reaches("a");
        let reaches_none = Reaches("");
        let read = |role: &Role, s: Subject<'_>, f: &Reaches| check_read(role, Op::Read, s, f);
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
        assert!(read(&patient, appt_a, &reaches_none));
        assert!(!read(&patient, appt_b, &reaches_none));
        assert!(read(&patient, audit_a, &reaches_none));
        assert!(read(&patient, practitioner, &reaches_none));

        // A family member: granted areas only, the patient's name, no audit log.
        assert!(read(&proxy, appt_a, &reaches_none));
        assert!(read(&proxy, doc_a, &reaches_none));
        assert!(read(&proxy, patient_a, &reaches_none));
        assert!(!read(&proxy, msg_a, &reaches_none));
        assert!(!read(&proxy, qr_a, &reaches_none));
        assert!(!read(&proxy, audit_a, &reaches_none));
        assert!(!read(&proxy, appt_b, &reaches_none));
        let revoked = Role::Proxy {
            related_person: "rp".into(),
            patient: "a".into(),
            areas: vec![],
        };
        assert!(!read(&revoked, appt_a, &reaches_none));
        assert!(
            !read(&revoked, patient_a, &reaches_none),
            "with nothing shared, not even the name"
        );

        // The team: the patients of their own IPU, and the directory.
        assert!(read(&team_a, msg_a, &reaches_a));
        assert!(!read(&team_a, appt_b, &reaches_a));
        assert!(read(&team_a, practitioner, &reaches_a));

        assert!(!read(&Role::Unlinked, practitioner, &reaches_none));
    }
}
