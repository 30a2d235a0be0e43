//! CareCycle's own code systems and extensions, published as FHIR R4
//! conformance resources: where no standard code or element exists (care-cycle
//! phases, the kinds of message, an IPU's team roles, reply policies…), the
//! back end serves a `CodeSystem` or `StructureDefinition` for each, found by
//! its canonical URL (`CodeSystem?url=…`, `StructureDefinition?url=…`) or its
//! id (the URL's last segment). The concepts listed here are the codes
//! CareCycle writes; the back end's tests check that every code its data uses
//! in these systems is one of them.

use crate::{
    BUSINESS_HOURS_EXTENSION, CARE_PLAN_KIND_SYSTEM, DATE_ANCHOR_SYSTEM, DOCUMENT_KIND_SYSTEM,
    MESSAGE_KIND_SYSTEM, MESSAGE_KINDS, PROCEDURE_DATE_EXTENSION, RED_FLAG_EXTENSION,
    REPLY_POLICY_EXTENSION, SECURITY_EVENT_SYSTEM, TASK_KIND_SYSTEM, TEAM_ROLE_SYSTEM,
    TIME_ZONE_EXTENSION,
};
use serde_json::{Value, json};

/// One of CareCycle's code systems: its canonical URL, names and every code
/// with its display.
#[derive(Debug, Clone, Copy)]
pub struct CodeSystemDef {
    pub url: &'static str,
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub concepts: &'static [(&'static str, &'static str)],
}

/// The code systems whose codes this crate knows. The score system (one code
/// per scale) is built by whoever knows the scales, with [`code_system`].
pub const CODE_SYSTEMS: &[CodeSystemDef] = &[
    CodeSystemDef {
        url: MESSAGE_KIND_SYSTEM,
        name: "CareCycleMessageKind",
        title: "Kinds of message a patient can start",
        description: "What a patient's message is about (Communication.category); the care unit's reply policy says who answers each kind, by when.",
        concepts: &MESSAGE_KINDS,
    },
    CodeSystemDef {
        url: TASK_KIND_SYSTEM,
        name: "CareCycleTaskKind",
        title: "Kinds of task CareCycle tells apart",
        description: "A patient's to-do, the team's reply owed to a patient's message, and (before SDC's complete-questionnaire Tasks) a questionnaire to fill in.",
        concepts: &[
            ("checklist", "Checklist item"),
            ("reply", "Reply to the patient"),
            ("questionnaire", "Questionnaire to fill in"),
        ],
    },
    CodeSystemDef {
        url: CARE_PLAN_KIND_SYSTEM,
        name: "CareCyclePlanKind",
        title: "The whole care cycle, or one phase of it",
        description: "Tags a CarePlan as an IPU's whole care cycle for one condition, or as one of its phases (partOf the cycle).",
        concepts: &[("care-cycle", "Care cycle"), ("phase", "Care cycle phase")],
    },
    CodeSystemDef {
        url: DATE_ANCHOR_SYSTEM,
        name: "CareCycleDateAnchor",
        title: "Dates other dates are set from",
        description: "The event a relative date counts from (cqf-relativeDateTime's target), e.g. the planned surgery.",
        concepts: &[("surgery", "Dated relative to the surgery")],
    },
    CodeSystemDef {
        url: DOCUMENT_KIND_SYSTEM,
        name: "CareCycleDocumentKind",
        title: "Kinds of document the care team publishes",
        description: "Documents the care team publishes for patients to read (DocumentReference.category, an example binding with no education code in R4), beside their LOINC document type 69730-0 Instructions.",
        concepts: &[("education", "Patient education")],
    },
    CodeSystemDef {
        url: TEAM_ROLE_SYSTEM,
        name: "CareCycleTeamRole",
        title: "Roles on an IPU's care team",
        description: "Who does what on a multidisciplinary care team; the care coordinator and the team captain are roles on the team, beside each member's profession.",
        concepts: &[
            ("care-coordinator", "Care coordinator"),
            ("team-captain", "Team captain"),
            ("nurse-navigator", "Nurse navigator"),
            ("orthopaedic-surgeon", "Orthopaedic surgeon"),
            ("physical-therapist", "Physical therapist"),
            ("pharmacist", "Pharmacist"),
            ("dietitian", "Dietitian"),
            ("social-worker", "Social worker"),
        ],
    },
    CodeSystemDef {
        url: SECURITY_EVENT_SYSTEM,
        name: "CareCycleSecurityEvent",
        title: "Security events the back end audits",
        description: "AuditEvent.subtype for sign-in events DICOM has no code for.",
        concepts: &[
            ("token-issued", "Access token issued"),
            ("token-refreshed", "Access token refreshed"),
            ("refresh-reused", "Refresh token reused; sign-in ended"),
            ("refused", "Request refused"),
        ],
    },
];

