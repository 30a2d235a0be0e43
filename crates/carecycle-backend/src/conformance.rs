//! The server's own conformance resources: CareCycle's code systems and
//! extensions (`carecycle_fhir::published`), and the code systems of the
//! answers in the questionnaires CareCycle ships (read from those forms, the
//! one place their codes live). Written at every start where they differ from
//! what is stored, so an upgraded server serves the new definitions; served
//! like the rest of the directory (any signed-in caller reads and searches
//! them by `url`; nobody writes them through the API).

use crate::store::{self, Stamper, StoreError};
use carecycle_fhir::ResourceType;
use carecycle_fhir::published::{CODE_SYSTEMS, EXTENSIONS, code_system};
use rusqlite::Connection;
use serde_json::Value;
use std::collections::BTreeMap;

/// Every resource the server publishes about its own codes and extensions.
pub fn resources() -> Vec<Value> {
    CODE_SYSTEMS
        .iter()
        .map(|c| c.resource())
        .chain([score_code_system()])
        .chain(answer_code_systems())
        .chain(EXTENSIONS.iter().map(|e| e.resource()))
        .collect()
}

/// CareCycle's codes for the scores it computes (the engine's scale ids),
/// used in an Observation's code where LOINC has none for the score.
fn score_code_system() -> Value {
    let concepts: Vec<(String, String)> = carecycle_prom::scoring::score_codes()
        .into_iter()
        .map(|(id, name)| (id.to_owned(), name.to_owned()))
        .collect();
    code_system(
        carecycle_fhir::SCORE_SYSTEM,
        "CareCycleScore",
        "Scores CareCycle computes",
        "One code per score the questionnaire engine computes (its scale id); an extracted Observation uses it where LOINC has no code for that score.",
        &concepts,
    )
}

/// The code systems CareCycle's shipped forms use for their answers
/// (`…/CodeSystem/koos-jr-answers`), with every code and display the forms give.
fn answer_code_systems() -> Vec<Value> {
    let mut systems: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (_, form) in carecycle_prom::library::ALL {
        let Ok(form) = serde_json::from_str::<Value>(form) else {
            continue;
        };
        collect_codings(&form, &mut systems);
    }
    systems
        .into_iter()
        .map(|(url, concepts)| {
            let id = carecycle_fhir::published::id_of(&url).to_owned();
            let concepts: Vec<(String, String)> = concepts.into_iter().collect();
            code_system(
                &url,
                &format!("CareCycle{}", id.replace('-', "")),
                &format!("Answers of CareCycle's {id}"),
                "The answer codes of a questionnaire CareCycle ships, as its answerOptions give them.",
                &concepts,
            )
        })
        .collect()
}

fn collect_codings(v: &Value, out: &mut BTreeMap<String, BTreeMap<String, String>>) {
    match v {
        Value::Object(map) => {
            if let (Some(system), Some(code)) = (
                map.get("system").and_then(Value::as_str),
                map.get("code").and_then(Value::as_str),
            ) && system.starts_with(carecycle_fhir::CARECYCLE_CANONICAL)
            {
                let display = map.get("display").and_then(Value::as_str).unwrap_or(code);
                out.entry(system.to_owned())
                    .or_default()
                    .insert(code.to_owned(), display.to_owned());
            }
            map.values().for_each(|x| collect_codings(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| collect_codings(x, out)),
        _ => {}
    }
}

/// Stores each published resource whose definition changed (or is new).
pub fn publish(conn: &mut Connection, stamper: &Stamper) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    for resource in resources() {
        let Some(t) = resource["resourceType"]
            .as_str()
            .and_then(|t| t.parse::<ResourceType>().ok())
        else {
            continue;
        };
        let id = resource["id"].as_str().unwrap_or_default().to_owned();
        let same = store::read(&tx, t, &id)?.is_some_and(|stored| {
            let mut kept = stored.content.clone();
            if let Some(o) = kept.as_object_mut() {
                o.remove("meta");
            }
            !stored.deleted && kept == resource
        });
        if !same {
            store::write(&tx, stamper, t, &id, resource, None)?;
        }
    }
    tx.commit()?;
    Ok(())
}
