//! Riverside Knee & Hip Unit: Eleanor's care cycle around a knee replacement,
//! its team, appointments, checklist, questionnaires, reading and messages.

use super::*;
use crate::access::{self, Area};
use crate::api::ApiError;
use crate::auth::{put_team_user, put_user};
use crate::routing::{self, ReplyPolicy};
use crate::store::{self, Stamper};
use carecycle_fhir::published::{self, coding};
use carecycle_fhir::time::format_zoned;
use carecycle_fhir::{CARE_PLAN_KIND_SYSTEM, ResourceType, sdc};
use jiff::civil::{Date, Time};
use jiff::{ToSpan, Zoned};
use rusqlite::Connection;
use serde_json::{Value, json};

struct Member {
    id: &'static str,
    prefix: Option<&'static str>,
    given: &'static str,
    family: &'static str,
    suffix: Option<&'static str>,
    /// Their profession on the team (CareCycle ipu-team-role).
    role_code: &'static str,
    /// A role on the team beside it (care coordinator, team captain).
    extra_role: Option<&'static str>,
    phone: &'static str,
    contact_for: &'static str,
}

const KNEE_TEAM: &[Member] = &[
    Member {
        id: "pr-okonkwo",
        prefix: Some("Dr."),
        given: "Samuel",
        family: "Okonkwo",
        suffix: None,
        role_code: "orthopaedic-surgeon",
        extra_role: Some("team-captain"),
        phone: "+1-312-555-0140",
        contact_for: "Questions about your surgery and whether it is the right choice for you",
    },
    Member {
        id: "pr-raman",
        prefix: None,
        given: "Priya",
        family: "Raman",
        suffix: Some("RN"),
        role_code: "nurse-navigator",
        extra_role: Some("care-coordinator"),
        phone: "+1-312-555-0141",
        contact_for: "Anything at all: your schedule, your next steps, or a worry you are not sure about",
    },
    Member {
        id: "pr-herrera",
        prefix: None,
        given: "Tomás",
        family: "Herrera",
        suffix: Some("DPT"),
        role_code: "physical-therapist",
        extra_role: None,
        phone: "+1-312-555-0142",
        contact_for: "Your exercises before and after surgery, walking aids, stiffness",
    },
    Member {
        id: "pr-lindqvist",
        prefix: None,
        given: "Grace",
        family: "Lindqvist",
        suffix: Some("LCSW"),
        role_code: "social-worker",
        extra_role: None,
        phone: "+1-312-555-0143",
        contact_for: "Help at home, transport, work leave, and how you are coping",
    },
    Member {
        id: "pr-bello",
        prefix: None,
        given: "Aisha",
        family: "Bello",
        suffix: Some("RD"),
        role_code: "dietitian",
        extra_role: None,
        phone: "+1-312-555-0144",
        contact_for: "Eating well before surgery and healing afterwards",
    },
    Member {
        id: "pr-cho",
        prefix: None,
        given: "Daniel",
        family: "Cho",
        suffix: Some("PharmD"),
        role_code: "pharmacist",
        extra_role: None,
        phone: "+1-312-555-0145",
        contact_for: "Your medicines, blood thinners, and pain relief",
    },
];

/// An appointment of the seed schedule, dated relative to the surgery day.
struct SeedAppointment {
    phase: usize,
    title: &'static str,
    day: i64,
    hour: i8,
    minute: i8,
    minutes: i64,
    who: &'static str,
    place: &'static str,
    prepare: &'static str,
    status: &'static str,
}

impl SeedAppointment {
    #[allow(clippy::too_many_arguments)]
    const fn new(
        phase: usize,
        title: &'static str,
        day: i64,
        hour: i8,
        minute: i8,
        minutes: i64,
        who: &'static str,
        place: &'static str,
        prepare: &'static str,
        status: &'static str,
    ) -> Self {
        SeedAppointment {
            phase,
            title,
            day,
            hour,
            minute,
            minutes,
            who,
            place,
            prepare,
            status,
        }
    }
}

/// US federal holidays the unit is closed on (observed dates), for reply targets.
const KNEE_CLOSED_DAYS: [(i16, i8, i8); 10] = [
    (2026, 11, 26),
    (2026, 12, 25),
    (2027, 1, 1),
    (2027, 1, 18),
    (2027, 2, 15),
    (2027, 5, 31),
    (2027, 7, 5),
    (2027, 9, 6),
    (2027, 11, 25),
    (2027, 12, 24),
];

