//! Questionnaires the team assigned: where each stands (a pure function of
//! the task and the time), and answering one, which runs the questionnaire
//! engine (carecycle-prom) locally so scores and red-flag guidance are
//! there at once, offline, before anything is sent.

use crate::contract::{DueQuestionnaire, ResultPoint, ResultSeries};
use crate::error::{CoreError, Result};
use crate::outbox;
use crate::store::Store;
use carecycle_fhir::ResourceType;
use carecycle_fhir::time::FhirDateTime;
use carecycle_prom::red_flags::{self, RedFlag};
use carecycle_prom::scoring::{self, ScoreOutcome};
use carecycle_prom::{AnswerValue, ItemPath, ItemType, Questionnaire, Response};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;
use serde_json::{Value, json};

fn is_questionnaire_task(t: &Value) -> bool {
    carecycle_fhir::task_kind(t) == Some("questionnaire")
}

fn instant(value: Option<&str>, tz: &TimeZone) -> Option<Timestamp> {
    value
        .and_then(|v| FhirDateTime::parse(v).ok())
        .map(|d| d.start_instant(tz))
}

/// upcoming, due, overdue, done or closed.
pub fn state_of(task: &Value, now: Timestamp, tz: &TimeZone) -> &'static str {
    match task["status"].as_str() {
        Some("completed") => return "done",
        Some("cancelled" | "rejected" | "failed" | "entered-in-error") => return "closed",
        _ => {}
    }
    let period = &task["restriction"]["period"];
    let opens = instant(period["start"].as_str(), tz);
    // A date-only end means the whole of that day.
    let closes = period["end"].as_str().and_then(|e| {
        let d = FhirDateTime::parse(e).ok()?;
        Some(match d {
            FhirDateTime::Date(day) => day.tomorrow().ok()?.to_zoned(tz.clone()).ok()?.timestamp(),
            FhirDateTime::DateTime(_) => d.start_instant(tz),
        })
    });
    match (opens, closes) {
        (Some(o), _) if now < o => "upcoming",
        (_, Some(c)) if now >= c => "overdue",
        _ => "due",
    }
}

/// Every assigned questionnaire, the most urgent first.
pub fn due_list(store: &Store, now: Timestamp, tz: &TimeZone) -> Result<Vec<DueQuestionnaire>> {
    let mut out: Vec<DueQuestionnaire> = store
        .all(ResourceType::Task)?
        .iter()
        .filter(|t| is_questionnaire_task(t))
        .map(|t| DueQuestionnaire {
            task_id: format!("Task/{}", t["id"].as_str().unwrap_or_default()),
            title: t["description"]
                .as_str()
                .unwrap_or("Questionnaire")
                .to_owned(),
            questionnaire_id: t["focus"]["reference"]
                .as_str()
                .and_then(|r| r.strip_prefix("Questionnaire/"))
                .map(str::to_owned),
            opens: t["restriction"]["period"]["start"]
                .as_str()
                .map(str::to_owned),
            closes: t["restriction"]["period"]["end"]
                .as_str()
                .map(str::to_owned),
            state: state_of(t, now, tz).to_owned(),
        })
        .collect();
    let rank = |s: &str| match s {
        "overdue" => 0,
        "due" => 1,
        "upcoming" => 2,
        "done" => 3,
        _ => 4,
    };
    out.sort_by(|a, b| (rank(&a.state), &a.closes).cmp(&(rank(&b.state), &b.closes)));
    Ok(out)
}

/// What answering did: the response (queued to send), the scores with their
/// meaning, and any red flag, most urgent first.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answered {
    pub response_id: String,
    pub scores: Vec<ScoreOutcome>,
    pub red_flags: Vec<RedFlag>,
}

