//! The one access policy of the back end: role × resource type × interaction →
//! what is allowed, and for updates which elements that role may change.
//!
//! [`POLICY`] is the table; [`rule`] looks a cell up (first matching row wins,
//! anything no row names is refused). Every interaction goes through it: read,
//! vread, search (and what `_include` adds), history at every level, create,
//! update, delete, and each entry of a batch or transaction (see `api`). The
//! scopes a role can be granted at sign-in are derived from the same table
//! ([`scope_ceiling`]), and the README's access table is rendered from it
//! ([`markdown`]), so there is one fact in one place.
//!
//! The judgement of one request is [`check_read`] / [`check_write`]: plain
//! functions of the caller, the resource before and after, and the few facts
//! only the database knows ([`Facts`]), so they are tested without HTTP.

use crate::access::{Area, Role, area_of};
use carecycle_fhir::ResourceType;
use carecycle_fhir::compartment::patient_of;
use serde_json::Value;

/// The kinds of user the policy knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleKind {
    /// The patient, in their own record.
    Patient,
    /// A family member (RelatedPerson user) in the areas the patient granted.
    Family,
    /// A care-team member of one IPU (unit).
    Team,
}

impl RoleKind {
    pub const ALL: [RoleKind; 3] = [RoleKind::Patient, RoleKind::Family, RoleKind::Team];

    pub fn name(self) -> &'static str {
        match self {
            RoleKind::Patient => "patient",
            RoleKind::Family => "family member",
            RoleKind::Team => "care team",
        }
    }

    /// The SMART scope context of this role's sign-ins.
    pub fn scope_context(self) -> &'static str {
        match self {
            RoleKind::Patient | RoleKind::Family => "patient",
            RoleKind::Team => "user",
        }
    }

    /// The role of a user account, from its `fhirUser` reference.
    pub fn of_fhir_user(fhir_user: &str) -> Option<RoleKind> {
        match fhir_user.split_once('/')?.0 {
            "Patient" => Some(RoleKind::Patient),
            "RelatedPerson" => Some(RoleKind::Family),
            "Practitioner" => Some(RoleKind::Team),
            _ => None,
        }
    }
}

impl Role {
    pub fn kind(&self) -> Option<RoleKind> {
        match self {
            Role::Patient { .. } => Some(RoleKind::Patient),
            Role::Proxy { .. } => Some(RoleKind::Family),
            Role::Team { .. } => Some(RoleKind::Team),
            Role::Unlinked => None,
        }
    }

    /// The caller as a FHIR reference (`Patient/…`, `RelatedPerson/…`, `Practitioner/…`).
    pub fn reference(&self) -> Option<String> {
        match self {
            Role::Patient { patient } => Some(format!("Patient/{patient}")),
            Role::Proxy { related_person, .. } => Some(format!("RelatedPerson/{related_person}")),
            Role::Team { practitioner, .. } => Some(format!("Practitioner/{practitioner}")),
            Role::Unlinked => None,
        }
    }
}

/// The RESTful interactions the policy decides. `vread` is a [`Op::Read`];
/// instance and type history are [`Op::History`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Read,
    Search,
    History,
    Create,
    Update,
    Delete,
}

impl Op {
    pub const ALL: [Op; 6] = [
        Op::Read,
        Op::Search,
        Op::History,
        Op::Create,
        Op::Update,
        Op::Delete,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Search => "search",
            Op::History => "history",
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }

    /// The SMART v2 permission letter a token needs for this interaction
    /// (history needs `r` on one resource and `s` on a type; see `bundles`).
    pub fn scope_letter(self) -> Option<char> {
        match self {
            Op::Read => Some('r'),
            Op::Search => Some('s'),
            Op::History => None,
            Op::Create => Some('c'),
            Op::Update => Some('u'),
            Op::Delete => Some('d'),
        }
    }

    pub fn is_read(self) -> bool {
        matches!(self, Op::Read | Op::Search | Op::History)
    }
}