/// The display CareCycle's code system gives one of its codes.
pub fn display(system: &str, code: &str) -> Option<&'static str> {
    CODE_SYSTEMS
        .iter()
        .find(|c| c.url == system)?
        .concepts
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, d)| *d)
}

/// A Coding of one of CareCycle's codes, with the display its code system
/// gives (what writes these codes takes the words from here, not its own copy).
pub fn coding(system: &str, code: &str) -> Value {
    match display(system, code) {
        Some(display) => json!({"system": system, "code": code, "display": display}),
        None => json!({"system": system, "code": code}),
    }
}

/// A CodeableConcept of one of CareCycle's codes: its coding, and its display as text.
pub fn concept(system: &str, code: &str) -> Value {
    json!({"coding": [coding(system, code)], "text": display(system, code).unwrap_or(code)})
}

/// The document type of what the team publishes for patients to read:
/// LOINC 69730-0 "Instructions" (R4's preferred DocumentReference.type value
/// set is LOINC's document ontology, which has no "education leaflet"; an
/// "Education note" is a clinician's note of teaching given, not material for
/// the patient). CareCycle's `document-kind` category says it is education.
pub fn education_document_type() -> Value {
    json!({"coding": [{"system": "http://loinc.org", "code": "69730-0", "display": "Instructions"}], "text": "Patient education"})
}

/// SNOMED CT's system URL.
pub const SNOMED: &str = "http://snomed.info/sct";
/// NUCC's Health Care Provider Taxonomy, US Core's code system of specialties.
pub const NUCC: &str = "http://nucc.org/provider-taxonomy";

/// The standard codes of a CareCycle team role, where one exists.
#[derive(Debug, Clone, Copy)]
pub struct StandardRole {
    pub role: &'static str,
    /// SNOMED CT occupation (code, display): US Core binds
    /// `CareTeam.participant.role` and `PractitionerRole.code` to SNOMED's
    /// Care Team Member Function value set.
    pub snomed: (&'static str, &'static str),
    /// NUCC provider taxonomy (code, display): US Core's `PractitionerRole.specialty`.
    pub nucc: (&'static str, &'static str),
    /// Whether the standard codes mean exactly this role (a registered nurse
    /// is not always a nurse navigator), so they are read back as it.
    pub exact: bool,
}