/// One answer given as plain JSON (`"Several days"`, `"LA6569-3"`, `7`, `true`)
/// as the item expects it.
fn to_answer(item: &carecycle_prom::Item, v: &Value) -> Result<AnswerValue> {
    let bad = || CoreError::InvalidInput(format!("{:?} is not an answer to '{}'", v, item.link_id));
    if !item.options.is_empty() {
        let found = item.options.iter().find(|o| match (&o.value, v) {
            (AnswerValue::Coding(c), Value::String(s)) => {
                c.code.as_deref() == Some(s) || o.label.eq_ignore_ascii_case(s)
            }
            (AnswerValue::Integer(i), Value::Number(n)) => n.as_i64() == Some(*i),
            (AnswerValue::String(a), Value::String(s)) => a == s,
            _ => false,
        });
        if let Some(o) = found {
            return Ok(o.value.clone());
        }
        if item.item_type == ItemType::OpenChoice
            && let Value::String(s) = v
        {
            return Ok(AnswerValue::String(s.clone()));
        }
        return Err(bad());
    }
    Ok(match (item.item_type, v) {
        (ItemType::Boolean, Value::Bool(b)) => AnswerValue::Boolean(*b),
        (ItemType::Integer, Value::Number(n)) => AnswerValue::Integer(n.as_i64().ok_or_else(bad)?),
        (ItemType::Decimal, Value::Number(n)) => AnswerValue::Decimal(n.as_f64().ok_or_else(bad)?),
        (ItemType::Date, Value::String(s)) => AnswerValue::Date(s.clone()),
        (ItemType::DateTime, Value::String(s)) => AnswerValue::DateTime(s.clone()),
        (ItemType::Time, Value::String(s)) => AnswerValue::Time(s.clone()),
        (ItemType::String | ItemType::Text | ItemType::Url, Value::String(s)) => {
            AnswerValue::String(s.clone())
        }
        _ => return Err(bad()),
    })
}

/// The task, its questionnaire (parsed) and the response built from `answers`
/// (`{"linkId": answer or [answers]}`), given in questionnaire order so that
/// conditions see earlier answers.
fn build(
    store: &Store,
    task_id: &str,
    answers: &Value,
) -> Result<(Value, Questionnaire, Response)> {
    let task = store
        .get(ResourceType::Task, task_id)?
        .filter(is_questionnaire_task)
        .ok_or_else(|| {
            CoreError::InvalidInput("that questionnaire is not on this device".into())
        })?;
    if task["status"] == "completed" {
        return Err(CoreError::InvalidInput(
            "this questionnaire is already answered".into(),
        ));
    }
    let qid = task["focus"]["reference"]
        .as_str()
        .and_then(|r| r.strip_prefix("Questionnaire/"))
        .ok_or_else(|| CoreError::Data("the task names no questionnaire".into()))?
        .to_owned();
    let q_json = store
        .get(ResourceType::Questionnaire, &qid)?
        .ok_or_else(|| {
            CoreError::InvalidInput(
                "the questionnaire itself is not on this device yet: sync first".into(),
            )
        })?;
    let q = Questionnaire::parse(&q_json)
        .map_err(|e| CoreError::Data(format!("the questionnaire cannot be used: {e}")))?;
    let map = answers.as_object().ok_or_else(|| {
        CoreError::InvalidInput("answers must be a JSON object of linkId → answer".into())
    })?;
    if let Some(unknown) = map.keys().find(|k| q.item(k).is_none()) {
        return Err(CoreError::InvalidInput(format!(
            "'{unknown}' is not a question of this questionnaire"
        )));
    }
    let mut response = Response::new(&q);
    for (item, _) in q.walk() {
        let Some(v) = map.get(&item.link_id) else {
            continue;
        };
        let values = match v {
            Value::Array(a) => a
                .iter()
                .map(|x| to_answer(item, x))
                .collect::<Result<Vec<_>>>()?,
            x => vec![to_answer(item, x)?],
        };
        let path = ItemPath::of(&q, &item.link_id)
            .ok_or_else(|| CoreError::Data("lost an item".into()))?;
        response
            .set_answers(&q, &path, values)
            .map_err(|e| CoreError::InvalidInput(e.to_string()))?;
    }
    Ok((task, q, response))
}

