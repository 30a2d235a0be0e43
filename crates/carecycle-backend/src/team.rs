//! The care team's side, as a command line for demos and tests:
//! `carecycle-backend team --data DIR --as USERNAME <command>`.
//!
//! It opens the server's database directly (beside a running server: SQLite
//! serialises the writers and change stamps stay ordered, see `store`), acts
//! as the named care-team user, and goes through the same create/update paths
//! as the REST API, so access rules, validation, audit and reply routing apply
//! exactly as they do for the team's own systems.

use crate::access::{self, Area, Role};
use crate::api::{self, ApiError, CreateOutcome};
use crate::auth::{self, Principal};
use crate::forms;
use crate::routing::{self, MESSAGE_KIND_SYSTEM};
use crate::seed::{ANCHOR_SYSTEM, EDUCATION_ID_SYSTEM};
use crate::store::{self, Db, Filter, Query, Stamper, Stored};
use carecycle_fhir::time::{FhirDateTime, format_instant, format_zoned};
use carecycle_fhir::{CARE_PLAN_KIND_SYSTEM, ResourceType, sdc};
use carecycle_prom::Response;
use carecycle_prom::extract;
use carecycle_prom::red_flags;
use carecycle_prom::scoring;
use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use rusqlite::{Connection, OptionalExtension, Transaction};
use serde_json::{Value, json};

/// Adds each Spanish text given as the translation of its element of `fields`
/// (the element must be there, in the team's own language).
fn in_spanish(fields: &mut Value, translations: &[(&str, Option<String>)]) {
    let Some(object) = fields.as_object_mut() else {
        return;
    };
    for (element, spanish) in translations {
        if let Some(spanish) = spanish
            && object.get(*element).is_some_and(Value::is_string)
        {
            carecycle_fhir::translation::add(object, element, "es", spanish);
        }
    }
}

/// What the team can do (also the `team` subcommands of the binary).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// List the unit's patients.
    Patients,
    /// Send a message to a patient (into a thread with --thread).
    Send(SendArgs),
    /// Publish an appointment (or update one with --id).
    Appointment(AppointmentArgs),
    /// Publish a checklist activity (or update one with --id).
    Activity(ActivityArgs),
    /// Move the procedure date and every future date anchored to it.
    MoveSurgery(MoveSurgeryArgs),
    /// Assign a questionnaire with a window (dates or date-times).
    Assign(AssignArgs),
    /// Publish a markdown education document for a phase of the patient's care.
    Publish(PublishArgs),
    /// Publish a Questionnaire or ValueSet (or a Bundle of them) from a JSON
    /// file, and say whether the app can show each form and how it scores it.
    PublishForm(PublishFormArgs),
    /// Every questionnaire with the app's verdict: usable (scored as what),
    /// refused (why), and the extensions it does not run.
    Forms,
    /// Add a family member who signs in with their own username.
    AddProxy(AddProxyArgs),
    /// Withdraw a family member's access to one area.
    Revoke(RevokeArgs),
    /// Patient messages waiting for a reply: who answers and by when.
    Inbox,
    /// Questionnaire responses with their scores.
    Responses,
    /// Responses with red flags.
    Flags,
}

/// The arguments of `send`.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// The patient's id, or the username they sign in with.
    #[arg(long)]
    pub patient: String,
    #[arg(long)]
    pub thread: Option<String>,
    /// clinical, scheduling, medications, billing or other (for a new thread).
    #[arg(long)]
    pub kind: Option<String>,
    pub text: String,
}

/// The arguments of `appointment`.
#[derive(Debug, Clone, clap::Args)]
pub struct AppointmentArgs {
    #[arg(long)]
    pub patient: String,
    #[arg(long)]
    pub id: Option<String>,
    #[arg(long)]
    pub title: String,
    /// Start with its offset, e.g. 2026-12-02T14:00:00-06:00.
    #[arg(long)]
    pub start: String,
    #[arg(long, default_value_t = 30)]
    pub minutes: i64,
    #[arg(long)]
    pub place: Option<String>,
    /// Practitioner id (default: you).
    #[arg(long)]
    pub with: Option<String>,
    #[arg(long)]
    pub prepare: Option<String>,
    /// The title in Spanish (FHIR's translation extension).
    #[arg(long)]
    pub title_es: Option<String>,
    /// How to prepare, in Spanish.
    #[arg(long)]
    pub prepare_es: Option<String>,
}