/// Where an allowed interaction holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Inside the records the caller reaches: their own (patient); the areas
    /// granted now, and the patient's name while any is (family member); the
    /// patients the unit has a current EpisodeOfCare with (care team).
    Record,
    /// The shared directory (resources in no patient's compartment).
    Directory,
    /// What belongs to the caller's own unit: the Organization itself, its
    /// PractitionerRoles, the EpisodesOfCare and CareTeams it manages, the
    /// Practitioners who hold a role in it. Checked before and after a change.
    OwnUnit,
}

/// When an element-limited update applies (judged on the resource as stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The message names the caller among its recipients.
    AddressedToCaller,
    /// A checklist or questionnaire Task for the caller's record (not a reply task).
    ChecklistOrQuestionnaireTask,
    /// The QuestionnaireResponse is still `in-progress`.
    InProgress,
}

impl Condition {
    fn words(self) -> &'static str {
        match self {
            Condition::AddressedToCaller => "on messages addressed to them",
            Condition::ChecklistOrQuestionnaireTask => "on their checklist and questionnaire tasks",
            Condition::InProgress => "while it is in progress",
        }
    }
}

/// What one cell of the table allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Deny,
    Allow(Reach),
    /// Create inside the record, with the caller as the author
    /// (`Communication.sender`, `QuestionnaireResponse.author`).
    AsAuthor,
    /// Update inside the record, changing only these elements, when the
    /// condition holds. Never an update-as-create (no id is chosen by the caller).
    Elements(&'static [&'static str], Condition),
}

/// Which resource types a row covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Types {
    /// Every type in the patient compartment.
    Record,
    /// Every type outside it.
    Directory,
    Only(ResourceType),
}