/// The in-progress response saved for a task, if there is one.
pub fn draft_of(store: &Store, task_id: &str) -> Result<Option<Value>> {
    let based_on = format!("Task/{}", task_id.trim_start_matches("Task/"));
    Ok(store
        .all(ResourceType::QuestionnaireResponse)?
        .into_iter()
        .find(|r| {
            r["status"] == "in-progress" && r["basedOn"][0]["reference"] == based_on.as_str()
        }))
}

fn with_context(mut qr: Value, patient: &str, task_id: &str) -> Value {
    qr["subject"] = json!({"reference": format!("Patient/{patient}")});
    qr["author"] = json!({"reference": format!("Patient/{patient}")});
    qr["basedOn"] = json!([{"reference": format!("Task/{task_id}")}]);
    qr
}

/// Saves the answers so far as an in-progress response: kept on the device
/// and synced, so it resumes after a restart or on another device. Incomplete
/// answers are fine here; answers of the wrong kind are refused clearly.
pub fn save_draft(
    store: &mut Store,
    patient: &str,
    task_id: &str,
    answers: &Value,
    now: Timestamp,
) -> Result<String> {
    let task_id = task_id.trim_start_matches("Task/").to_owned();
    let (_, q, response) = build(store, &task_id, answers)?;
    let authored = carecycle_fhir::time::format_instant(now);
    let qr = with_context(
        response.to_fhir(
            &q,
            carecycle_prom::ResponseStatus::InProgress,
            Some(&authored),
        ),
        patient,
        &task_id,
    );
    match draft_of(store, &task_id)? {
        Some(existing) => {
            let id = existing["id"].as_str().unwrap_or_default().to_owned();
            outbox::queue_update(
                store.connection(),
                ResourceType::QuestionnaireResponse,
                &id,
                qr,
                now,
            )?;
            Ok(format!("QuestionnaireResponse/{id}"))
        }
        None => {
            let local = outbox::queue_create(
                store.connection(),
                ResourceType::QuestionnaireResponse,
                qr,
                now,
            )?;
            Ok(format!("QuestionnaireResponse/{local}"))
        }
    }
}