/// The arguments of `activity`.
#[derive(Debug, Clone, clap::Args)]
pub struct ActivityArgs {
    #[arg(long)]
    pub patient: String,
    #[arg(long)]
    pub id: Option<String>,
    #[arg(long)]
    pub title: String,
    /// Due day (YYYY-MM-DD).
    #[arg(long)]
    pub due: String,
    #[arg(long)]
    pub how: Option<String>,
    /// The title in Spanish (FHIR's translation extension).
    #[arg(long)]
    pub title_es: Option<String>,
    /// How to do it, in Spanish.
    #[arg(long)]
    pub how_es: Option<String>,
}

/// The arguments of `move-surgery`.
#[derive(Debug, Clone, clap::Args)]
pub struct MoveSurgeryArgs {
    #[arg(long)]
    pub patient: String,
    /// The new day (YYYY-MM-DD).
    #[arg(long)]
    pub to: String,
}

/// The arguments of `assign`.
#[derive(Debug, Clone, clap::Args)]
pub struct AssignArgs {
    #[arg(long)]
    pub patient: String,
    #[arg(long)]
    pub questionnaire: String,
    #[arg(long)]
    pub from: String,
    #[arg(long)]
    pub to: String,
    #[arg(long)]
    pub title: Option<String>,
}

/// The arguments of `publish`.
#[derive(Debug, Clone, clap::Args)]
pub struct PublishArgs {
    #[arg(long)]
    pub patient: String,
    #[arg(long)]
    pub phase: String,
    #[arg(long)]
    pub title: String,
    /// The markdown file.
    #[arg(long)]
    pub file: std::path::PathBuf,
    #[arg(long, default_value = "en")]
    pub language: String,
}

/// The arguments of `publish-form`.
#[derive(Debug, Clone, clap::Args)]
pub struct PublishFormArgs {
    #[arg(long)]
    pub file: std::path::PathBuf,
}

/// The arguments of `add-proxy`.
#[derive(Debug, Clone, clap::Args)]
pub struct AddProxyArgs {
    #[arg(long)]
    pub patient: String,
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub password: String,
    #[arg(long)]
    pub given: String,
    #[arg(long)]
    pub family: String,
    #[arg(long, default_value = "Family member")]
    pub relationship: String,
    /// Areas: schedule, education, messages, questionnaires (comma-separated).
    #[arg(long = "grant", value_delimiter = ',')]
    pub grants: Vec<String>,
    /// When the access ends by itself: a date (the start of that day, UTC) or an instant.
    #[arg(long)]
    pub until: Option<String>,
}

/// The arguments of `revoke`.
#[derive(Debug, Clone, clap::Args)]
pub struct RevokeArgs {
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub area: String,
}

/// A reference to the patient `id`.
fn pref(id: &str) -> Value {
    json!({"reference": format!("Patient/{id}")})
}

/// Runs one command as the care-team user `username`; the text to print.
pub fn run(
    db: &Db,
    stamper: &Stamper,
    username: &str,
    command: Command,
) -> Result<String, ApiError> {
    db.with(|conn| {
        let principal = team_principal(conn, username)?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(ApiError::from_sql)?;
        let out = execute(&tx, stamper, &principal, command)?;
        tx.commit().map_err(ApiError::from_sql)?;
        Ok(out)
    })
}

fn team_principal(conn: &Connection, username: &str) -> Result<Principal, ApiError> {
    let row: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT fhir_user, organization FROM user_account WHERE username = ?1",
            [username],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(ApiError::from_sql)?;
    match row {
        Some((fhir_user, Some(organization))) if fhir_user.starts_with("Practitioner/") => {
            Ok(Principal {
                username: username.to_owned(),
                role: Role::Team {
                    practitioner: fhir_user.trim_start_matches("Practitioner/").to_owned(),
                    organization,
                },
                fhir_user,
                patient: None,
                scope: "user/*.cruds".into(),
            })
        }
        _ => Err(ApiError::BadRequest(format!(
            "{username} is not a care-team user of this server (see --as)"
        ))),
    }
}