impl Types {
    fn covers(self, t: ResourceType) -> bool {
        match self {
            Types::Record => t.in_patient_compartment(),
            Types::Directory => !t.in_patient_compartment(),
            Types::Only(x) => x == t,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub role: RoleKind,
    pub types: Types,
    pub ops: &'static [Op],
    pub rule: Rule,
    /// The rule in words: what an OperationOutcome quotes when it refuses.
    pub why: &'static str,
}

const READS: &[Op] = &[Op::Read, Op::Search, Op::History];
const WRITES: &[Op] = &[Op::Create, Op::Update, Op::Delete];
const ALL_OPS: &[Op] = &Op::ALL;

/// What a patient or family member changes when they tick a task done.
pub const TASK_DONE_ELEMENTS: &[&str] = &[
    "status",
    "statusReason",
    "businessStatus",
    "output",
    "lastModified",
    "executionPeriod",
];
/// What changes while a questionnaire is answered (the subject, the form and
/// the assignment stay as created).
pub const ANSWER_ELEMENTS: &[&str] = &[
    "status", "item", "authored", "author", "source", "text", "language",
];

use ResourceType as T;
use RoleKind::{Family, Patient, Team};

/// The table. First matching row wins; a cell no row covers is refused.
pub const POLICY: &[Row] = &[
    // ── patients ──
    Row {
        role: Patient,
        types: Types::Record,
        ops: READS,
        rule: Rule::Allow(Reach::Record),
        why: "a patient reads their own record, including who looked at it (AuditEvent)",
    },
    Row {
        role: Patient,
        types: Types::Directory,
        ops: READS,
        rule: Rule::Allow(Reach::Directory),
        why: "everyone signed in reads the shared directory",
    },
    Row {
        role: Patient,
        types: Types::Only(T::Communication),
        ops: &[Op::Create],
        rule: Rule::AsAuthor,
        why: "a patient sends messages in their own record, as their own sender",
    },
    Row {
        role: Patient,
        types: Types::Only(T::Communication),
        ops: &[Op::Update],
        rule: Rule::Elements(&["received"], Condition::AddressedToCaller),
        why: "a patient marks messages addressed to them as read (Communication.received) and changes nothing else",
    },
    Row {
        role: Patient,
        types: Types::Only(T::QuestionnaireResponse),
        ops: &[Op::Create],
        rule: Rule::AsAuthor,
        why: "a patient answers questionnaires in their own record, as the author",
    },
    Row {
        role: Patient,
        types: Types::Only(T::QuestionnaireResponse),
        ops: &[Op::Update],
        rule: Rule::Elements(ANSWER_ELEMENTS, Condition::InProgress),
        why: "a patient changes their own answers only while the response is in progress",
    },
    Row {
        role: Patient,
        types: Types::Only(T::Task),
        ops: &[Op::Update],
        rule: Rule::Elements(TASK_DONE_ELEMENTS, Condition::ChecklistOrQuestionnaireTask),
        why: "a patient changes only the status and output of their own checklist and questionnaire tasks",
    },
    // ── family members ──
    Row {
        role: Family,
        types: Types::Only(T::AuditEvent),
        ops: ALL_OPS,
        rule: Rule::Deny,
        why: "the access log is the patient's alone",
    },
    Row {
        role: Family,
        types: Types::Record,
        ops: READS,
        rule: Rule::Allow(Reach::Record),
        why: "a family member reads only the areas the patient shares now, and the patient's name while any is shared",
    },
    Row {
        role: Family,
        types: Types::Directory,
        ops: READS,
        rule: Rule::Allow(Reach::Directory),
        why: "everyone signed in reads the shared directory",
    },
    Row {
        role: Family,
        types: Types::Only(T::Communication),
        ops: &[Op::Create],
        rule: Rule::AsAuthor,
        why: "a family member with the messages shared writes as themselves",
    },
    Row {
        role: Family,
        types: Types::Only(T::Task),
        ops: &[Op::Update],
        rule: Rule::Elements(TASK_DONE_ELEMENTS, Condition::ChecklistOrQuestionnaireTask),
        why: "a family member with the schedule shared ticks checklist items, changing only their status and output",
    },
    // ── the care team of one unit ──
    Row {
        role: Team,
        types: Types::Only(T::AuditEvent),
        ops: READS,
        rule: Rule::Allow(Reach::Record),
        why: "the team reads the access log of its own patients",
    },
    Row {
        role: Team,
        types: Types::Only(T::AuditEvent),
        ops: WRITES,
        rule: Rule::Deny,
        why: "nobody writes the access log",
    },
    Row {
        role: Team,
        types: Types::Only(T::EpisodeOfCare),
        ops: READS,
        rule: Rule::Allow(Reach::Record),
        why: "the team reads the episodes of its own patients",
    },
    Row {
        role: Team,
        types: Types::Only(T::EpisodeOfCare),
        ops: WRITES,
        rule: Rule::Allow(Reach::OwnUnit),
        why: "only a unit writes its own care relationships (EpisodeOfCare.managingOrganization is the unit)",
    },
    Row {
        role: Team,
        types: Types::Only(T::CareTeam),
        ops: &[Op::Create, Op::Update, Op::Delete],
        rule: Rule::Allow(Reach::OwnUnit),
        why: "only a unit writes its own care teams (CareTeam.managingOrganization is the unit)",
    },
    Row {
        role: Team,
        types: Types::Only(T::Patient),
        ops: &[Op::Create, Op::Delete],
        rule: Rule::Deny,
        why: "patients are registered and removed by the organization, not by a unit's team",
    },
    Row {
        role: Team,
        types: Types::Record,
        ops: ALL_OPS,
        rule: Rule::Allow(Reach::Record),
        why: "the team reads and writes the records of its unit's current patients",
    },
    Row {
        role: Team,
        types: Types::Directory,
        ops: READS,
        rule: Rule::Allow(Reach::Directory),
        why: "everyone signed in reads the shared directory",
    },
    Row {
        role: Team,
        types: Types::Only(T::Organization),
        ops: &[Op::Update],
        rule: Rule::Allow(Reach::OwnUnit),
        why: "a unit changes only its own Organization",
    },
    Row {
        role: Team,
        types: Types::Only(T::HealthcareService),
        ops: WRITES,
        rule: Rule::Allow(Reach::OwnUnit),
        why: "a unit writes only its own services (their hours)",
    },
    Row {
        role: Team,
        types: Types::Only(T::PractitionerRole),
        ops: WRITES,
        rule: Rule::Allow(Reach::OwnUnit),
        why: "a unit writes only its own PractitionerRoles",
    },
    Row {
        role: Team,
        types: Types::Only(T::Practitioner),
        ops: &[Op::Create],
        rule: Rule::Allow(Reach::Directory),
        why: "a unit adds practitioners to the directory",
    },
    Row {
        role: Team,
        types: Types::Only(T::Practitioner),
        ops: &[Op::Update, Op::Delete],
        rule: Rule::Allow(Reach::OwnUnit),
        why: "a unit changes only practitioners who hold a role in it",
    },
    Row {
        role: Team,
        types: Types::Only(T::Questionnaire),
        ops: WRITES,
        rule: Rule::Allow(Reach::Directory),
        why: "teams publish questionnaires to the shared directory",
    },
    Row {
        role: Team,
        types: Types::Only(T::ValueSet),
        ops: WRITES,
        rule: Rule::Allow(Reach::Directory),
        why: "teams publish the answer lists their questionnaires use",
    },
];

/// The row that decides one cell (`None`: no row covers it, refused).
pub fn row(role: RoleKind, t: ResourceType, op: Op) -> Option<&'static Row> {
    POLICY
        .iter()
        .find(|r| r.role == role && r.types.covers(t) && r.ops.contains(&op))
}

/// The rule of one cell.
pub fn rule(role: RoleKind, t: ResourceType, op: Op) -> Rule {
    row(role, t, op).map_or(Rule::Deny, |r| r.rule)
}

fn why(role: RoleKind, t: ResourceType, op: Op) -> String {
    match row(role, t, op) {
        Some(r) => r.why.to_owned(),
        None => format!("a {} may not {} a {t}", role.name(), op.name()),
    }
}

/// A refusal, with the rule it applied in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl Refusal {
    fn rule(role: RoleKind, t: ResourceType, op: Op, detail: Option<String>) -> Refusal {
        let rule = why(role, t, op);
        Refusal(match detail {
            Some(d) => format!("refused by the access policy ({rule}): {d}"),
            None => format!("refused by the access policy: {rule}"),
        })
    }
}