/// Answers an assigned questionnaire: validated by the engine, completed,
/// queued with the task marked done — all in the store, offline or not. A
/// saved draft becomes the completed response (exactly one response per
/// task). Problems come back as one clear error, and nothing is stored until
/// they are fixed.
pub fn answer(
    store: &mut Store,
    patient: &str,
    task_id: &str,
    answers: &Value,
    now: Timestamp,
) -> Result<Answered> {
    let task_id = task_id.trim_start_matches("Task/").to_owned();
    let (mut task, q, mut response) = build(store, &task_id, answers)?;
    let authored = carecycle_fhir::time::format_instant(now);
    let qr = response.complete(&q, &authored).map_err(|problems| {
        CoreError::InvalidInput(
            problems
                .iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let qr = with_context(qr, patient, &task_id);
    let scores = scoring::score(&q, &response);
    let flags = red_flags::evaluate(&red_flags::default_rules(), &q, &response, &scores, &[]);
    let response_id = match draft_of(store, &task_id)? {
        Some(draft) => {
            let id = draft["id"].as_str().unwrap_or_default().to_owned();
            outbox::queue_update(
                store.connection(),
                ResourceType::QuestionnaireResponse,
                &id,
                qr,
                now,
            )?;
            id
        }
        None => outbox::queue_create(
            store.connection(),
            ResourceType::QuestionnaireResponse,
            qr,
            now,
        )?,
    };
    task["status"] = json!("completed");
    task["output"] = json!([{"type": {"text": "response"}, "valueReference": {"reference": format!("QuestionnaireResponse/{response_id}")}}]);
    outbox::queue_update(store.connection(), ResourceType::Task, &task_id, task, now)?;
    Ok(Answered {
        response_id: format!("QuestionnaireResponse/{response_id}"),
        scores,
        red_flags: flags,
    })
}

/// Every scored scale over time, from the completed responses on this device,
/// with what the latest change since the first (the baseline) means.
pub fn results(store: &Store) -> Result<Vec<ResultSeries>> {
    let questionnaires: Vec<Questionnaire> = store
        .all(ResourceType::Questionnaire)?
        .iter()
        .filter_map(|q| Questionnaire::parse(q).ok())
        .collect();
    let mut by_scale: std::collections::BTreeMap<
        String,
        (carecycle_prom::Score, Vec<(String, carecycle_prom::Score)>),
    > = Default::default();
    let mut responses = store.all(ResourceType::QuestionnaireResponse)?;
    responses.sort_by(|a, b| a["authored"].as_str().cmp(&b["authored"].as_str()));
    for r in responses
        .iter()
        .filter(|r| matches!(r["status"].as_str(), Some("completed" | "amended")))
    {
        let url = r["questionnaire"]
            .as_str()
            .unwrap_or_default()
            .split('|')
            .next()
            .unwrap_or_default();
        let Some(q) = questionnaires
            .iter()
            .find(|q| q.url.as_deref() == Some(url))
        else {
            continue;
        };
        let Ok(response) = Response::from_fhir(q, r) else {
            continue;
        };
        let authored = r["authored"].as_str().unwrap_or_default().to_owned();
        for outcome in scoring::score(q, &response) {
            if let ScoreOutcome::Scored(s) = outcome {
                let entry = by_scale
                    .entry(s.scale.clone())
                    .or_insert_with(|| ((*s).clone(), Vec::new()));
                entry.1.push((authored.clone(), *s));
            }
        }
    }
    Ok(by_scale
        .into_values()
        .map(|(first, points)| {
            let latest = points
                .last()
                .map(|(_, s)| s.clone())
                .unwrap_or_else(|| first.clone());
            let change = (points.len() > 1).then(|| latest.change_since(&points[0].1));
            ResultSeries {
                scale: first.scale.clone(),
                name: first.scale_name.clone(),
                instrument: first.instrument_name.clone(),
                unit: first.unit.clone(),
                min: first.min,
                max: first.max,
                direction: first.direction.words().to_owned(),
                mcid: first.mcid,
                points: points
                    .iter()
                    .map(|(at, s)| ResultPoint {
                        authored: at.clone(),
                        value: s.value,
                        band: s.band.as_ref().map(|b| b.label.clone()),
                        meaning: s.band.as_ref().map(|b| b.meaning.clone()),
                    })
                    .collect(),
                change_since_baseline: change.as_ref().map(|c| c.words.clone()),
                verdict: change.map(|c| format!("{:?}", c.verdict).to_lowercase()),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_makes_a_questionnaire_upcoming_due_or_overdue() {
        let tz = TimeZone::get("America/Chicago").unwrap();
        let task = |status: &str| json!({"status": status, "restriction": {"period": {"start": "2026-11-20", "end": "2026-11-25"}}});
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            state_of(&task("requested"), at("2026-11-19T12:00:00Z"), &tz),
            "upcoming"
        );
        assert_eq!(
            state_of(&task("requested"), at("2026-11-23T12:00:00Z"), &tz),
            "due"
        );
        // The whole of the last day counts (in the unit's zone).
        assert_eq!(
            state_of(&task("requested"), at("2026-11-26T05:00:00Z"), &tz),
            "due"
        );
        assert_eq!(
            state_of(&task("requested"), at("2026-11-26T07:00:00Z"), &tz),
            "overdue"
        );
        assert_eq!(
            state_of(&task("completed"), at("2026-11-30T12:00:00Z"), &tz),
            "done"
        );
        assert_eq!(
            state_of(&task("cancelled"), at("2026-11-23T12:00:00Z"), &tz),
            "closed"
        );
        assert_eq!(
            state_of(
                &json!({"status": "requested"}),
                at("2026-11-23T12:00:00Z"),
                &tz
            ),
            "due"
        );
    }
}