fn knee_reply_policy() -> Vec<Value> {
    let p = |kind: &str, role: &str, business_days: u32| ReplyPolicy {
        kind: kind.into(),
        role: role.into(),
        business_days,
    };
    routing::policy_extensions(
        &[
            p("clinical", "nurse-navigator", 0),
            p("scheduling", "nurse-navigator", 1),
            p("medications", "pharmacist", 1),
            p("billing", "social-worker", 2),
            p("other", "nurse-navigator", 2),
        ],
        KNEE_IPU_TIME_ZONE,
    )
}

/// Questionnaires assigned at baseline and follow-ups, each with its window
/// (days relative to surgery) and the phase it belongs to.
fn seed_assignments(
    conn: &mut Connection,
    s: &Stamper,
    a: &Anchor,
    pref: &str,
    phase_ids: &[String],
) -> Result<(), ApiError> {
    // (questionnaire id, title, window start, window end, phase, status)
    let assignments: [(&str, &str, i64, i64, usize, &str); 9] = [
        (
            "koos-jr",
            "Knee health (KOOS JR) — baseline",
            -60,
            -50,
            0,
            "completed",
        ),
        (
            "promis-global-10",
            "General health (PROMIS) — baseline",
            -60,
            -50,
            0,
            "completed",
        ),
        (
            "phq-9",
            "Mood check (PHQ-9) — before surgery",
            -21,
            -3,
            2,
            "requested",
        ),
        (
            "promis-global-10",
            "General health (PROMIS) — before surgery",
            -14,
            -2,
            2,
            "requested",
        ),
        (
            "koos-jr",
            "Knee health (KOOS JR) — 6 weeks",
            35,
            49,
            6,
            "requested",
        ),
        (
            "promis-global-10",
            "General health (PROMIS) — 6 weeks",
            35,
            49,
            6,
            "requested",
        ),
        (
            "koos-jr",
            "Knee health (KOOS JR) — 3 months",
            83,
            97,
            6,
            "requested",
        ),
        (
            "phq-9",
            "Mood check (PHQ-9) — 3 months",
            83,
            97,
            6,
            "requested",
        ),
        (
            "koos-jr",
            "Knee health (KOOS JR) — 1 year",
            351,
            379,
            6,
            "requested",
        ),
    ];
    for (qid, title, start, end, phase, status) in assignments {
        let url = format!("{}{qid}", carecycle_prom::scoring::QUESTIONNAIRE_BASE);
        let task_id = new_id();
        // A baseline already answered has its response (so results start from it).
        let mut task = a.anchored(json!({
                "resourceType": "Task",
                "status": status,
                "intent": "order",
                "code": sdc::task_code(),
                "description": title,
                "for": {"reference": pref},
                "owner": {"reference": pref},
                "requester": {"reference": "PractitionerRole/role-pr-raman", "display": "Priya Raman, RN (Nurse navigator)"},
                "basedOn": [{"reference": format!("CarePlan/{}", phase_ids[phase])}],
                "authoredOn": a.at(start, 0, 0),
                "restriction": {"period": {"start": a.at(start, 0, 0), "end": a.at(end, 23, 59)}},
                "input": sdc::questionnaire_input(&url)
        }));
        if status == "completed" {
            let response_id = new_id();
            let mut qr = baseline_response(qid, &a.at(start + 5, 10, 30))?;
            qr["id"] = json!(response_id);
            qr["subject"] = json!({"reference": pref});
            qr["author"] = json!({"reference": pref});
            put_response(conn, s, &response_id, qr)?;
            task["output"] = sdc::response_output(&response_id);
        }
        put(conn, s, ResourceType::Task, &task_id, task)?;
    }
    Ok(())
}

