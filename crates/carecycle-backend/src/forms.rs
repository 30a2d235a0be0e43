//! What the care team sees of a questionnaire before a patient does: whether
//! the app can show it (the same engine and the same value sets the app will
//! use), which instrument it is scored as and how that was recognised, and the
//! behaviour-changing extensions the engine does not run. A form the app must
//! refuse (an unknown `modifierExtension`, a value set nobody can expand) is
//! named with the reason here, and is never assigned.

use crate::api::{self, ApiError};
use crate::auth::Principal;
use crate::store::{self, Filter, Query, Stamper, Stored};
use carecycle_fhir::ResourceType;
use carecycle_fhir::sdc::{self, FormRef};
use carecycle_prom::parse::external_value_sets;
use carecycle_prom::scoring::{self, Recognition};
use carecycle_prom::{ParseError, Questionnaire};
use rusqlite::Transaction;
use serde_json::Value;

/// Reads a Questionnaire as the app will: with the value sets it names,
/// expanded from this server's ValueSets.
pub fn parse(tx: &Transaction<'_>, questionnaire: &Value) -> Result<Questionnaire, ParseError> {
    let mut sets = Vec::new();
    for canonical in external_value_sets(questionnaire) {
        let url = canonical.split('|').next().unwrap_or(&canonical);
        let found = by_url(tx, ResourceType::ValueSet, url).map_err(|e| ParseError {
            path: "Questionnaire".into(),
            reason: e.to_string(),
        })?;
        if let Some(vs) = found {
            // Expanded as `$expand` would; an unexpandable set stays out, and
            // the parser then names the item that needs it.
            if let Ok(expanded) = crate::terminology::expansion(&vs.content, "") {
                sets.push(expanded);
            }
        }
    }
    Questionnaire::parse_with_value_sets(questionnaire, &sets)
}

/// The live resource of `t` whose `url` is `url`, if any.
pub fn by_url(
    tx: &Transaction<'_>,
    t: ResourceType,
    url: &str,
) -> Result<Option<Stored>, ApiError> {
    Ok(store::search(
        tx,
        t,
        &Query {
            count: 1,
            filters: vec![Filter::Canonical {
                path: "$.url",
                values: vec![url.to_owned()],
            }],
            ..Default::default()
        },
    )?
    .resources
    .into_iter()
    .next())
}

/// One form's verdict, in lines for the team's terminal.
pub fn verdict(tx: &Transaction<'_>, q: &Stored) -> Result<String, ApiError> {
    let title = q.content["title"].as_str().unwrap_or("(untitled)");
    let mut out = format!("Questionnaire/{}  {title}\n", q.id);
    match parse(tx, &q.content) {
        Err(e) => {
            out.push_str(&format!("    REFUSED by the app: {e}\n"));
            let open = open_assignments(tx, q)?;
            if open > 0 {
                out.push_str(&format!(
                    "    {open} open assignment(s): those patients are told the form cannot be shown\n"
                ));
            }
        }
        Ok(form) => {
            out.push_str(&match scoring::recognise(&form) {
                Some(r) => format!(
                    "    usable; scored as {} (recognised by {})\n",
                    r.instrument_id,
                    how(r.recognition)
                ),
                None => "    usable; no instrument recognised: shown and sent, not scored\n".into(),
            });
            for w in &form.warnings {
                out.push_str(&format!(
                    "    warning: {} ({}): {}\n",
                    w.path, w.extension, w.message
                ));
            }
        }
    }
    Ok(out)
}

fn how(r: Recognition) -> &'static str {
    match r {
        Recognition::CanonicalUrl => "its canonical URL",
        Recognition::LoincPanel => "its LOINC panel code",
        Recognition::LoincItems => "its items' LOINC codes",
        Recognition::TitleAndStructure => "its title and exact structure",
        Recognition::TitleOnly => "its title only: reported as not supported, never scored",
    }
}