/// What the policy needs to know that only the database can tell.
pub trait Facts {
    /// Does the caller's unit have a current EpisodeOfCare with this patient?
    fn unit_reaches(&self, patient: &str) -> bool;
    /// Does this practitioner hold a live PractitionerRole in the unit?
    fn practitioner_in_unit(&self, practitioner: &str, organization: &str) -> bool;
}

/// The facts about a stored resource that reading it depends on.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub resource_type: ResourceType,
    pub id: &'a str,
    /// The patient whose compartment holds it (of this very version).
    pub patient: Option<&'a str>,
    pub area: Option<Area>,
}

/// Is the resource inside the records this caller reaches?
fn in_record(role: &Role, s: Subject<'_>, facts: &dyn Facts) -> bool {
    let Some(owner) = s.patient else {
        return false;
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
                    ResourceType::Patient => !areas.is_empty(),
                    ResourceType::RelatedPerson => s.id == related_person,
                    _ => s.area.is_some_and(|a| areas.contains(&a)),
                }
        }
        Role::Team { .. } => facts.unit_reaches(owner),
        Role::Unlinked => false,
    }
}

/// May this caller read (read, vread, search result, include, history entry) this version?
pub fn check_read(role: &Role, op: Op, s: Subject<'_>, facts: &dyn Facts) -> bool {
    let Some(kind) = role.kind() else {
        return false;
    };
    match rule(kind, s.resource_type, op) {
        Rule::Allow(Reach::Record) => in_record(role, s, facts),
        Rule::Allow(Reach::Directory | Reach::OwnUnit) => !s.resource_type.in_patient_compartment(),
        _ => false,
    }
}