fn organization(p: &Principal) -> &str {
    match &p.role {
        Role::Team { organization, .. } => organization,
        _ => "",
    }
}

fn practitioner(p: &Principal) -> &str {
    match &p.role {
        Role::Team { practitioner, .. } => practitioner,
        _ => "",
    }
}

/// A patient by id or by the username they sign in with, if this unit looks after them.
fn resolve_patient(tx: &Transaction<'_>, p: &Principal, who: &str) -> Result<String, ApiError> {
    let by_username: Option<String> = tx
        .query_row(
            "SELECT patient FROM user_account WHERE username = ?1 AND fhir_user LIKE 'Patient/%'",
            [who],
            |r| r.get(0),
        )
        .optional()
        .map_err(ApiError::from_sql)?
        .flatten();
    let id = by_username.unwrap_or_else(|| who.trim_start_matches("Patient/").to_owned());
    if access::org_reaches(tx, organization(p), &id).map_err(ApiError::from_sql)? {
        Ok(id)
    } else {
        Err(ApiError::NotFound(format!(
            "no patient {who} in your care unit"
        )))
    }
}

fn all_of(
    tx: &Transaction<'_>,
    t: ResourceType,
    patient: &str,
    filters: Vec<Filter>,
) -> Result<Vec<Stored>, ApiError> {
    Ok(store::search(
        tx,
        t,
        &Query {
            patient: Some(patient.to_owned()),
            filters,
            count: 10_000,
            ..Default::default()
        },
    )?
    .resources)
}

fn create(
    tx: &Transaction<'_>,
    s: &Stamper,
    p: &Principal,
    t: ResourceType,
    content: Value,
) -> Result<Stored, ApiError> {
    match api::create_in(tx, s, p, t, content, None, None)? {
        CreateOutcome::Created(stored) | CreateOutcome::Existing(stored) => Ok(stored),
    }
}

fn update(
    tx: &Transaction<'_>,
    s: &Stamper,
    p: &Principal,
    t: ResourceType,
    id: &str,
    mut content: Value,
) -> Result<Stored, ApiError> {
    content["id"] = json!(id);
    if let Some(meta) = content.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("versionId");
        meta.remove("lastUpdated");
    }
    Ok(api::update_in(tx, s, p, t, id, content, None)?.0)
}

/// Create, or update the existing resource `id` with the given fields.
fn upsert(
    tx: &Transaction<'_>,
    s: &Stamper,
    p: &Principal,
    t: ResourceType,
    id: Option<&str>,
    fields: Value,
) -> Result<Stored, ApiError> {
    match id {
        None => create(tx, s, p, t, fields),
        Some(id) => {
            let mut current = store::read(tx, t, id)?
                .filter(|r| !r.deleted && api::readable(tx, p, r))
                .ok_or_else(|| ApiError::NotFound(format!("{t}/{id} not found")))?
                .content;
            if let (Some(target), Some(new)) = (current.as_object_mut(), fields.as_object()) {
                for (k, v) in new {
                    target.insert(k.clone(), v.clone());
                }
            }
            update(tx, s, p, t, id, current)
        }
    }
}

fn unit_time_zone(tx: &Transaction<'_>, p: &Principal) -> Result<TimeZone, ApiError> {
    let org = store::read(tx, ResourceType::Organization, organization(p))?;
    Ok(org
        .map(|o| routing::calendar(&o.content).tz)
        .unwrap_or(TimeZone::UTC))
}

fn execute(
    tx: &Transaction<'_>,
    s: &Stamper,
    p: &Principal,
    command: Command,
) -> Result<String, ApiError> {
    match command {
        Command::Patients => patients(tx, p),
        Command::Send(args) => send(tx, s, p, args),
        Command::Appointment(args) => appointment(tx, s, p, args),
        Command::Activity(args) => activity(tx, s, p, args),
        Command::MoveSurgery(MoveSurgeryArgs { patient, to }) => {
            move_surgery(tx, s, p, &patient, &to)
        }
        Command::Assign(args) => assign(tx, s, p, args),
        Command::Publish(args) => publish(tx, s, p, args),
        Command::AddProxy(args) => add_proxy(tx, s, p, args),
        Command::Revoke(args) => revoke(tx, s, p, args),
        Command::PublishForm(args) => publish_form(tx, s, p, args),
        Command::Forms => forms::list(tx),
        Command::Inbox => inbox(tx, p),
        Command::Responses => responses(tx, p, false),
        Command::Flags => responses(tx, p, true),
    }
}