/// The demo patient's baseline answers: PROMIS Global Health at the levels
/// below (physical raw 10 → T 34.9, mental raw 12 → T 43.5), and the middle
/// option of every other questionnaire's questions.
fn baseline_response(qid: &str, authored: &str) -> Result<Value, ApiError> {
    use carecycle_prom::{AnswerValue, ItemPath, Questionnaire, Response};
    const PROMIS: [(&str, u8); 9] = [
        ("Global01", 3),
        ("Global02", 3),
        ("Global03", 2),
        ("Global04", 3),
        ("Global05", 3),
        ("Global09r", 3),
        ("Global06", 3),
        ("Global10r", 3),
        ("Global08r", 3),
    ];
    let bad = |e: String| ApiError::Internal(format!("baseline response for {qid}: {e}"));
    let text = carecycle_prom::library::ALL
        .iter()
        .find(|(id, _)| *id == qid)
        .map(|(_, t)| *t)
        .ok_or_else(|| bad("not bundled".into()))?;
    let json: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let q = Questionnaire::parse(&json).map_err(|e| bad(e.to_string()))?;
    let mut response = Response::new(&q);
    for (item, _) in q.walk() {
        if !item.item_type.is_question() {
            continue;
        }
        let level = PROMIS.iter().find(|(id, _)| *id == item.link_id);
        let answer = match level {
            Some((id, n)) => item
                .options
                .iter()
                .find(|o| matches!(&o.value, AnswerValue::Coding(c) if c.code.as_deref() == Some(&format!("{id}-{n}"))))
                .map(|o| o.value.clone()),
            None if item.link_id == "Global07r" => Some(AnswerValue::Integer(7)),
            None => item.options.get(item.options.len() / 2).map(|o| o.value.clone()),
        };
        if let (Some(answer), Some(path)) = (answer, ItemPath::of(&q, &item.link_id)) {
            response
                .set_answers(&q, &path, vec![answer])
                .map_err(|e| bad(e.to_string()))?;
        }
    }
    response.complete(&q, authored).map_err(|problems| {
        bad(problems
            .iter()
            .map(|p| p.message.clone())
            .collect::<Vec<_>>()
            .join("; "))
    })
}

/// Plain-language reading for each phase; some also in Spanish.
fn seed_education(
    conn: &mut Connection,
    s: &Stamper,
    pref: &str,
    phase_ids: &[String],
) -> Result<(), ApiError> {
    for doc in EDUCATION {
        let data = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            doc.markdown.as_bytes(),
        );
        put(
            conn,
            s,
            ResourceType::DocumentReference,
            &new_id(),
            json!({
                "resourceType": "DocumentReference",
                "identifier": [{"system": EDUCATION_ID_SYSTEM, "value": format!("{}-{}", doc.slug, doc.language)}],
                "status": "current",
                "type": carecycle_fhir::published::education_document_type(),
                "category": [{"coding": [coding(carecycle_fhir::DOCUMENT_KIND_SYSTEM, "education")]}],
                "subject": {"reference": pref},
                "description": doc.title,
                "content": [{"attachment": {"contentType": "text/markdown; charset=utf-8", "language": doc.language, "title": doc.title, "data": data}}],
                "context": {"related": [{"reference": format!("CarePlan/{}", phase_ids[doc.phase])}]}
            }),
        )?;
    }
    Ok(())
}