/// May this caller search this type at all? (What it then sees is narrowed by [`check_read`].)
pub fn may_search(role: &Role, t: ResourceType) -> Result<(), Refusal> {
    let kind = role.kind().ok_or_else(unlinked)?;
    match rule(kind, t, Op::Search) {
        Rule::Deny => Err(Refusal::rule(kind, t, Op::Search, None)),
        _ => Ok(()),
    }
}

fn unlinked() -> Refusal {
    Refusal("this sign-in is not linked to a patient record or a care team".into())
}

/// One write as the policy sees it: the live resource before (update,
/// delete) and the content after (create, update).
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    pub op: Op,
    pub resource_type: ResourceType,
    pub id: &'a str,
    pub before: Option<&'a Value>,
    pub after: Option<&'a Value>,
}

fn subject_of<'a>(
    t: ResourceType,
    id: &'a str,
    content: &Value,
    patient: &'a Option<String>,
) -> Subject<'a> {
    Subject {
        resource_type: t,
        id,
        patient: patient.as_deref(),
        area: area_of(t, content),
    }
}

fn reference_of(v: &Value) -> Option<&str> {
    v.get("reference").and_then(Value::as_str)
}

/// The references at `element`, whether it holds one Reference or a list.
fn references<'a>(content: &'a Value, element: &str) -> Vec<&'a str> {
    match content.get(element) {
        Some(Value::Array(list)) => list.iter().filter_map(reference_of).collect(),
        Some(one) => reference_of(one).into_iter().collect(),
        None => Vec::new(),
    }
}

/// Does this content belong to the unit `org`?
fn of_unit(t: ResourceType, id: &str, content: &Value, org: &str, facts: &dyn Facts) -> bool {
    let unit = format!("Organization/{org}");
    match t {
        ResourceType::Organization => id == org,
        ResourceType::PractitionerRole => references(content, "organization") == [unit.as_str()],
        ResourceType::HealthcareService => references(content, "providedBy") == [unit.as_str()],
        ResourceType::EpisodeOfCare | ResourceType::CareTeam => {
            let managing = references(content, "managingOrganization");
            !managing.is_empty() && managing.iter().all(|r| *r == unit)
        }
        ResourceType::Practitioner => facts.practitioner_in_unit(id, org),
        _ => false,
    }
}

/// The top-level elements that differ between two versions (bookkeeping aside).
pub fn changed_elements(before: &Value, after: &Value) -> Vec<String> {
    const BOOKKEEPING: [&str; 3] = ["meta", "id", "resourceType"];
    let empty = serde_json::Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !BOOKKEEPING.contains(&k.as_str()) && b.get(*k) != a.get(*k))
        .cloned()
        .collect()
}

fn condition_holds(c: Condition, role: &Role, before: &Value) -> bool {
    match c {
        Condition::AddressedToCaller => role
            .reference()
            .is_some_and(|me| references(before, "recipient").contains(&me.as_str())),
        Condition::ChecklistOrQuestionnaireTask => {
            matches!(
                carecycle_fhir::task_kind(before),
                Some("checklist" | "questionnaire")
            ) || (carecycle_fhir::task_kind(before).is_none()
                && references(before, "focus")
                    .iter()
                    .any(|r| r.starts_with("Questionnaire/")))
        }
        Condition::InProgress => {
            before.get("status").and_then(Value::as_str) == Some("in-progress")
        }
    }
}

/// The element naming the author of what a patient or family member creates.
fn author_element(t: ResourceType) -> Option<&'static str> {
    match t {
        ResourceType::Communication => Some("sender"),
        ResourceType::QuestionnaireResponse => Some("author"),
        _ => None,
    }
}