/// `patients`: the unit's patients, with their names.
fn patients(tx: &Transaction<'_>, p: &Principal) -> Result<String, ApiError> {
    let mut out = String::new();
    let mut stmt = tx
        .prepare("SELECT DISTINCT patient FROM care_link WHERE org = ?1 ORDER BY patient")
        .map_err(ApiError::from_sql)?;
    let ids: Vec<String> = stmt
        .query_map([organization(p)], |r| r.get(0))
        .map_err(ApiError::from_sql)?
        .collect::<Result<_, _>>()
        .map_err(ApiError::from_sql)?;
    for id in ids {
        let name = store::read(tx, ResourceType::Patient, &id)?
            .and_then(|r| {
                let n = &r.content["name"][0];
                Some(format!(
                    "{} {}",
                    n["given"][0].as_str()?,
                    n["family"].as_str()?
                ))
            })
            .unwrap_or_default();
        out.push_str(&format!("{id}  {name}\n"));
    }
    Ok(out)
}
/// `send`.
fn send(
    tx: &Transaction<'_>,
    s: &Stamper,
    p: &Principal,
    args: SendArgs,
) -> Result<String, ApiError> {
    let SendArgs {
        patient,
        thread,
        kind,
        text,
    } = args;
    let patient = resolve_patient(tx, p, &patient)?;
    let now = format_instant(s.clock().now());
    let mut message = json!({
        "resourceType": "Communication",
        "status": "completed",
        "subject": pref(&patient),
        "sent": now,
        "sender": {"reference": format!("Practitioner/{}", practitioner(p))},
        "recipient": [pref(&patient)],
        "payload": [{"contentString": text}]
    });
    if let Some(root) = thread {
        let root = root.trim_start_matches("Communication/").to_owned();
        let found = store::read(tx, ResourceType::Communication, &root)?
            .filter(|r| r.patient.as_deref() == Some(patient.as_str()))
            .ok_or_else(|| ApiError::NotFound(format!("no thread {root} for this patient")))?;
        message["partOf"] = json!([{"reference": format!("Communication/{}", found.id)}]);
    }
    if let Some(kind) = kind {
        message["category"] = json!([{"coding": [{"system": MESSAGE_KIND_SYSTEM, "code": kind}]}]);
    }
    let stored = create(tx, s, p, ResourceType::Communication, message)?;
    Ok(format!("sent Communication/{}\n", stored.id))
}

/// `appointment`.
fn appointment(
    tx: &Transaction<'_>,
    s: &Stamper,
    p: &Principal,
    args: AppointmentArgs,
) -> Result<String, ApiError> {
    let AppointmentArgs {
        patient,
        id,
        title,
        start,
        minutes,
        place,
        with,
        prepare,
        title_es,
        prepare_es,
    } = args;
    let patient = resolve_patient(tx, p, &patient)?;
    let begin = FhirDateTime::parse(&start).map_err(|_| {
        ApiError::BadRequest(format!(
            "--start {start:?} is not a date-time with an offset"
        ))
    })?;
    let begin = begin.start_instant(&TimeZone::UTC);
    let end = begin
        .checked_add(jiff::SignedDuration::from_mins(minutes))
        .unwrap_or(begin);
    let tz = unit_time_zone(tx, p)?;
    let with = with.unwrap_or_else(|| practitioner(p).to_owned());
    let mut participants = vec![
        json!({"actor": pref(&patient), "status": "accepted"}),
        json!({"actor": {"reference": format!("Practitioner/{with}")}, "status": "accepted"}),
    ];
    if let Some(place) = place {
        participants.push(json!({"actor": {"display": place}, "status": "accepted"}));
    }
    let mut fields = json!({
        "resourceType": "Appointment", "status": "booked", "description": title,
        "start": start, "end": format_zoned(&end.to_zoned(tz)), "minutesDuration": minutes,
        "participant": participants
    });
    if let Some(prepare) = prepare {
        fields["patientInstruction"] = json!(prepare);
    }
    in_spanish(
        &mut fields,
        &[
            ("description", title_es),
            ("patientInstruction", prepare_es),
        ],
    );
    let stored = upsert(tx, s, p, ResourceType::Appointment, id.as_deref(), fields)?;
    Ok(format!(
        "Appointment/{} version {}\n",
        stored.id, stored.version
    ))
}