/// Two threads: a medicines question the pharmacist answered, and a scheduling
/// question sent yesterday evening, waiting for the nurse navigator.
fn seed_messages(
    conn: &mut Connection,
    s: &Stamper,
    a: &Anchor,
    pref: &str,
) -> Result<(), ApiError> {
    let today = -DAYS_TO_SURGERY;
    let kind =
        |code: &str| json!([{"coding": [{"system": routing::MESSAGE_KIND_SYSTEM, "code": code}]}]);
    let eleanor = json!({"reference": pref, "display": "Eleanor Whitfield"});
    let thread1 = new_id();
    let thread2 = new_id();
    let messages = [
        (
            thread1.clone(),
            None,
            true,
            today - 3,
            (9, 12),
            "medications",
            "Should I stop taking my fish oil capsules before the operation? I take one every morning.",
            "Fish oil before surgery",
        ),
        (
            new_id(),
            Some(&thread1),
            false,
            today - 2,
            (11, 40),
            "medications",
            "Good question, Eleanor. Yes: please stop fish oil 7 days before surgery, like your other supplements, because it can increase bleeding. You can start again once you are home. Keep taking your blood pressure tablets as usual.",
            "",
        ),
        (
            thread2.clone(),
            None,
            true,
            today - 1,
            (18, 20),
            "scheduling",
            "Could my physical therapy session next week be moved to the afternoon? My daughter can only drive me after 1 pm.",
            "Moving my physical therapy session",
        ),
    ];
    for (id, part_of, from_patient, day, (h, m), k, text, topic) in messages {
        let mut content = json!({
            "resourceType": "Communication",
            "status": "completed",
            "category": kind(k),
            "subject": {"reference": pref},
            "sent": a.at(day, h, m),
            "payload": [{"contentString": text}]
        });
        if from_patient {
            content["sender"] = eleanor.clone();
            content["recipient"] = json!([{"display": "Your care team"}]);
        } else {
            content["sender"] = json!({"reference": "Practitioner/pr-cho", "display": "Daniel Cho, PharmD (Pharmacist)"});
            content["recipient"] = json!([eleanor]);
        }
        if let Some(root) = part_of {
            content["partOf"] = json!([{"reference": format!("Communication/{root}")}]);
        } else {
            content["topic"] = json!({"text": topic});
        }
        let tx = conn.transaction().map_err(ApiError::from_sql)?;
        let stored = store::write(&tx, s, ResourceType::Communication, &id, content, None)?;
        if from_patient {
            routing::after_patient_message(&tx, s, &stored)?;
        } else {
            routing::after_team_message(&tx, s, &stored)?;
        }
        tx.commit().map_err(ApiError::from_sql)?;
    }
    Ok(())
}

struct EducationDoc {
    slug: &'static str,
    phase: usize,
    language: &'static str,
    title: &'static str,
    markdown: &'static str,
}

const EDUCATION: &[EducationDoc] = &[
    EducationDoc {
        slug: "what-is-knee-oa",
        phase: 0,
        language: "en",
        title: "What is knee osteoarthritis?",
        markdown: include_str!("../../education/what-is-knee-oa.en.md"),
    },
    EducationDoc {
        slug: "what-is-knee-oa",
        phase: 0,
        language: "es",
        title: "¿Qué es la artrosis de rodilla?",
        markdown: include_str!("../../education/what-is-knee-oa.es.md"),
    },
    EducationDoc {
        slug: "choosing-treatment",
        phase: 1,
        language: "en",
        title: "Surgery or not: making the choice together",
        markdown: include_str!("../../education/choosing-treatment.en.md"),
    },
    EducationDoc {
        slug: "prehab-exercises",
        phase: 2,
        language: "en",
        title: "Getting stronger before surgery",
        markdown: include_str!("../../education/prehab-exercises.en.md"),
    },
    EducationDoc {
        slug: "prehab-exercises",
        phase: 2,
        language: "es",
        title: "Fortalecerse antes de la cirugía",
        markdown: include_str!("../../education/prehab-exercises.es.md"),
    },
    EducationDoc {
        slug: "preparing-home",
        phase: 2,
        language: "en",
        title: "Preparing your home",
        markdown: include_str!("../../education/preparing-home.en.md"),
    },
    EducationDoc {
        slug: "day-of-surgery",
        phase: 3,
        language: "en",
        title: "The day of your surgery",
        markdown: include_str!("../../education/day-of-surgery.en.md"),
    },
    EducationDoc {
        slug: "hospital-stay",
        phase: 4,
        language: "en",
        title: "Your hospital stay",
        markdown: include_str!("../../education/hospital-stay.en.md"),
    },
    EducationDoc {
        slug: "home-recovery",
        phase: 5,
        language: "en",
        title: "Recovering at home: the first six weeks",
        markdown: include_str!("../../education/home-recovery.en.md"),
    },
    EducationDoc {
        slug: "home-recovery",
        phase: 5,
        language: "es",
        title: "Recuperación en casa: las primeras seis semanas",
        markdown: include_str!("../../education/home-recovery.es.md"),
    },
    EducationDoc {
        slug: "warning-signs",
        phase: 5,
        language: "en",
        title: "When to call us straight away",
        markdown: include_str!("../../education/warning-signs.en.md"),
    },
    EducationDoc {
        slug: "long-term",
        phase: 8,
        language: "en",
        title: "Your new knee in the long run",
        markdown: include_str!("../../education/long-term.en.md"),
    },
];

