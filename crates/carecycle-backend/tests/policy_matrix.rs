//! Every cell of (role × resource type × interaction × own record / another
//! patient's record in another unit), through the real HTTP API after a real
//! SMART sign-in, against the rules of issue #12 written out here in the
//! test's own words (not read from the policy table, so a wrong row in the
//! table fails here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use carecycle_backend::access::{self, Area};
use carecycle_backend::seed::*;
use carecycle_backend::store::{self, StoreError};
use carecycle_fhir::ResourceType as T;
use reqwest::Method;
use serde_json::{Value, json};
use support::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Patient,
    Family,
    Team,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Search,
    History,
    Create,
    Update,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Eleanor's record, the knee unit.
    Own,
    /// Dana's record, the breast unit.
    Other,
}

/// The rules of the issue, cell by cell.
fn expected(role: Role, t: T, op: Op, target: Target) -> bool {
    let own = target == Target::Own;
    let record = t.in_patient_compartment();
    let reads = matches!(op, Op::Read | Op::Search | Op::History);
    match role {
        // A patient reads their own record and the directory; writes only
        // their own messages, answers and task status; deletes nothing.
        Role::Patient => match op {
            _ if reads => !record || own,
            Op::Create => own && matches!(t, T::Communication | T::QuestionnaireResponse),
            Op::Update => own && matches!(t, T::Communication | T::QuestionnaireResponse | T::Task),
            _ => false,
        },
        // A family member (every area shared) reads all but the access log,
        // writes messages as themselves and ticks tasks.
        Role::Family => match op {
            _ if reads => !record || (own && t != T::AuditEvent),
            Op::Create => own && t == T::Communication,
            Op::Update => own && t == T::Task,
            _ => false,
        },
        // The team: its unit's patients and its own unit's directory entries.
        Role::Team => match (op, t) {
            _ if reads => !record || own,
            (_, T::AuditEvent) => false,
            (Op::Create | Op::Delete, T::Patient) => false,
            (Op::Create | Op::Delete, T::Organization) => false,
            (Op::Create, T::Practitioner) => true,
            // Forms and the answer lists they name are shared by every unit.
            (_, T::Questionnaire | T::ValueSet) => true,
            // CareCycle's own code systems and extensions are the server's:
            // read by all, written by nobody through the API.
            (_, T::CodeSystem | T::StructureDefinition) => false,
            _ => own,
        },
    }
}

struct Fixtures {
    eleanor: String,
    dana: String,
    claire_rp: String,
}

impl Fixtures {
    fn patient(&self, target: Target) -> &str {
        match target {
            Target::Own => &self.eleanor,
            Target::Other => &self.dana,
        }
    }
}

fn unit(target: Target) -> &'static str {
    match target {
        Target::Own => KNEE_ORG_ID,
        Target::Other => BREAST_ORG_ID,
    }
}