/// `activity`.
fn activity(
    tx: &Transaction<'_>,
    s: &Stamper,
    p: &Principal,
    args: ActivityArgs,
) -> Result<String, ApiError> {
    let ActivityArgs {
        patient,
        id,
        title,
        due,
        how,
        title_es,
        how_es,
    } = args;
    let patient = resolve_patient(tx, p, &patient)?;
    let mut fields = json!({
        "resourceType": "Task", "status": "requested", "intent": "order",
        "code": {"coding": [carecycle_fhir::published::coding(access::TASK_KIND_SYSTEM, "checklist")]},
        "description": title, "for": pref(&patient), "owner": pref(&patient),
        "restriction": {"period": {"end": due}}
    });
    in_spanish(&mut fields, &[("description", title_es)]);
    if let Some(how) = how {
        fields["note"] = json!([{"text": how}]);
        if let Some(note) = fields["note"][0].as_object_mut()
            && let Some(how_es) = how_es
        {
            carecycle_fhir::translation::add(note, "text", "es", &how_es);
        }
    }
    let stored = upsert(tx, s, p, ResourceType::Task, id.as_deref(), fields)?;
    Ok(format!("Task/{} version {}\n", stored.id, stored.version))
}

/// `assign`.
fn assign(
    tx: &Transaction<'_>,
    s: &Stamper,
    p: &Principal,
    args: AssignArgs,
) -> Result<String, ApiError> {
    let AssignArgs {
        patient,
        questionnaire,
        from,
        to,
        title,
    } = args;
    let patient = resolve_patient(tx, p, &patient)?;
    let q = store::read(tx, ResourceType::Questionnaire, &questionnaire)?
        .filter(|q| !q.deleted)
        .ok_or_else(|| ApiError::NotFound(format!("no Questionnaire/{questionnaire}")))?;
    forms::assignable(tx, &q)?;
    let title = title
        .or_else(|| q.content["title"].as_str().map(str::to_owned))
        .unwrap_or_else(|| questionnaire.clone());
    // SDC names the form by its canonical URL (rule sdc-t1: no focus).
    let url = q.content["url"].as_str().ok_or_else(|| {
        ApiError::BadRequest(format!(
            "Questionnaire/{questionnaire} has no canonical url: give it one before assigning it"
        ))
    })?;
    let task = json!({
        "resourceType": "Task", "status": "requested", "intent": "order",
        "code": sdc::task_code(),
        "description": title,
        "for": pref(&patient), "owner": pref(&patient),
        "requester": {"reference": format!("Practitioner/{}", practitioner(p))},
        "authoredOn": format_instant(s.clock().now()),
        "restriction": {"period": {"start": from, "end": to}},
        "input": sdc::questionnaire_input(url)
    });
    let stored = create(tx, s, p, ResourceType::Task, task)?;
    Ok(format!("assigned Task/{}\n", stored.id))
}

/// `publish`.
fn publish(
    tx: &Transaction<'_>,
    s: &Stamper,
    p: &Principal,
    args: PublishArgs,
) -> Result<String, ApiError> {
    let PublishArgs {
        patient,
        phase,
        title,
        file,
        language,
    } = args;
    let markdown = std::fs::read_to_string(&file)
        .map_err(|e| ApiError::BadRequest(format!("cannot read {}: {e}", file.display())))?;
    let patient = resolve_patient(tx, p, &patient)?;
    let phases = care_plans(tx, &patient, "phase")?;
    let phase_plan = phases
        .iter()
        .find(|c| {
            c.content["title"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(&phase))
        })
        .ok_or_else(|| {
            ApiError::NotFound(format!("no phase called {phase:?} in this patient's care"))
        })?;
    let slug: String = title
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let data = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        markdown.as_bytes(),
    );
    let stored = create(
        tx,
        s,
        p,
        ResourceType::DocumentReference,
        json!({
            "resourceType": "DocumentReference", "status": "current",
            "identifier": [{"system": EDUCATION_ID_SYSTEM, "value": format!("{slug}-{language}")}],
            "type": carecycle_fhir::published::education_document_type(),
            "category": [{"coding": [carecycle_fhir::published::coding(carecycle_fhir::DOCUMENT_KIND_SYSTEM, "education")]}],
            "subject": pref(&patient), "description": title,
            "content": [{"attachment": {"contentType": "text/markdown; charset=utf-8", "language": language, "title": title, "data": data}}],
            "context": {"related": [{"reference": format!("CarePlan/{}", phase_plan.id)}]}
        }),
    )?;
    Ok(format!("published DocumentReference/{}\n", stored.id))
}