fn member_display(m: &Member) -> String {
    let mut parts: Vec<&str> = m.prefix.into_iter().collect();
    parts.push(m.given);
    parts.push(m.family);
    let mut name = parts.join(" ");
    if let Some(suffix) = m.suffix {
        name.push_str(", ");
        name.push_str(suffix);
    }
    name
}

pub(super) fn seed_knee_ipu(
    conn: &mut Connection,
    s: &Stamper,
    a: &Anchor,
) -> Result<(), ApiError> {
    use ResourceType::*;
    put(
        conn,
        s,
        Organization,
        KNEE_ORG_ID,
        json!({
            "resourceType": "Organization",
            "active": true,
            "name": KNEE_IPU_NAME,
            "alias": ["Knee & Hip Osteoarthritis Integrated Practice Unit"],
            "telecom": [{"system": "phone", "value": "+1-312-555-0100", "use": "work"}],
            "address": [{"line": ["1200 Riverside Drive"], "city": "Chicago", "state": "IL", "postalCode": "60601"}],
            "extension": knee_reply_policy()
        }),
    )?;
    put(
        conn,
        s,
        HealthcareService,
        "knee-messages",
        routing::hours_service(
            KNEE_ORG_ID,
            KNEE_IPU_NAME,
            "08:00:00",
            "17:00:00",
            &KNEE_CLOSED_DAYS.map(|(y, m, d)| Date::new(y, m, d).unwrap_or_default()),
        ),
    )?;
    for m in KNEE_TEAM {
        put(
            conn,
            s,
            Practitioner,
            m.id,
            json!({
                "resourceType": "Practitioner",
                "active": true,
                "name": [{"use": "official", "prefix": m.prefix.into_iter().collect::<Vec<_>>(), "given": [m.given],
                          "family": m.family, "suffix": m.suffix.into_iter().collect::<Vec<_>>()}],
                "telecom": [{"system": "phone", "value": m.phone, "use": "work"}]
            }),
        )?;
        put(conn, s, PractitionerRole, &format!("role-{}", m.id), {
            let mut role = json!({
                "resourceType": "PractitionerRole",
                "active": true,
                "practitioner": {"reference": format!("Practitioner/{}", m.id), "display": member_display(m)},
                "organization": {"reference": format!("Organization/{KNEE_ORG_ID}"), "display": KNEE_IPU_NAME},
                "code": [published::team_role(m.role_code)],
                "telecom": [{"system": "phone", "value": m.phone, "use": "work"}],
                "availabilityExceptions": m.contact_for
            });
            if let Some(specialty) = published::team_role_specialty(m.role_code) {
                role["specialty"] = json!([specialty]);
            }
            role
        })?;
    }

    let patient = new_id();
    let pref = format!("Patient/{patient}");
    put(
        conn,
        s,
        Patient,
        &patient,
        json!({
            "resourceType": "Patient",
            "identifier": [{"system": "https://riverside.example/mrn", "value": "RJ-204817"}],
            "active": true,
            "name": [{"use": "official", "given": ["Eleanor"], "family": "Whitfield"}],
            "gender": "female",
            "birthDate": "1958-04-12",
            "telecom": [{"system": "phone", "value": "+1-312-555-0187", "use": "mobile"}],
            "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en"}]}, "preferred": true}]
        }),
    )?;
    put_user(
        conn,
        DEMO_PATIENT_USERNAME,
        DEMO_PATIENT_PASSWORD,
        &pref,
        Some(&patient),
    )?;
    put_team_user(
        conn,
        KNEE_TEAM_USERNAME,
        KNEE_TEAM_PASSWORD,
        "pr-raman",
        KNEE_ORG_ID,
    )?;
    let daughter = new_id();
    put(
        conn,
        s,
        RelatedPerson,
        &daughter,
        json!({
            "resourceType": "RelatedPerson",
            "active": true,
            "patient": {"reference": pref, "display": "Eleanor Whitfield"},
            "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "DAU", "display": "natural daughter"}], "text": "Daughter"}],
            "name": [{"use": "official", "given": ["Claire"], "family": "Whitfield"}],
            "telecom": [{"system": "phone", "value": "+1-312-555-0192", "use": "mobile"}]
        }),
    )?;
    put_user(
        conn,
        PROXY_USERNAME,
        PROXY_PASSWORD,
        &format!("RelatedPerson/{daughter}"),
        Some(&patient),
    )?;
    let granted_at = s.next();
    for area in [Area::Schedule, Area::Education] {
        access::grant(conn, &daughter, &patient, area, &granted_at, None)
            .map_err(ApiError::from_sql)?;
    }

    let care_team = new_id();
    let participants: Vec<Value> = KNEE_TEAM
        .iter()
        .map(|m| {
            let mut roles = vec![published::team_role(m.role_code)];
            roles.extend(m.extra_role.map(published::team_role));
            json!({"role": roles, "member": {"reference": format!("Practitioner/{}", m.id), "display": member_display(m)},
                   "onBehalfOf": {"reference": format!("Organization/{KNEE_ORG_ID}")}})
        })
        .collect();
    put(
        conn,
        s,
        CareTeam,
        &care_team,
        json!({
            "resourceType": "CareTeam",
            "status": "active",
            "name": "Your knee replacement team",
            "subject": {"reference": pref},
            "participant": participants,
            "managingOrganization": [{"reference": format!("Organization/{KNEE_ORG_ID}"), "display": KNEE_IPU_NAME}],
            "telecom": [{"system": "phone", "value": "+1-312-555-0100"}]
        }),
    )?;

    let episode = new_id();
    put(
        conn,
        s,
        EpisodeOfCare,
        &episode,
        json!({
            "resourceType": "EpisodeOfCare",
            "status": "active",
            "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "239873007", "display": "Osteoarthritis of knee"}],
                      "text": "Knee osteoarthritis"}],
            "patient": {"reference": pref},
            "managingOrganization": {"reference": format!("Organization/{KNEE_ORG_ID}"), "display": KNEE_IPU_NAME},
            "period": {"start": a.at(-60, 9, 0)},
            "careManager": {"reference": "Practitioner/pr-raman", "display": "Priya Raman, RN"},
            "team": [{"reference": format!("CareTeam/{care_team}")}]
        }),
    )?;

    let cycle = a.cycle.clone();
    put(
        conn,
        s,
        CarePlan,
        &cycle,
        json!({
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "category": [{"coding": [coding(CARE_PLAN_KIND_SYSTEM, "care-cycle")]}],
            "title": "Right total knee replacement",
            "description": "Your care from the first visit to one year after surgery.",
            "subject": {"reference": pref},
            "period": {"start": a.day(-60), "end": a.day(365)},
            "careTeam": [{"reference": format!("CareTeam/{care_team}")}],
            "activity": [carecycle_fhir::planned::activity("Right total knee replacement", &a.day(0))],
            "extension": [{"url": carecycle_fhir::EPISODE_OF_CARE_EXTENSION, "valueReference": {"reference": format!("EpisodeOfCare/{episode}")}}]
        }),
    )?;

    // (title, plain-language description, start, end) relative to surgery day.
    let phases: [(&str, &str, i64, i64); 10] = [
        (
            "Evaluation",
            "We learn about your knee, your health and what matters to you.",
            -60,
            -46,
        ),
        (
            "Shared decision",
            "You and Dr. Okonkwo decide together whether surgery is right for you.",
            -45,
            -31,
        ),
        (
            "Prehabilitation",
            "You get stronger and ready for surgery, and prepare your home.",
            -30,
            -1,
        ),
        ("Surgery", "The day of your knee replacement.", 0, 0),
        (
            "Hospital stay",
            "You start walking with help and learn how to care for your knee.",
            0,
            2,
        ),
        (
            "Home rehabilitation",
            "Exercises at home and with your physical therapist to get moving again.",
            3,
            13,
        ),
        (
            "Follow-up at 2 weeks",
            "We check your wound and take out the staples; you keep building up your exercises.",
            14,
            41,
        ),
        (
            "Follow-up at 6 weeks",
            "Dr. Okonkwo checks how your knee bends and when you can drive and return to work.",
            42,
            89,
        ),
        (
            "Follow-up at 3 months",
            "Most people are back to daily activities; we check your progress.",
            90,
            364,
        ),
        (
            "Follow-up at 1 year",
            "We look at how well your new knee works for the long run.",
            365,
            365,
        ),
    ];
    let today = a.surgery_day.saturating_sub(DAYS_TO_SURGERY.days());
    let mut phase_ids = Vec::new();
    for (title, description, start, end) in phases {
        let start_day = a.surgery_day.saturating_add(start.days());
        let end_day = a.surgery_day.saturating_add(end.days());
        let status = if end_day < today {
            "completed"
        } else if start_day <= today {
            "active"
        } else {
            "draft"
        };
        let id = new_id();
        put(
            conn,
            s,
            CarePlan,
            &id,
            a.anchored(json!({
                "resourceType": "CarePlan",
                "status": status,
                "intent": "plan",
                "category": [{"coding": [coding(CARE_PLAN_KIND_SYSTEM, "phase")]}],
                "title": title,
                "description": description,
                "subject": {"reference": pref},
                "partOf": [{"reference": format!("CarePlan/{cycle}")}],
                "period": {"start": a.day(start), "end": a.day(end)},
                "careTeam": [{"reference": format!("CareTeam/{care_team}")}]
            })),
        )?;
        phase_ids.push(id);
    }
    let phase_ref = |i: usize| json!({"reference": format!("CarePlan/{}", phase_ids[i])});

    let appointments: [SeedAppointment; 10] = [
        SeedAppointment::new(
            0,
            "First visit with the joint team",
            -60,
            9,
            0,
            60,
            "pr-okonkwo",
            "Riverside Knee & Hip Unit, Building A, 3rd floor",
            "Bring your knee X-rays if you have them and a list of your medicines.",
            "fulfilled",
        ),
        SeedAppointment::new(
            1,
            "Shared decision visit with Dr. Okonkwo",
            -38,
            11,
            0,
            45,
            "pr-okonkwo",
            "Riverside Knee & Hip Unit, Building A, 3rd floor",
            "Write down your questions and what you most want to be able to do again.",
            "fulfilled",
        ),
        SeedAppointment::new(
            2,
            "Prehabilitation physical therapy",
            -14,
            10,
            0,
            60,
            "pr-herrera",
            "Riverside Rehab Gym, Building B, 1st floor",
            "Wear comfortable clothes and shoes you can walk in. Bring your exercise log.",
            "booked",
        ),
        SeedAppointment::new(
            2,
            "Pre-operative assessment",
            -10,
            9,
            30,
            90,
            "pr-raman",
            "Pre-Admission Clinic, Main Hospital, Level 2",
            "Bring a list of every medicine you take, including vitamins and supplements.",
            "booked",
        ),
        SeedAppointment::new(
            2,
            "Joint replacement class",
            -7,
            14,
            0,
            120,
            "pr-herrera",
            "Education Room 3, Building B",
            "Bring the person who will help you at home after surgery.",
            "booked",
        ),
        SeedAppointment::new(
            3,
            "Right total knee replacement",
            0,
            7,
            30,
            150,
            "pr-okonkwo",
            "Surgery Center, Main Hospital, Level 1",
            "Do not eat after midnight. You may drink clear liquids until 2 hours before you arrive. Arrive at 5:30 am.",
            "booked",
        ),
        SeedAppointment::new(
            6,
            "2-week check: wound and staples",
            14,
            10,
            30,
            30,
            "pr-raman",
            "Riverside Knee & Hip Unit, Building A, 3rd floor",
            "Wear loose trousers or shorts so we can see your knee.",
            "booked",
        ),
        SeedAppointment::new(
            7,
            "6-week follow-up with Dr. Okonkwo",
            42,
            11,
            0,
            30,
            "pr-okonkwo",
            "Riverside Knee & Hip Unit, Building A, 3rd floor",
            "Bring your walking aid and your exercise log.",
            "booked",
        ),
        SeedAppointment::new(
            8,
            "3-month follow-up",
            90,
            11,
            0,
            30,
            "pr-okonkwo",
            "Riverside Knee & Hip Unit, Building A, 3rd floor",
            "We will ask you a few questions about your knee before the visit.",
            "proposed",
        ),
        SeedAppointment::new(
            9,
            "1-year follow-up",
            365,
            11,
            0,
            30,
            "pr-okonkwo",
            "Riverside Knee & Hip Unit, Building A, 3rd floor",
            "We will ask you a few questions about your knee before the visit.",
            "proposed",
        ),
    ];
    let mut phase_appointments: Vec<(usize, String)> = Vec::new();
    for SeedAppointment {
        phase,
        title,
        day,
        hour,
        minute,
        minutes,
        who,
        place,
        prepare,
        status,
    } in appointments
    {
        let appointment_id = new_id();
        phase_appointments.push((phase, appointment_id.clone()));
        let member = KNEE_TEAM.iter().find(|m| m.id == who);
        let start = a.at(day, hour, minute);
        let end_time = a
            .surgery_day
            .saturating_add(day.days())
            .to_datetime(Time::new(hour, minute, 0, 0).unwrap_or(Time::midnight()))
            .saturating_add(minutes.minutes())
            .to_zoned(a.tz.clone())
            .map(|z: Zoned| format_zoned(&z))
            .unwrap_or_default();
        put(
            conn,
            s,
            Appointment,
            &appointment_id,
            a.anchored(json!({
                "resourceType": "Appointment",
                "status": status,
                "description": title,
                "start": start,
                "end": end_time,
                "minutesDuration": minutes,
                "patientInstruction": prepare,
                "participant": [
                    {"actor": {"reference": pref, "display": "Eleanor Whitfield"}, "status": "accepted"},
                    {"actor": {"reference": format!("Practitioner/{who}"), "display": member.map(member_display).unwrap_or_default()}, "status": "accepted"},
                    {"actor": {"display": place}, "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "LOC", "display": "location"}]}], "status": "accepted"}
                ]
            })),
        )?;
    }
    // Each phase lists its appointments where R4 puts them: CarePlan.activity.reference
    // (Appointment.basedOn may not name a CarePlan).
    for (phase, plan_id) in phase_ids.iter().enumerate() {
        let ids: Vec<&String> = phase_appointments
            .iter()
            .filter(|(p, _)| *p == phase)
            .map(|(_, id)| id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        let Some(mut plan) = store::read(conn, CarePlan, plan_id)?.map(|p| p.content) else {
            continue;
        };
        plan["activity"] = Value::Array(
            ids.iter()
                .map(|id| json!({"reference": {"reference": format!("Appointment/{id}")}}))
                .collect(),
        );
        put(conn, s, CarePlan, plan_id, plan)?;
    }

    // Checklist: (phase, title, how, due day, status)
    let checklist: [(usize, &str, &str, i64, &str); 6] = [
        (
            0,
            "Fill in your health history form",
            "Your team uses it to plan safe care.",
            -58,
            "completed",
        ),
        (
            2,
            "Arrange a ride home and someone to stay with you",
            "You cannot drive for about 6 weeks. Plan for someone to stay with you for the first few days.",
            -6,
            "requested",
        ),
        (
            2,
            "Stop your blood thinner (apixaban)",
            "Take your last dose 5 days before surgery, unless Dr. Okonkwo tells you otherwise. Call the pharmacist if you are unsure.",
            -5,
            "requested",
        ),
        (
            2,
            "Prepare your home",
            "Remove loose rugs, put things you use every day at waist height, and set up a firm chair with arms.",
            -3,
            "requested",
        ),
        (
            2,
            "Shower with the antiseptic soap",
            "The evening before and the morning of surgery. Do not shave your leg.",
            -1,
            "requested",
        ),
        (
            5,
            "Do your home exercises three times a day",
            "Follow the sheet from your physical therapist. A little pain is normal; stop if the pain is sharp.",
            14,
            "requested",
        ),
    ];
    for (phase, title, how, due, status) in checklist {
        put(
            conn,
            s,
            Task,
            &new_id(),
            a.anchored(json!({
                "resourceType": "Task",
                "status": status,
                "intent": "order",
                "code": {"coding": [coding(carecycle_fhir::TASK_KIND_SYSTEM, "checklist")]},
                "description": title,
                "note": [{"text": how}],
                "basedOn": [phase_ref(phase)],
                "for": {"reference": pref},
                "owner": {"reference": pref},
                "restriction": {"period": {"end": a.day(due)}}
            })),
        )?;
    }
    seed_questionnaires(conn, s)?;
    seed_assignments(conn, s, a, &pref, &phase_ids)?;
    seed_education(conn, s, &pref, &phase_ids)?;
    seed_messages(conn, s, a, &pref)?;
    Ok(())
}