/// Each team role's standard codes (SNOMED CT occupations and NUCC
/// taxonomy codes as US Core uses them). The team captain has none: neither
/// SNOMED CT nor NUCC names the clinician who leads an IPU, so it stays
/// CareCycle's code alone. The navigator's profession is registered nurse.
pub const STANDARD_ROLES: &[StandardRole] = &[
    StandardRole {
        role: "care-coordinator",
        snomed: ("768820003", "Care coordinator"),
        nucc: ("171M00000X", "Case Manager/Care Coordinator"),
        exact: true,
    },
    StandardRole {
        role: "nurse-navigator",
        snomed: ("224535009", "Registered nurse"),
        nucc: ("163W00000X", "Registered Nurse"),
        exact: false,
    },
    StandardRole {
        role: "orthopaedic-surgeon",
        snomed: ("22731001", "Orthopedic surgeon"),
        nucc: ("207X00000X", "Orthopaedic Surgery"),
        exact: true,
    },
    StandardRole {
        role: "physical-therapist",
        snomed: ("36682004", "Physiotherapist"),
        nucc: ("225100000X", "Physical Therapist"),
        exact: true,
    },
    StandardRole {
        role: "pharmacist",
        snomed: ("46255001", "Pharmacist"),
        nucc: ("183500000X", "Pharmacist"),
        exact: true,
    },
    StandardRole {
        role: "dietitian",
        snomed: ("159033005", "Dietitian"),
        nucc: ("133V00000X", "Dietitian, Registered"),
        exact: true,
    },
    StandardRole {
        role: "social-worker",
        snomed: ("106328005", "Social worker"),
        nucc: ("104100000X", "Social Worker"),
        exact: true,
    },
];

fn standard_role(role: &str) -> Option<&'static StandardRole> {
    STANDARD_ROLES.iter().find(|r| r.role == role)
}

/// A team role as a CodeableConcept: its SNOMED CT occupation where one
/// exists, then CareCycle's code, and CareCycle's display as text.
pub fn team_role(role: &str) -> Value {
    let mut concept = concept(crate::TEAM_ROLE_SYSTEM, role);
    if let Some(r) = standard_role(role)
        && let Some(codings) = concept["coding"].as_array_mut()
    {
        codings.insert(
            0,
            json!({"system": SNOMED, "code": r.snomed.0, "display": r.snomed.1}),
        );
    }
    concept
}

/// A team role's NUCC specialty (for `PractitionerRole.specialty`), where one exists.
pub fn team_role_specialty(role: &str) -> Option<Value> {
    let r = standard_role(role)?;
    Some(
        json!({"coding": [{"system": NUCC, "code": r.nucc.0, "display": r.nucc.1}], "text": r.nucc.1}),
    )
}

/// Whether a coding is one of the standard codes that mean exactly `role`.
pub fn is_standard_code_of(role: &str, system: &str, code: &str) -> bool {
    standard_role(role).is_some_and(|r| {
        r.exact
            && ((system == SNOMED && code == r.snomed.0) || (system == NUCC && code == r.nucc.0))
    })
}

/// The id a published resource has on the server: its canonical URL's last segment.
pub fn id_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// A complete CodeSystem resource (R4) with these concepts.
pub fn code_system(
    url: &str,
    name: &str,
    title: &str,
    description: &str,
    concepts: &[(String, String)],
) -> Value {
    json!({
        "resourceType": "CodeSystem",
        "id": id_of(url),
        "url": url,
        "name": name,
        "title": title,
        "status": "active",
        "experimental": false,
        "publisher": "CareCycle",
        "description": description,
        "caseSensitive": true,
        "content": "complete",
        "count": concepts.len(),
        "concept": concepts.iter().map(|(code, display)| json!({"code": code, "display": display})).collect::<Vec<_>>(),
    })
}

impl CodeSystemDef {
    pub fn resource(&self) -> Value {
        let concepts: Vec<(String, String)> = self
            .concepts
            .iter()
            .map(|(c, d)| ((*c).to_owned(), (*d).to_owned()))
            .collect();
        code_system(self.url, self.name, self.title, self.description, &concepts)
    }
}

/// What an extension holds: one value of a type, or named parts.
#[derive(Debug, Clone, Copy)]
pub enum ExtensionValue {
    /// One value of these FHIR types (`Reference` with its target profiles).
    Simple(&'static [&'static str], &'static [&'static str]),
    /// Parts (sub-extensions): name, value types, max cardinality, meaning.
    Complex(&'static [Part]),
}

/// One part of a complex extension.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    pub name: &'static str,
    pub types: &'static [&'static str],
    pub max: &'static str,
    pub short: &'static str,
}