/// `publish-form`.
fn publish_form(
    tx: &Transaction<'_>,
    s: &Stamper,
    p: &Principal,
    args: PublishFormArgs,
) -> Result<String, ApiError> {
    let PublishFormArgs { file } = args;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| ApiError::BadRequest(format!("cannot read {}: {e}", file.display())))?;
    let document = serde_json::from_str(&text)
        .map_err(|e| ApiError::BadRequest(format!("{} is not JSON: {e}", file.display())))?;
    forms::publish(tx, s, p, document)
}

/// `add-proxy`.
fn add_proxy(
    tx: &Transaction<'_>,
    s: &Stamper,
    p: &Principal,
    args: AddProxyArgs,
) -> Result<String, ApiError> {
    let AddProxyArgs {
        patient,
        username,
        password,
        given,
        family,
        relationship,
        grants,
        until,
    } = args;
    let patient = resolve_patient(tx, p, &patient)?;
    let until = until
        .map(|u| {
            FhirDateTime::parse(&u)
                .map(|d| format_instant(d.start_instant(&TimeZone::UTC)))
                .map_err(|_| {
                    ApiError::BadRequest(format!("--until {u:?} is not a date or instant"))
                })
        })
        .transpose()?;
    let areas = grants
        .iter()
        .map(|g| {
            Area::parse(g).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "unknown area {g:?}: use schedule, education, messages or questionnaires"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let person = create(
        tx,
        s,
        p,
        ResourceType::RelatedPerson,
        json!({
            "resourceType": "RelatedPerson", "active": true, "patient": pref(&patient),
            "relationship": [{"text": relationship}],
            "name": [{"use": "official", "given": [given], "family": family}]
        }),
    )?;
    auth::put_user(
        tx,
        &username,
        &password,
        &format!("RelatedPerson/{}", person.id),
        Some(&patient),
    )?;
    let now = format_instant(s.clock().now());
    for area in &areas {
        access::grant(tx, &person.id, &patient, *area, &now, until.as_deref())
            .map_err(ApiError::from_sql)?;
    }
    Ok(format!(
        "RelatedPerson/{} signs in as {username}; sees: {}\n",
        person.id,
        areas
            .iter()
            .map(|a| a.code())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// `revoke`.
fn revoke(
    tx: &Transaction<'_>,
    s: &Stamper,
    p: &Principal,
    args: RevokeArgs,
) -> Result<String, ApiError> {
    let RevokeArgs { username, area } = args;
    let area =
        Area::parse(&area).ok_or_else(|| ApiError::BadRequest(format!("unknown area {area:?}")))?;
    let related: Option<String> = tx
        .query_row("SELECT fhir_user FROM user_account WHERE username = ?1 AND fhir_user LIKE 'RelatedPerson/%'", [&username], |r| r.get(0))
        .optional()
        .map_err(ApiError::from_sql)?;
    let related = related
        .ok_or_else(|| ApiError::NotFound(format!("{username} is not a family member here")))?;
    let id = related.trim_start_matches("RelatedPerson/");
    let person = store::read(tx, ResourceType::RelatedPerson, id)?
        .filter(|r| api::readable(tx, p, r))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "{username} is not a family member of your unit's patients"
            ))
        })?;
    let done = access::revoke(tx, &person.id, area, &format_instant(s.clock().now()))
        .map_err(ApiError::from_sql)?;
    Ok(if done {
        format!("{username} no longer sees {}\n", area.code())
    } else {
        format!("{username} did not see {}\n", area.code())
    })
}

/// The patient's care plans of one kind (`care-cycle` or `phase`).
fn care_plans(tx: &Transaction<'_>, patient: &str, kind: &str) -> Result<Vec<Stored>, ApiError> {
    all_of(
        tx,
        ResourceType::CarePlan,
        patient,
        vec![Filter::Token {
            path: "$.category",
            system: Some(CARE_PLAN_KIND_SYSTEM.into()),
            code: kind.into(),
        }],
    )
}

/// Shifts a FHIR date or dateTime by `days` calendar days in the unit's time zone.
fn shift(value: &str, days: i64, tz: &TimeZone) -> Option<String> {
    if value.len() == 10 {
        return value
            .parse::<Date>()
            .ok()
            .map(|d| d.saturating_add(days.days()).to_string());
    }
    let instant = FhirDateTime::parse(value).ok()?.start_instant(tz);
    let moved = instant.to_zoned(tz.clone()).checked_add(days.days()).ok()?;
    Some(format_zoned(&moved))
}

fn move_surgery(
    tx: &Transaction<'_>,
    s: &Stamper,
    p: &Principal,
    patient: &str,
    to: &str,
) -> Result<String, ApiError> {
    let patient = resolve_patient(tx, p, patient)?;
    let to: Date = to
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("--to {to:?} is not a date (YYYY-MM-DD)")))?;
    let cycle = care_plans(tx, &patient, "care-cycle")?
        .into_iter()
        .find(|c| procedure_day(&c.content).is_some())
        .ok_or_else(|| {
            ApiError::NotFound("this patient's care cycle has no procedure date".into())
        })?;
    let from = procedure_day(&cycle.content).unwrap_or(to);
    let days = (to - from).get_days() as i64;
    if days == 0 {
        return Ok(format!("the procedure is already on {to}\n"));
    }
    let tz = unit_time_zone(tx, p)?;
    let today = s.clock().now().to_zoned(tz.clone()).date().to_string();
    let mut moved = 0;
    for t in [
        ResourceType::Appointment,
        ResourceType::Task,
        ResourceType::CarePlan,
    ] {
        for r in all_of(
            tx,
            t,
            &patient,
            vec![Filter::Token {
                path: "$.meta.tag",
                system: Some(ANCHOR_SYSTEM.into()),
                code: "surgery".into(),
            }],
        )? {
            let mut content = r.content.clone();
            let mut changed = false;
            let mut shifted = false;
            // Only what has not happened yet moves; a period that has begun
            // keeps its start, which is then no longer relative to the surgery.
            for ptr in carecycle_fhir::planned::RELATIVE_DATES {
                let Some(Value::String(v)) = content.pointer_mut(ptr) else {
                    continue;
                };
                if v.get(..10).is_some_and(|d| d >= today.as_str())
                    && let Some(new) = shift(v, days, &tz)
                {
                    *v = new;
                    changed = true;
                    shifted = true;
                } else if carecycle_fhir::planned::unrelate(&mut content, ptr) {
                    changed = true;
                }
            }
            if changed
                && !matches!(
                    content["status"].as_str(),
                    Some("fulfilled" | "completed" | "cancelled")
                )
            {
                update(tx, s, p, t, &r.id, content)?;
                moved += usize::from(shifted);
            }
        }
    }
    let mut cycle_content = cycle.content.clone();
    carecycle_fhir::planned::set_day(&mut cycle_content, &to.to_string());
    update(tx, s, p, ResourceType::CarePlan, &cycle.id, cycle_content)?;
    Ok(format!(
        "moved the procedure from {from} to {to} ({days:+} days) and {moved} dated items with it\n"
    ))
}