/// What a patient or family member creates names them as its author: when the
/// author element is absent the server fills it in with the caller (a message
/// without a sender is the caller's message); when present it must be them,
/// which [`check_write`] checks.
pub fn fill_in_author(role: &Role, t: ResourceType, content: &mut Value) {
    let (Some(kind), Some(me)) = (role.kind(), role.reference()) else {
        return;
    };
    if rule(kind, t, Op::Create) != Rule::AsAuthor {
        return;
    }
    if let (Some(element), Some(map)) = (author_element(t), content.as_object_mut()) {
        map.entry(element)
            .or_insert_with(|| serde_json::json!({"reference": me}));
    }
}

/// May this caller make this write? The refusal names the rule.
pub fn check_write(role: &Role, w: Write<'_>, facts: &dyn Facts) -> Result<(), Refusal> {
    let kind = role.kind().ok_or_else(unlinked)?;
    let t = w.resource_type;
    let refuse = |detail: Option<String>| Refusal::rule(kind, t, w.op, detail);
    let before_patient = w.before.and_then(|b| patient_of(t, b));
    let after_patient = w.after.and_then(|a| patient_of(t, a));
    let in_reach = |content: Option<&Value>, patient: &Option<String>| {
        content.is_none_or(|c| in_record(role, subject_of(t, w.id, c, patient), facts))
    };
    match rule(kind, t, w.op) {
        Rule::Deny => Err(refuse(None)),
        Rule::Allow(Reach::Record) => {
            if in_reach(w.before, &before_patient) && in_reach(w.after, &after_patient) {
                Ok(())
            } else {
                Err(refuse(Some(
                    "the resource is outside the records you reach".into(),
                )))
            }
        }
        Rule::Allow(Reach::Directory) => {
            if t.in_patient_compartment() {
                Err(refuse(None))
            } else {
                Ok(())
            }
        }
        Rule::Allow(Reach::OwnUnit) => {
            let Role::Team { organization, .. } = role else {
                return Err(refuse(None));
            };
            let mine =
                |c: Option<&Value>| c.is_none_or(|c| of_unit(t, w.id, c, organization, facts));
            if mine(w.before) && mine(w.after) {
                Ok(())
            } else {
                Err(refuse(Some(format!(
                    "it does not belong to your unit (Organization/{organization})"
                ))))
            }
        }
        Rule::AsAuthor => {
            let (Some(after), Some(me)) = (w.after, role.reference()) else {
                return Err(refuse(None));
            };
            if !in_reach(Some(after), &after_patient) {
                return Err(refuse(Some(
                    "the resource is outside the records you reach".into(),
                )));
            }
            let element = author_element(t).unwrap_or("author");
            match after.get(element).and_then(reference_of) {
                Some(r) if r == me => Ok(()),
                _ => Err(refuse(Some(format!("{t}.{element} must be you ({me})")))),
            }
        }
        Rule::Elements(allowed, condition) => {
            let (Some(before), Some(after)) = (w.before, w.after) else {
                return Err(refuse(Some(
                    "you cannot choose an id: create it with POST".into(),
                )));
            };
            if !in_reach(Some(before), &before_patient) || !in_reach(Some(after), &after_patient) {
                return Err(refuse(Some(
                    "the resource is outside the records you reach".into(),
                )));
            }
            if !condition_holds(condition, role, before) {
                return Err(refuse(Some(format!("only {}", condition.words()))));
            }
            let outside: Vec<String> = changed_elements(before, after)
                .into_iter()
                .filter(|e| !allowed.contains(&e.as_str()))
                .collect();
            if outside.is_empty() {
                Ok(())
            } else {
                Err(refuse(Some(format!("you changed {}", outside.join(", ")))))
            }
        }
    }
}

/// The SMART permission letters, in their canonical order.
const LETTERS: [char; 5] = ['c', 'r', 'u', 'd', 's'];