/// One of CareCycle's extensions.
#[derive(Debug, Clone, Copy)]
pub struct ExtensionDef {
    pub url: &'static str,
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// The elements it may sit on (FHIRPath element contexts).
    pub context: &'static [&'static str],
    pub value: ExtensionValue,
}

const TEXT: &[&str] = &["string"];

pub const EXTENSIONS: &[ExtensionDef] = &[
    ExtensionDef {
        url: TIME_ZONE_EXTENSION,
        name: "CareCycleTimeZone",
        title: "The care unit's time zone",
        description: "The IANA time zone of the care unit, in which its dates and opening hours are read.",
        context: &["Organization"],
        value: ExtensionValue::Simple(&["code"], &[]),
    },
    ExtensionDef {
        url: REPLY_POLICY_EXTENSION,
        name: "CareCycleReplyPolicy",
        title: "Who answers which kind of message, by when",
        description: "One per kind of message: the team role that answers it and within how many business days (0: the same day).",
        context: &["Organization"],
        value: ExtensionValue::Complex(&[
            Part {
                name: "kind",
                types: &["code"],
                max: "1",
                short: "The kind of message (CareCycle message-kind)",
            },
            Part {
                name: "role",
                types: &["code"],
                max: "1",
                short: "The team role that answers (CareCycle ipu-team-role)",
            },
            Part {
                name: "businessDays",
                types: &["integer"],
                max: "1",
                short: "Business days to answer within",
            },
        ]),
    },
    ExtensionDef {
        url: BUSINESS_HOURS_EXTENSION,
        name: "CareCycleBusinessHours",
        title: "The care unit's business hours",
        description: "When the unit answers messages: opening and closing time on working days, and the days it is closed.",
        context: &["Organization"],
        value: ExtensionValue::Complex(&[
            Part {
                name: "open",
                types: &["time"],
                max: "1",
                short: "Opening time",
            },
            Part {
                name: "close",
                types: &["time"],
                max: "1",
                short: "Closing time",
            },
            Part {
                name: "closedDay",
                types: &["date"],
                max: "*",
                short: "A day the unit is closed",
            },
        ]),
    },
    ExtensionDef {
        url: PROCEDURE_DATE_EXTENSION,
        name: "CareCycleProcedureDate",
        title: "The planned procedure's date",
        description: "The day of the procedure the care cycle is planned around (e.g. the surgery). Written by CareCycle before the procedure became the cycle's own activity (CarePlan.activity.detail, kind ServiceRequest); still read from records written then.",
        context: &["CarePlan"],
        value: ExtensionValue::Simple(&["date"], &[]),
    },
    ExtensionDef {
        url: RED_FLAG_EXTENSION,
        name: "CareCycleRedFlag",
        title: "An answer that needs help now",
        description: "On a questionnaire item: the answer that trips the rule, how urgent it is, what the patient is told and whom to call, and the flag the care team sees.",
        context: &["Questionnaire.item"],
        value: ExtensionValue::Complex(&[
            Part {
                name: "operator",
                types: &["code"],
                max: "1",
                short: "How the answer is compared (as enableWhen.operator)",
            },
            Part {
                name: "answer",
                types: &[
                    "boolean", "decimal", "integer", "date", "dateTime", "time", "string",
                    "Coding", "Quantity",
                ],
                max: "1",
                short: "The answer compared with",
            },
            Part {
                name: "urgency",
                types: &["code"],
                max: "1",
                short: "now | soon",
            },
            Part {
                name: "title",
                types: TEXT,
                max: "1",
                short: "What the patient is told first",
            },
            Part {
                name: "guidance",
                types: TEXT,
                max: "1",
                short: "What the patient should do",
            },
            Part {
                name: "teamFlag",
                types: TEXT,
                max: "1",
                short: "What the care team sees",
            },
            Part {
                name: "callNumber",
                types: TEXT,
                max: "1",
                short: "The number to call",
            },
            Part {
                name: "callLabel",
                types: TEXT,
                max: "1",
                short: "Whom that number reaches",
            },
        ]),
    },
];