fn procedure_day(content: &Value) -> Option<Date> {
    carecycle_fhir::planned::day(content)?.parse().ok()
}

fn inbox(tx: &Transaction<'_>, p: &Principal) -> Result<String, ApiError> {
    let tasks = store::search(
        tx,
        ResourceType::Task,
        &Query {
            org: Some(organization(p).to_owned()),
            status: Some(vec![
                "requested".into(),
                "received".into(),
                "accepted".into(),
                "in-progress".into(),
            ]),
            filters: vec![Filter::Token {
                path: "$.code",
                system: Some(access::TASK_KIND_SYSTEM.into()),
                code: "reply".into(),
            }],
            count: 10_000,
            ..Default::default()
        },
    )?
    .resources;
    if tasks.is_empty() {
        return Ok("no patient messages waiting\n".into());
    }
    let mut out = String::new();
    for t in tasks {
        let c = &t.content;
        let root = c["focus"]["reference"].as_str().unwrap_or_default();
        let last = store::read(
            tx,
            ResourceType::Communication,
            root.trim_start_matches("Communication/"),
        )?
        .and_then(|m| {
            m.content["payload"][0]["contentString"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_default();
        out.push_str(&format!(
            "{root}  patient {}  {}  answer: {}  due {}\n    {}\n",
            t.patient.as_deref().unwrap_or("?"),
            c["description"].as_str().unwrap_or_default(),
            c["owner"]["display"].as_str().unwrap_or("unassigned"),
            c["restriction"]["period"]["end"].as_str().unwrap_or("-"),
            last
        ));
    }
    Ok(out)
}

/// The scores the server extracted from a response (its Observations), as
/// "name value (band)"; what the EHR sees is what the team reads.
fn extracted_scores(tx: &Transaction<'_>, response_id: &str) -> Result<Vec<String>, ApiError> {
    let observations = store::search(
        tx,
        ResourceType::Observation,
        &Query {
            count: 100,
            filters: vec![Filter::Reference {
                path: "$.derivedFrom",
                values: vec![format!("QuestionnaireResponse/{response_id}")],
            }],
            ..Default::default()
        },
    )?
    .resources;
    Ok(observations
        .iter()
        .filter_map(|o| {
            let score = extract::read(&o.content)?;
            let name = o.content["code"]["text"].as_str().unwrap_or(&score.scale);
            let band = score.band.map(|b| format!(" ({b})")).unwrap_or_default();
            Some(format!("{name} {}{band}", score.value))
        })
        .collect())
}

fn responses(tx: &Transaction<'_>, p: &Principal, only_flags: bool) -> Result<String, ApiError> {
    let all = store::search(
        tx,
        ResourceType::QuestionnaireResponse,
        &Query {
            org: Some(organization(p).to_owned()),
            descending: true,
            count: 10_000,
            ..Default::default()
        },
    )?
    .resources;
    let rules = red_flags::default_rules();
    let mut out = String::new();
    for r in all {
        let canonical = r.content["questionnaire"].as_str().unwrap_or_default();
        let url = canonical.split('|').next().unwrap_or_default();
        let q = forms::by_url(tx, ResourceType::Questionnaire, url)?
            .and_then(|q| forms::parse(tx, &q.content).ok());
        let Some(q) = q else { continue };
        let Ok(response) = Response::from_fhir(&q, &r.content) else {
            continue;
        };
        let assessment = scoring::assess(&q, &response);
        let scores = &assessment.outcomes;
        let flags = red_flags::evaluate(&rules, &q, &response, scores, &[]);
        if only_flags && flags.is_empty() {
            continue;
        }
        let summary = extracted_scores(tx, &r.id)?;
        out.push_str(&format!(
            "QuestionnaireResponse/{}  patient {}  {}  {}  {}\n",
            r.id,
            r.patient.as_deref().unwrap_or("?"),
            r.content["status"].as_str().unwrap_or_default(),
            q.title.as_deref().unwrap_or(url),
            summary.join("; ")
        ));
        for f in flags {
            out.push_str(&format!(
                "    RED FLAG ({:?}): {}\n",
                f.urgency, f.team_flag
            ));
        }
        // The form computes its own score; where it differs from the published
        // scoring the team must see both, not a silent choice.
        for d in assessment.disagreements() {
            out.push_str(&format!(
                "    CHECK THE FORM: its own {} is {} but {} scored as published is {}\n",
                d.text.as_deref().unwrap_or(&d.link_id),
                d.value.map_or("nothing".to_owned(), |v| v.to_string()),
                d.scale.as_deref().unwrap_or("the instrument"),
                d.engine_value
                    .map_or("nothing".to_owned(), |v| v.to_string()),
            ));
        }
    }
    if out.is_empty() {
        out = if only_flags {
            "no red flags\n".into()
        } else {
            "no questionnaire responses\n".into()
        };
    }
    Ok(out)
}