/// The most a role can be granted, per resource type: the permission letters
/// its rows allow (`r` and `s` for reads, `c`, `u`, `d` for writes).
pub fn scope_ceiling(role: RoleKind) -> Vec<(ResourceType, String)> {
    ResourceType::ALL
        .iter()
        .map(|t| {
            let letters: String = LETTERS
                .iter()
                .filter(|l| {
                    Op::ALL.iter().any(|op| {
                        op.scope_letter() == Some(**l) && rule(role, *t, *op) != Rule::Deny
                    })
                })
                .collect();
            (*t, letters)
        })
        .collect()
}

/// The table in words, for the README (`carecycle-backend policy` prints it).
pub fn markdown() -> String {
    let mut out = String::from(
        "| role | resource type | read | search | history | create | update | delete |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for role in RoleKind::ALL {
        for t in ResourceType::ALL {
            let cells: Vec<String> = Op::ALL
                .iter()
                .map(|op| match rule(role, *t, *op) {
                    Rule::Deny => "—".to_owned(),
                    Rule::Allow(Reach::Record) => "record".to_owned(),
                    Rule::Allow(Reach::Directory) => "yes".to_owned(),
                    Rule::Allow(Reach::OwnUnit) => "own unit".to_owned(),
                    Rule::AsAuthor => "as author".to_owned(),
                    Rule::Elements(elements, c) => {
                        format!("only `{}`, {}", elements.join("`, `"), c.words())
                    }
                })
                .collect();
            out.push_str(&format!(
                "| {} | {t} | {} |\n",
                role.name(),
                cells.join(" | ")
            ));
        }
    }
    out.push_str(
        "\n*record*: inside the records the role reaches (a patient: their own; a family member: the areas \
         shared now, and the patient's name while any is; the care team: patients their unit has a current \
         EpisodeOfCare with). *own unit*: the unit's Organization, HealthcareServices, PractitionerRoles, Practitioners, and the \
         EpisodesOfCare and CareTeams it manages. *as author*: with the caller as `Communication.sender` / \
         `QuestionnaireResponse.author` (filled in with the caller when absent). Anything else is refused with 403 and an OperationOutcome naming the rule.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Knee;
    impl Facts for Knee {
        fn unit_reaches(&self, patient: &str) -> bool {
            patient == "a"
        }
        fn practitioner_in_unit(&self, practitioner: &str, organization: &str) -> bool {
            practitioner == "nurse" && organization == "knee"
        }
    }

    fn patient() -> Role {
        Role::Patient {
            patient: "a".into(),
        }
    }
    fn team() -> Role {
        Role::Team {
            practitioner: "nurse".into(),
            organization: "knee".into(),
        }
    }

    #[test]
    fn every_cell_is_decided_by_one_row_and_the_ceiling_follows_the_table() {
        // The app's own request is exactly the patient's ceiling.
        let patient: Vec<(ResourceType, String)> = scope_ceiling(RoleKind::Patient)
            .into_iter()
            .filter(|(_, l)| l != "rs")
            .collect();
        assert_eq!(
            patient,
            vec![
                (T::Task, "rus".to_owned()),
                (T::Communication, "crus".to_owned()),
                (T::QuestionnaireResponse, "crus".to_owned()),
            ]
        );
        let family = scope_ceiling(RoleKind::Family);
        assert!(family.contains(&(T::AuditEvent, String::new())));
        assert!(family.contains(&(T::Patient, "rs".to_owned())));
        // Nothing but the team deletes.
        for role in [RoleKind::Patient, RoleKind::Family] {
            for t in ResourceType::ALL {
                assert_eq!(rule(role, *t, Op::Delete), Rule::Deny, "{role:?} {t}");
            }
        }
        // Nobody writes the access log.
        for role in RoleKind::ALL {
            for op in WRITES {
                assert_eq!(rule(role, T::AuditEvent, *op), Rule::Deny);
            }
        }
    }

    #[test]
    fn a_patient_writes_only_what_a_patient_owns() {
        let team_message = json!({"resourceType": "Communication", "subject": {"reference": "Patient/a"},
            "sender": {"reference": "Practitioner/pharmacist"}, "recipient": [{"reference": "Patient/a"}],
            "payload": [{"contentString": "Take two"}]});
        let mut read_mark = team_message.clone();
        read_mark["received"] = json!("2026-11-23T10:00:00Z");
        let mut rewritten = team_message.clone();
        rewritten["payload"] = json!([{"contentString": "Take ten"}]);
        fn update<'a>(before: &'a Value, after: &'a Value) -> Write<'a> {
            Write {
                op: Op::Update,
                resource_type: T::Communication,
                id: "m",
                before: Some(before),
                after: Some(after),
            }
        }
        fn create(c: &Value) -> Write<'_> {
            Write {
                op: Op::Create,
                resource_type: T::Communication,
                id: "n",
                before: None,
                after: Some(c),
            }
        }
        assert_eq!(
            check_write(&patient(), update(&team_message, &read_mark), &Knee),
            Ok(())
        );
        let refused =
            check_write(&patient(), update(&team_message, &rewritten), &Knee).unwrap_err();
        assert!(refused.0.contains("you changed payload"), "{}", refused.0);

        let impostor = json!({"resourceType": "Communication", "subject": {"reference": "Patient/a"},
            "sender": {"reference": "Practitioner/pharmacist"}});
        assert!(
            check_write(&patient(), create(&impostor), &Knee)
                .unwrap_err()
                .0
                .contains("sender must be you")
        );
        let own = json!({"resourceType": "Communication", "subject": {"reference": "Patient/a"},
            "sender": {"reference": "Patient/a"}});
        assert_eq!(check_write(&patient(), create(&own), &Knee), Ok(()));

        let second_patient = json!({"resourceType": "Patient"});
        let w = Write {
            op: Op::Create,
            resource_type: T::Patient,
            id: "b",
            before: None,
            after: Some(&second_patient),
        };
        assert!(check_write(&patient(), w, &Knee).is_err());
        let episode = json!({"resourceType": "EpisodeOfCare", "patient": {"reference": "Patient/a"},
            "managingOrganization": {"reference": "Organization/knee"}});
        let w = Write {
            op: Op::Create,
            resource_type: T::EpisodeOfCare,
            id: "e",
            before: None,
            after: Some(&episode),
        };
        assert!(
            check_write(&patient(), w, &Knee).is_err(),
            "care links are the team's"
        );
    }

    #[test]
    fn the_team_writes_only_its_own_unit() {
        let other = json!({"resourceType": "Organization", "name": "Renamed"});
        let w = Write {
            op: Op::Update,
            resource_type: T::Organization,
            id: "breast",
            before: Some(&other),
            after: Some(&other),
        };
        assert!(check_write(&team(), w, &Knee).is_err());
        let w = Write { id: "knee", ..w };
        assert_eq!(check_write(&team(), w, &Knee), Ok(()));
        let foreign_episode = json!({"resourceType": "EpisodeOfCare", "patient": {"reference": "Patient/b"},
            "managingOrganization": {"reference": "Organization/breast"}});
        let w = Write {
            op: Op::Create,
            resource_type: T::EpisodeOfCare,
            id: "e",
            before: None,
            after: Some(&foreign_episode),
        };
        assert!(check_write(&team(), w, &Knee).is_err());
        let appt_b = json!({"resourceType": "Appointment", "participant": [{"actor": {"reference": "Patient/b"}}]});
        let w = Write {
            op: Op::Create,
            resource_type: T::Appointment,
            id: "x",
            before: None,
            after: Some(&appt_b),
        };
        assert!(check_write(&team(), w, &Knee).is_err());
    }

    #[test]
    fn the_readme_table_is_rendered_from_this_table() {
        let readme = include_str!("../../../README.md");
        assert!(
            readme.contains(&markdown()),
            "README.md's access table is out of date: run `carecycle-backend policy` and paste its output"
        );
    }
}