/// Whether a questionnaire Task asks for this form: by its canonical URL
/// (SDC) or, written the old way, by its id.
fn assigns(task: &Value, form: &Stored) -> bool {
    match sdc::questionnaire_of(task) {
        Some(FormRef::Canonical(c)) => {
            Some(c.split('|').next().unwrap_or(c)) == form.content["url"].as_str()
        }
        Some(FormRef::Id(id)) => id == form.id,
        None => false,
    }
}

/// Questionnaire tasks for this form that are not done yet.
fn open_assignments(tx: &Transaction<'_>, form: &Stored) -> Result<usize, ApiError> {
    let code = |system: &str, code: &str| Filter::Token {
        path: "$.code",
        system: Some(system.into()),
        code: code.into(),
    };
    let tasks = store::search(
        tx,
        ResourceType::Task,
        &Query {
            count: 10_000,
            filters: vec![Filter::AnyOf(vec![
                code(sdc::SDC_TEMP_SYSTEM, "complete-questionnaire"),
                code(carecycle_fhir::TASK_KIND_SYSTEM, "questionnaire"),
                Filter::Reference {
                    path: "$.focus",
                    values: vec![format!("Questionnaire/{}", form.id)],
                },
            ])],
            ..Default::default()
        },
    )?;
    Ok(tasks
        .resources
        .iter()
        .filter(|t| {
            assigns(&t.content, form)
                && !matches!(
                    t.content["status"].as_str(),
                    Some("completed" | "cancelled")
                )
        })
        .count())
}

/// Publishes a Questionnaire or ValueSet, or a Bundle of them (value sets
/// first, so the forms that use them read right), and prints each form's verdict.
pub fn publish(
    tx: &Transaction<'_>,
    s: &Stamper,
    p: &Principal,
    document: Value,
) -> Result<String, ApiError> {
    let mut resources: Vec<Value> = match document["resourceType"].as_str() {
        Some("Bundle") => document["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("resource").cloned())
            .collect(),
        _ => vec![document],
    };
    resources.sort_by_key(|r| r["resourceType"] != "ValueSet");
    let mut out = String::new();
    let mut forms = Vec::new();
    for r in resources {
        let t = match r["resourceType"].as_str() {
            Some("Questionnaire") => ResourceType::Questionnaire,
            Some("ValueSet") => ResourceType::ValueSet,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "only Questionnaires and ValueSets are published this way, not {}",
                    other.unwrap_or("a document without resourceType")
                )));
            }
        };
        let stored = match r["id"].as_str().map(str::to_owned) {
            Some(id) => api::update_in(tx, s, p, t, &id, r, None)?.0,
            None => match api::create_in(tx, s, p, t, r, None, None)? {
                api::CreateOutcome::Created(s) | api::CreateOutcome::Existing(s) => s,
            },
        };
        if t == ResourceType::Questionnaire {
            forms.push(stored);
        } else {
            out.push_str(&format!("{t}/{} version {}\n", stored.id, stored.version));
        }
    }
    for q in forms {
        out.push_str(&verdict(tx, &q)?);
    }
    Ok(out)
}

/// Every questionnaire on the server with its verdict.
pub fn list(tx: &Transaction<'_>) -> Result<String, ApiError> {
    let all = store::search(
        tx,
        ResourceType::Questionnaire,
        &Query {
            count: 10_000,
            ..Default::default()
        },
    )?;
    let mut out = String::new();
    for q in &all.resources {
        out.push_str(&verdict(tx, q)?);
    }
    Ok(out)
}

/// Refuses to assign a form the app could not show.
pub fn assignable(tx: &Transaction<'_>, q: &Stored) -> Result<(), ApiError> {
    parse(tx, &q.content).map(|_| ()).map_err(|e| {
        ApiError::Unprocessable(format!(
            "Questionnaire/{} cannot be assigned: the app would refuse it ({e})",
            q.id
        ))
    })
}