/// A valid resource of type `t` in the target's record (or unit).
fn content(t: T, f: &Fixtures, target: Target, n: usize) -> Value {
    let p = json!({"reference": format!("Patient/{}", f.patient(target))});
    let org = json!({"reference": format!("Organization/{}", unit(target))});
    match t {
        T::Patient => {
            json!({"resourceType": "Patient", "name": [{"family": format!("Matrix{n}")}]})
        }
        T::RelatedPerson => {
            json!({"resourceType": "RelatedPerson", "patient": p, "name": [{"family": "Relative"}]})
        }
        T::Practitioner => {
            json!({"resourceType": "Practitioner", "name": [{"family": format!("Clinician{n}")}]})
        }
        T::PractitionerRole => {
            json!({"resourceType": "PractitionerRole", "practitioner": {"reference": "Practitioner/nobody"}, "organization": org})
        }
        T::Organization => json!({"resourceType": "Organization", "name": format!("Unit {n}")}),
        T::HealthcareService => {
            json!({"resourceType": "HealthcareService", "providedBy": org, "name": format!("Service {n}")})
        }
        T::CareTeam => {
            json!({"resourceType": "CareTeam", "status": "active", "subject": p, "managingOrganization": [org]})
        }
        T::EpisodeOfCare => {
            json!({"resourceType": "EpisodeOfCare", "status": "active", "patient": p, "managingOrganization": org})
        }
        T::CarePlan => {
            json!({"resourceType": "CarePlan", "status": "active", "intent": "plan", "subject": p})
        }
        T::Goal => {
            json!({"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "Walk"}, "subject": p})
        }
        T::Appointment => {
            json!({"resourceType": "Appointment", "status": "booked", "participant": [{"actor": p, "status": "accepted"}]})
        }
        T::Task => {
            json!({"resourceType": "Task", "status": "requested", "intent": "order", "for": p,
            "code": {"coding": [{"system": carecycle_fhir::TASK_KIND_SYSTEM, "code": "checklist"}]}})
        }
        T::Communication => {
            json!({"resourceType": "Communication", "status": "completed", "subject": p,
            "sender": {"reference": "Practitioner/nurse"}, "recipient": [p], "payload": [{"contentString": "matrix"}]})
        }
        T::DocumentReference => {
            json!({"resourceType": "DocumentReference", "status": "current", "subject": p,
            "content": [{"attachment": {"contentType": "text/plain", "data": "aGk="}}]})
        }
        T::Questionnaire => {
            json!({"resourceType": "Questionnaire", "status": "active", "url": format!("https://example.org/Questionnaire/m{n}")})
        }
        T::ValueSet => {
            json!({"resourceType": "ValueSet", "status": "active", "url": format!("https://example.org/ValueSet/m{n}")})
        }
        T::CodeSystem => {
            json!({"resourceType": "CodeSystem", "status": "active", "content": "complete", "url": format!("https://example.org/CodeSystem/m{n}")})
        }
        T::StructureDefinition => json!({"resourceType": "StructureDefinition",
            "url": format!("https://example.org/StructureDefinition/m{n}"), "name": format!("M{n}"),
            "status": "active", "kind": "complex-type", "abstract": false, "type": "Extension"}),
        T::QuestionnaireResponse => {
            json!({"resourceType": "QuestionnaireResponse", "status": "in-progress", "subject": p, "author": p})
        }
        T::Observation => {
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "Steps"}, "subject": p})
        }
        T::AuditEvent => {
            json!({"resourceType": "AuditEvent", "type": {"code": "rest"}, "recorded": NOW,
            "agent": [{"requestor": true}], "source": {"observer": {"display": "matrix"}}, "entity": [{"what": p}]})
        }
    }
}