fn types(codes: &[&str], targets: &[&str]) -> Vec<Value> {
    codes
        .iter()
        .map(|code| {
            if targets.is_empty() {
                json!({"code": code})
            } else {
                json!({"code": code, "targetProfile": targets})
            }
        })
        .collect()
}

impl ExtensionDef {
    /// The extension's StructureDefinition (R4), as a differential on Extension.
    pub fn resource(&self) -> Value {
        let mut elements = vec![json!({
            "id": "Extension", "path": "Extension",
            "short": self.title, "definition": self.description,
        })];
        match self.value {
            ExtensionValue::Simple(codes, targets) => {
                elements.push(
                    json!({"id": "Extension.extension", "path": "Extension.extension", "max": "0"}),
                );
                elements.push(
                    json!({"id": "Extension.url", "path": "Extension.url", "fixedUri": self.url}),
                );
                elements.push(json!({
                    "id": "Extension.value[x]", "path": "Extension.value[x]", "min": 1,
                    "type": types(codes, targets),
                }));
            }
            ExtensionValue::Complex(parts) => {
                elements.push(json!({
                    "id": "Extension.extension", "path": "Extension.extension",
                    "slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"},
                }));
                for part in parts {
                    let id = format!("Extension.extension:{}", part.name);
                    elements.push(json!({
                        "id": id, "path": "Extension.extension", "sliceName": part.name,
                        "min": 0, "max": part.max, "short": part.short,
                    }));
                    elements.push(json!({"id": format!("{id}.url"), "path": "Extension.extension.url", "fixedUri": part.name}));
                    elements.push(json!({
                        "id": format!("{id}.value[x]"), "path": "Extension.extension.value[x]",
                        "type": types(part.types, &[]),
                    }));
                }
                elements.push(
                    json!({"id": "Extension.url", "path": "Extension.url", "fixedUri": self.url}),
                );
                elements.push(
                    json!({"id": "Extension.value[x]", "path": "Extension.value[x]", "max": "0"}),
                );
            }
        }
        json!({
            "resourceType": "StructureDefinition",
            "id": id_of(self.url),
            "url": self.url,
            "name": self.name,
            "title": self.title,
            "status": "active",
            "experimental": false,
            "publisher": "CareCycle",
            "description": self.description,
            "fhirVersion": "4.0.1",
            "kind": "complex-type",
            "abstract": false,
            "context": self.context.iter().map(|e| json!({"type": "element", "expression": e})).collect::<Vec<_>>(),
            "type": "Extension",
            "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
            "derivation": "constraint",
            "differential": {"element": elements},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_canonical_system_and_extension_is_published_once() {
        let urls: Vec<&str> = CODE_SYSTEMS
            .iter()
            .map(|c| c.url)
            .chain(EXTENSIONS.iter().map(|e| e.url))
            .collect();
        let mut ids: Vec<&str> = urls.iter().map(|u| id_of(u)).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), urls.len(), "ids are unique: {urls:?}");
        for c in CODE_SYSTEMS {
            let r = c.resource();
            assert_eq!(r["count"], c.concepts.len());
            assert_eq!(r["id"], id_of(c.url));
        }
        assert_eq!(
            coding(TEAM_ROLE_SYSTEM, "nurse-navigator")["display"],
            "Nurse navigator"
        );
        assert_eq!(coding(TEAM_ROLE_SYSTEM, "juggler").get("display"), None);
        let sd = EXTENSIONS[0].resource();
        assert_eq!(
            sd["differential"]["element"][2]["fixedUri"],
            TIME_ZONE_EXTENSION
        );
        let complex = EXTENSIONS
            .iter()
            .find(|e| e.url == REPLY_POLICY_EXTENSION)
            .unwrap()
            .resource();
        let slices: Vec<&str> = complex["differential"]["element"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["sliceName"].as_str())
            .collect();
        assert_eq!(slices, ["kind", "role", "businessDays"]);
    }
}