/// Writes a fresh stored resource for a cell (or names the one that must be
/// used: a patient's own Patient, the family member's own RelatedPerson, a unit's Organization).
fn stored(s: &TestServer, f: &Fixtures, role: Role, t: T, target: Target, n: usize) -> String {
    match (t, role, target) {
        (T::Patient, _, _) => return f.patient(target).to_owned(),
        (T::Organization, _, _) => return unit(target).to_owned(),
        (T::RelatedPerson, Role::Family, Target::Own) => return f.claire_rp.clone(),
        _ => {}
    }
    let id = format!("m{n}");
    let body = content(t, f, target, n);
    s.server
        .state
        .db
        .with(|c| {
            let tx = c.transaction()?;
            store::write(&tx, &s.server.state.stamper, t, &id, body, None)?;
            if t == T::Practitioner {
                // A practitioner of the target's unit.
                let role = json!({"resourceType": "PractitionerRole", "practitioner": {"reference": format!("Practitioner/{id}")},
                    "organization": {"reference": format!("Organization/{}", unit(target))}});
                store::write(&tx, &s.server.state.stamper, T::PractitionerRole, &format!("{id}-role"), role, None)?;
            }
            tx.commit()?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    id
}

/// The change a role makes in an update: what that role may change.
fn change(role: Role, t: T, mut body: Value) -> Value {
    match (role, t) {
        (Role::Patient | Role::Family, T::Communication) => body["received"] = json!(NOW),
        (Role::Patient | Role::Family, T::QuestionnaireResponse) => {
            body["item"] = json!([{"linkId": "q1", "answer": [{"valueInteger": 1}]}])
        }
        (Role::Patient | Role::Family, T::Task) => body["status"] = json!("completed"),
        _ => body["language"] = json!("en"),
    }
    body
}

#[tokio::test]
async fn every_cell_of_the_access_policy_holds_over_http() {
    let s = TestServer::demo().await;
    let everything = "launch/patient offline_access patient/*.cruds";
    let eleanor = s.client(
        s.sign_in_with_scope(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD, everything)
            .await,
    );
    let dana = s
        .sign_in(SECOND_PATIENT_USERNAME, SECOND_PATIENT_PASSWORD)
        .await;
    let claire_rp: String = s
        .server
        .state
        .db
        .with(|c| {
            c.query_row(
                "SELECT substr(fhir_user, 15) FROM user_account WHERE username = ?1",
                [PROXY_USERNAME],
                |r| r.get(0),
            )
            .map_err(StoreError::from)
        })
        .unwrap();
    let f = Fixtures {
        eleanor: eleanor.patient.clone().unwrap(),
        dana: dana.patient.clone().unwrap(),
        claire_rp,
    };
    s.server
        .state
        .db
        .with(|c| {
            for area in Area::ALL {
                access::grant(c, &f.claire_rp, &f.eleanor, area, NOW, None)?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let claire = s.client(
        s.sign_in_with_scope(PROXY_USERNAME, PROXY_PASSWORD, everything)
            .await,
    );
    let team = s.client(
        s.sign_in_with_scope(KNEE_TEAM_USERNAME, KNEE_TEAM_PASSWORD, "user/*.cruds")
            .await,
    );

    let ops = [
        Op::Read,
        Op::Search,
        Op::History,
        Op::Create,
        Op::Update,
        Op::Delete,
    ];
    let mut n = 0;
    let mut cells = 0;
    let mut wrong = Vec::new();
    for (role, client) in [
        (Role::Patient, &eleanor),
        (Role::Family, &claire),
        (Role::Team, &team),
    ] {
        for t in T::ALL.iter().copied() {
            for op in ops {
                for target in [Target::Own, Target::Other] {
                    n += 1;
                    cells += 1;
                    let (status, body) = match op {
                        Op::Create => {
                            let mut body = content(t, &f, target, n);
                            // What a client creates names no author: the server fills in the caller.
                            if let Some(m) = body.as_object_mut() {
                                m.remove("sender");
                                m.remove("author");
                            }
                            client.post(t.as_str(), &body).await
                        }
                        _ => {
                            let id = stored(&s, &f, role, t, target, n);
                            let path = format!("{t}/{id}");
                            match op {
                                Op::Read => client.get(&path).await,
                                Op::Search => client.get(&format!("{t}?_id={id}")).await,
                                Op::History => client.get(&format!("{path}/_history")).await,
                                Op::Update => {
                                    let current = s
                                        .server
                                        .state
                                        .db
                                        .with(|c| store::read(c, t, &id))
                                        .unwrap()
                                        .unwrap();
                                    client.put(&path, &change(role, t, current.content)).await
                                }
                                _ => {
                                    let (status, body, _) =
                                        client.send(Method::DELETE, &path, &Value::Null, &[]).await;
                                    (status, body)
                                }
                            }
                        }
                    };
                    let allowed = match op {
                        Op::Read | Op::Update => status == 200,
                        Op::Create => status == 201,
                        Op::Delete => status == 204,
                        Op::Search | Op::History => status == 200 && !entries(&body).is_empty(),
                    };
                    let refused_cleanly = matches!(status, 200 | 403 | 404)
                        && (status == 200 || body["resourceType"] == "OperationOutcome");
                    let want = expected(role, t, op, target);
                    if allowed != want || (!allowed && !refused_cleanly) {
                        wrong.push(format!(
                            "{role:?} {op:?} {t} {target:?}: {status} {body:.200}"
                        ));
                    }
                }
            }
        }
    }
    assert_eq!(cells, 3 * T::ALL.len() * 6 * 2);
    assert!(
        wrong.is_empty(),
        "{} of {cells} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
