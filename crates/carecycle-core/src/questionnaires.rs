//! Questionnaires the team assigned: where each stands (a pure function of
//! the task and the time), and answering one, which runs the questionnaire
//! engine (carecycle-prom) locally so scores and red-flag guidance are
//! there at once, offline, before anything is sent.

use crate::contract::{
    DueQuestionnaire, FormItem, FormOption, FormView, ResultPoint, ResultSeries, ScoreView,
    SubmittedQuestionnaire,
};
use crate::error::{CoreError, Result};
use crate::outbox;
use crate::store::Store;
use crate::urgent::{Urgency, UrgentGuidance};
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
    let mut drafts = std::collections::HashSet::new();
    for t in store.all(ResourceType::Task)? {
        if let Some(id) = t["id"].as_str()
            && draft_of(store, id)?.is_some()
        {
            drafts.insert(format!("Task/{id}"));
        }
    }
    let mut out: Vec<DueQuestionnaire> = store
        .all(ResourceType::Task)?
        .iter()
        .filter(|t| is_questionnaire_task(t))
        .map(|t| (t, state_of(t, now, tz)))
        .map(|(t, state)| DueQuestionnaire {
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
            state: state.to_owned(),
            answerable: matches!(state, "due" | "overdue"),
            in_progress: t["status"] != "completed"
                && drafts.contains(&format!("Task/{}", t["id"].as_str().unwrap_or_default())),
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
/// as the item expects it, among the answers offered now (`options`: the
/// form's own, or those its SDC `answerExpression` computed).
fn to_answer(
    item: &carecycle_prom::Item,
    options: &[carecycle_prom::AnswerOption],
    v: &Value,
) -> Result<AnswerValue> {
    let bad = || CoreError::InvalidInput(format!("{:?} is not an answer to '{}'", v, item.link_id));
    if !options.is_empty() {
        let found = options.iter().find(|o| match (&o.value, v) {
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
        // Text typed into a number field: a number when it reads as one; else
        // kept as typed, and the engine reports it next to the question.
        (ItemType::Integer | ItemType::Decimal | ItemType::Quantity, Value::String(s)) => {
            match s.trim().parse::<f64>() {
                Ok(n) => return to_answer(item, options, &json!(n)),
                Err(_) => AnswerValue::String(s.clone()),
            }
        }
        (ItemType::Integer, Value::Number(n)) if n.as_i64().is_none() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => AnswerValue::Integer(f as i64),
            _ => AnswerValue::Decimal(n.as_f64().ok_or_else(bad)?),
        },
        (ItemType::Quantity, Value::Number(n)) => {
            AnswerValue::Quantity(carecycle_prom::model::Quantity {
                value: n.as_f64(),
                unit: item.unit.clone(),
                system: None,
                code: None,
            })
        }
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
        // The form computes a calculated item itself (SDC calculatedExpression):
        // a value sent back for it, e.g. the one the form view showed, is not
        // an answer, and the engine's own value stands.
        if item.is_calculated() {
            continue;
        }
        let path = ItemPath::of(&q, &item.link_id)
            .ok_or_else(|| CoreError::Data("lost an item".into()))?;
        let options = response.options(&q, &path).to_vec();
        let values = match v {
            Value::Array(a) => a
                .iter()
                .map(|x| to_answer(item, &options, x))
                .collect::<Result<Vec<_>>>()?,
            x => vec![to_answer(item, &options, x)?],
        };
        // An answer to a question no longer asked (an earlier answer changed)
        // is dropped, as FHIR says answers of disabled items are.
        if !response.is_enabled(&path) {
            continue;
        }
        response
            .set_answers(&q, &path, values)
            .map_err(|e| CoreError::InvalidInput(e.to_string()))?;
    }
    Ok((task, q, response))
}

/// The in-progress response saved for a task, if there is one.
pub fn draft_of(store: &Store, task_id: &str) -> Result<Option<Value>> {
    let Some(task) = store.get(ResourceType::Task, task_id.trim_start_matches("Task/"))? else {
        return Ok(None);
    };
    let Some(id) = response_of(&task) else {
        return Ok(None);
    };
    Ok(store
        .get(ResourceType::QuestionnaireResponse, &id)?
        .filter(|r| r["status"] == "in-progress"))
}

/// The response a questionnaire Task names as its output (SDC: the Task
/// points at its QuestionnaireResponse; R4 lets a response be basedOn only a
/// CarePlan or ServiceRequest, so the link lives on the Task).
fn response_of(task: &Value) -> Option<String> {
    task["output"]
        .as_array()?
        .iter()
        .filter_map(|o| o["valueReference"]["reference"].as_str())
        .find_map(|r| r.strip_prefix("QuestionnaireResponse/"))
        .map(str::to_owned)
}

/// Links a response to its Task (its output), queued with the response.
fn link_response(
    store: &mut Store,
    mut task: Value,
    task_id: &str,
    response_id: &str,
    now: Timestamp,
) -> Result<()> {
    task["output"] = json!([{"type": {"text": "response"}, "valueReference": {"reference": format!("QuestionnaireResponse/{response_id}")}}]);
    outbox::queue_update(store.connection(), ResourceType::Task, task_id, task, now)
}

fn with_context(mut qr: Value, patient: &str) -> Value {
    qr["subject"] = json!({"reference": format!("Patient/{patient}")});
    qr["author"] = json!({"reference": format!("Patient/{patient}")});
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
    let (task, q, response) = build(store, &task_id, answers)?;
    let authored = carecycle_fhir::time::format_instant(now);
    let qr = with_context(
        response.to_fhir(
            &q,
            carecycle_prom::ResponseStatus::InProgress,
            Some(&authored),
        ),
        patient,
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
            // The Task names its draft, so this and other devices resume it.
            link_response(store, task, &task_id, &local, now)?;
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
    let qr = with_context(qr, patient);
    let scores = scoring::score(&q, &response);
    let flags = flags_for(&q, &response, &scores);
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
    link_response(store, task, &task_id, &response_id, now)?;
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
                higher_is_better: match first.direction {
                    carecycle_prom::Direction::HigherIsBetter => Some(true),
                    carecycle_prom::Direction::HigherIsWorse => Some(false),
                    carecycle_prom::Direction::NotStated => None,
                },
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

/// An answer as the form holds it: a code, number, text or yes/no.
fn plain(a: &AnswerValue) -> Value {
    match a {
        AnswerValue::Boolean(b) => json!(b),
        AnswerValue::Integer(i) => json!(i),
        AnswerValue::Decimal(d) => json!(d),
        AnswerValue::Quantity(q) => json!(q.value),
        AnswerValue::Coding(c) => json!(c.code.clone().or_else(|| c.display.clone())),
        AnswerValue::Date(x)
        | AnswerValue::DateTime(x)
        | AnswerValue::Time(x)
        | AnswerValue::String(x)
        | AnswerValue::Uri(x)
        | AnswerValue::Reference(x) => json!(x),
        AnswerValue::Attachment(at) => json!(at.title.clone().or_else(|| at.url.clone())),
    }
}

/// A bound (minValue/maxValue) as an input's attribute.
fn bound(a: &Option<AnswerValue>) -> Option<String> {
    a.as_ref().map(|v| match plain(v) {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

/// A red flag as the guidance the patient sees first: what to do now, whom to call.
pub fn flag_guidance(flag: &RedFlag, language: &str) -> UrgentGuidance {
    let mut calls = Vec::new();
    if let Some(c) = &flag.call {
        calls.push((c.label.get(language).to_owned(), c.number.clone()));
    }
    let urgency = match flag.urgency {
        red_flags::Urgency::Now => {
            let label = red_flags::Localized {
                en: "Emergency services".into(),
                es: "Servicios de emergencia".into(),
            };
            calls.push((label.get(language).to_owned(), "911".to_owned()));
            Urgency::Emergency
        }
        red_flags::Urgency::Soon => Urgency::TeamWillContact,
    };
    UrgentGuidance {
        urgency,
        concern: flag.team_flag.clone(),
        title: flag.title.get(language).to_owned(),
        advice: flag.guidance.get(language).to_owned(),
        calls,
    }
}

fn flags_for(q: &Questionnaire, response: &Response, scores: &[ScoreOutcome]) -> Vec<RedFlag> {
    red_flags::evaluate(&red_flags::default_rules(), q, response, scores, &[])
}

/// What the form shows now for a task: the draft saved on this device when
/// `answers` is None (resuming), else the answers the patient has given so
/// far. Enablement, problems, progress and red-flag guidance all come from
/// the engine, so the screen only lays them out.
pub fn form(
    store: &Store,
    task_id: &str,
    answers: Option<&Value>,
    language: &str,
    now: Timestamp,
    tz: &TimeZone,
) -> Result<FormView> {
    let task_id = task_id.trim_start_matches("Task/").to_owned();
    let draft = draft_of(store, &task_id)?;
    let (task, q, mut response) = match answers {
        Some(a) => build(store, &task_id, a)?,
        None => {
            let (task, q, empty) = build(store, &task_id, &json!({}))?;
            let response = match &draft {
                Some(d) => Response::from_fhir(&q, d).unwrap_or(empty),
                None => empty,
            };
            (task, q, response)
        }
    };
    let evaluation = response.evaluate(&q);
    let mut items = Vec::new();
    let mut page = 0u32;
    let mut page_has_question = false;
    for path in &evaluation.enabled {
        let Some(item) = q.item(path.link_id()) else {
            continue;
        };
        if item.hidden {
            continue;
        }
        let depth = (path.0.len() as u32).saturating_sub(1);
        // Each top-level question or group is a page; a top-level text
        // introduces the page that follows it. A calculated item is shown
        // (read-only, with its value) on the page it follows: it is no
        // question, so it never makes a page of its own.
        if depth == 0 && !item.is_calculated() {
            if page_has_question {
                page += 1;
            }
            page_has_question = item.item_type != ItemType::Display;
        }
        let problem = evaluation.problems.iter().find(|p| &p.path == path);
        let kind = problem.map(|p| {
            serde_json::to_value(&p.kind)
                .ok()
                .and_then(|v| v["kind"].as_str().map(str::to_owned))
                .unwrap_or_default()
        });
        items.push(FormItem {
            link_id: item.link_id.clone(),
            item_type: serde_json::to_value(item.item_type)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            text: item.text_in(language).unwrap_or_default().to_owned(),
            prefix: item.prefix.clone(),
            depth,
            page,
            required: item.required,
            repeats: item.repeats,
            read_only: item.read_only,
            max_length: item.max_length,
            min: bound(&item.min_value),
            max: bound(&item.max_value),
            unit: item.unit.clone(),
            control: item.item_control.clone(),
            orientation: item.choice_orientation.map(|o| {
                match o {
                    carecycle_prom::model::Orientation::Horizontal => "horizontal",
                    carecycle_prom::model::Orientation::Vertical => "vertical",
                }
                .to_owned()
            }),
            options: response
                .options(&q, path)
                .iter()
                .map(|o| FormOption {
                    value: match plain(&o.value) {
                        Value::Null => json!(o.label),
                        v => v,
                    },
                    label: o.label_in(language).to_owned(),
                })
                .collect(),
            answers: response.answers(path).iter().map(plain).collect(),
            problem: problem.map(|p| p.message.clone()),
            problem_kind: kind,
        });
    }
    let scores = scoring::score(&q, &response);
    let guidance = flags_for(&q, &response, &scores)
        .iter()
        .map(|f| flag_guidance(f, language))
        .collect();
    Ok(FormView {
        task_id: format!("Task/{task_id}"),
        title: task["description"]
            .as_str()
            .or(q.title.as_deref())
            .unwrap_or("Questionnaire")
            .to_owned(),
        instrument: q.title.clone().unwrap_or_default(),
        state: state_of(&task, now, tz).to_owned(),
        closes: task["restriction"]["period"]["end"]
            .as_str()
            .map(str::to_owned),
        pages: if items.is_empty() { 0 } else { page + 1 },
        items,
        questions: evaluation.questions,
        answered: evaluation.answered,
        complete: evaluation.is_valid(),
        saved_at: draft.and_then(|d| d["authored"].as_str().map(str::to_owned)),
        guidance,
    })
}

/// A score as the patient reads it.
pub fn score_view(outcome: &ScoreOutcome) -> ScoreView {
    match outcome {
        ScoreOutcome::Scored(s) => ScoreView {
            scale: s.scale.clone(),
            name: s.scale_name.clone(),
            instrument: s.instrument_name.clone(),
            value: Some(s.value),
            unit: Some(s.unit.clone()),
            min: Some(s.min),
            max: Some(s.max),
            band: s.band.as_ref().map(|b| b.label.clone()),
            meaning: s.band.as_ref().map(|b| b.meaning.clone()),
            direction: Some(s.direction.words().to_owned()),
            profile: s.profile.clone(),
            not_scored: None,
        },
        ScoreOutcome::NotScorable {
            scale,
            scale_name,
            reason,
        } => not_scored(scale, scale_name, reason),
        ScoreOutcome::Unsupported {
            instrument,
            instrument_name,
            reason,
        } => not_scored(instrument, instrument_name, reason),
    }
}

/// A scale (or instrument) with no score, and why.
fn not_scored(scale: &str, name: &str, reason: &str) -> ScoreView {
    ScoreView {
        scale: scale.to_owned(),
        name: name.to_owned(),
        instrument: name.to_owned(),
        value: None,
        unit: None,
        min: None,
        max: None,
        band: None,
        meaning: None,
        direction: None,
        profile: None,
        not_scored: Some(reason.to_owned()),
    }
}

impl Answered {
    /// What the patient is shown after submitting: guidance first, then scores.
    pub fn view(&self, language: &str) -> SubmittedQuestionnaire {
        SubmittedQuestionnaire {
            response_id: self.response_id.clone(),
            scores: self.scores.iter().map(score_view).collect(),
            guidance: self
                .red_flags
                .iter()
                .map(|f| flag_guidance(f, language))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(qid: &str) -> (tempfile::TempDir, Store) {
        let text = carecycle_prom::library::ALL
            .iter()
            .find(|(id, _)| *id == qid)
            .unwrap()
            .1;
        store_with_form(qid, serde_json::from_str(text).unwrap())
    }

    fn store_with_form(qid: &str, mut q: Value) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store =
            Store::open(&dir.path().join("p.db"), &crate::store::new_database_key()).unwrap();
        q["id"] = json!(qid);
        let task = json!({"resourceType": "Task", "id": "t1", "status": "requested",
            "code": {"coding": [{"system": carecycle_fhir::TASK_KIND_SYSTEM, "code": "questionnaire"}]},
            "description": "Mood check", "focus": {"reference": format!("Questionnaire/{qid}")},
            "restriction": {"period": {"start": "2026-11-20", "end": "2026-11-30"}}});
        crate::store::apply_page(
            store.connection(),
            &[
                (ResourceType::Questionnaire, qid.into(), q),
                (ResourceType::Task, "t1".into(), task),
            ],
            None,
        )
        .unwrap();
        (dir, store)
    }

    fn now() -> Timestamp {
        "2026-11-23T15:00:00Z".parse().unwrap()
    }

    fn tz() -> TimeZone {
        TimeZone::get("America/Chicago").unwrap()
    }

    /// PHQ-9 answers by LOINC answer code: LA6568-5 not at all (0), LA6569-3
    /// several days (1), LA6570-1 more than half the days (2), LA6571-9 nearly
    /// every day (3).
    fn phq9(codes: [&str; 9]) -> Value {
        let ids = [
            "/44250-9", "/44255-8", "/44259-0", "/44254-1", "/44251-7", "/44258-2", "/44252-5",
            "/44253-3", "/44260-8",
        ];
        Value::Object(
            ids.iter()
                .zip(codes)
                .map(|(id, c)| (id.to_string(), json!(c)))
                .collect(),
        )
    }

    #[test]
    fn the_form_shows_progress_pages_and_problems_from_the_engine() {
        let (_dir, store) = store_with("phq-9");
        let view = form(&store, "Task/t1", None, "en", now(), &tz()).unwrap();
        assert_eq!(view.title, "Mood check");
        assert_eq!(view.state, "due");
        assert_eq!((view.answered, view.complete), (0, false));
        // The introduction shares the first question's page; one question a page.
        assert_eq!(view.items[0].item_type, "display");
        assert_eq!((view.items[0].page, view.items[1].page), (0, 0));
        assert_eq!(view.items[2].page, 1);
        let q1 = &view.items[1];
        assert_eq!(q1.options.len(), 4);
        assert_eq!(q1.options[1].value, json!("LA6569-3"));
        assert_eq!(q1.problem_kind.as_deref(), Some("required"));

        let mut half = phq9(["LA6569-3"; 9]);
        half.as_object_mut()
            .unwrap()
            .retain(|k, _| k < &"/44254-1".to_owned());
        let view = form(&store, "t1", Some(&half), "en", now(), &tz()).unwrap();
        assert!(view.answered >= 3 && view.answered < view.questions);
        assert_eq!(view.items[1].answers, vec![json!("LA6569-3")]);
        assert!(view.guidance.is_empty());

        // Spanish text where the questionnaire carries it.
        let es = form(&store, "t1", None, "es", now(), &tz()).unwrap();
        assert_ne!(es.items[1].text, view.items[1].text);
        assert_ne!(es.items[1].options[0].label, view.items[1].options[0].label);
    }

    /// A form's own calculated total (SDC calculatedExpression) is shown
    /// read-only with the value the engine computed: never a question, never
    /// a page of its own, never "required and unanswered"; a hidden one stays
    /// hidden; a value sent back for it is not taken as an answer.
    #[test]
    fn a_calculated_total_is_shown_read_only_with_its_value_never_asked() {
        let calc =
            "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression";
        let mut q: Value = serde_json::from_str(carecycle_prom::library::PHQ9).unwrap();
        let items = q["item"].as_array_mut().unwrap();
        items.push(json!({"linkId": "total", "type": "integer", "text": "Total score",
            "required": true, "code": [{"system": "http://loinc.org", "code": "44261-6"}],
            "extension": [{"url": calc, "valueExpression": {"language": "text/fhirpath",
                "expression": "%resource.repeat(item).where(linkId != 'total').answer.value.ordinal().sum()"}}]}));
        items.push(json!({"linkId": "count", "type": "integer", "text": "Answered",
            "extension": [
                {"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-hidden", "valueBoolean": true},
                {"url": calc, "valueExpression": {"language": "text/fhirpath",
                    "expression": "%resource.repeat(item).where(answer.exists() and linkId != 'total').count()"}}]}));
        let (_dir, store) = store_with_form("phq-9-calc", q);
        let (_plain_dir, plain_store) = store_with("phq-9");
        let plain = form(&plain_store, "t1", None, "en", now(), &tz()).unwrap();

        let empty = form(&store, "t1", None, "en", now(), &tz()).unwrap();
        assert_eq!(
            empty.questions, plain.questions,
            "the total is not a question"
        );
        assert_eq!(empty.pages, plain.pages, "nor a page of its own");
        let total = empty.items.iter().find(|i| i.link_id == "total").unwrap();
        assert!(total.read_only);
        assert_eq!(total.answers, vec![json!(0)], "the sum of nothing is 0");
        assert_eq!(total.problem_kind, None, "required, yet never unanswered");
        assert_eq!(total.page, empty.items[empty.items.len() - 2].page);
        assert!(
            empty.items.iter().all(|i| i.link_id != "count"),
            "hidden stays hidden"
        );

        // 2+2+2+1+1+1+0+0+1 = 10; a value sent for the total is ignored.
        let mut all = phq9([
            "LA6570-1", "LA6570-1", "LA6570-1", "LA6569-3", "LA6569-3", "LA6569-3", "LA6568-5",
            "LA6568-5", "LA6569-3",
        ]);
        let plain = form(&plain_store, "t1", Some(&all), "en", now(), &tz()).unwrap();
        all["total"] = json!(99);
        let view = form(&store, "t1", Some(&all), "en", now(), &tz()).unwrap();
        let total = view.items.iter().find(|i| i.link_id == "total").unwrap();
        assert_eq!(total.answers, vec![json!(10)]);
        assert_eq!(view.answered, 9);
        assert_eq!(
            (view.questions, view.pages),
            (plain.questions, plain.pages),
            "the difficulty question is asked now; the total still is not"
        );
    }

    #[test]
    fn item_nine_brings_crisis_guidance_while_answering_before_anything_is_sent() {
        let (_dir, store) = store_with("phq-9");
        let mut answers = serde_json::Map::new();
        answers.insert("/44260-8".into(), json!("LA6569-3"));
        let view = form(
            &store,
            "t1",
            Some(&Value::Object(answers)),
            "en",
            now(),
            &tz(),
        )
        .unwrap();
        assert_eq!(view.guidance.len(), 1);
        let g = &view.guidance[0];
        assert_eq!(g.urgency, Urgency::Emergency);
        assert_eq!(g.calls[0].1, "988");
        assert!(g.calls.iter().any(|(_, n)| n == "911"));
        let es = form(
            &store,
            "t1",
            Some(&json!({"/44260-8": "LA6569-3"})),
            "es",
            now(),
            &tz(),
        )
        .unwrap();
        assert!(es.guidance[0].advice.contains("988"));
        assert_ne!(es.guidance[0].title, g.title);
    }

    #[test]
    fn typed_text_is_kept_with_a_problem_and_unknown_questions_are_refused() {
        let (_dir, store) = store_with("promis-global-10");
        let view = form(
            &store,
            "t1",
            Some(&json!({"Global07r": "seven"})),
            "en",
            now(),
            &tz(),
        )
        .unwrap();
        let pain = view
            .items
            .iter()
            .find(|i| i.link_id == "Global07r")
            .unwrap();
        assert_eq!(pain.answers, vec![json!("seven")]);
        assert_eq!(pain.problem_kind.as_deref(), Some("wrongType"));
        assert_eq!(
            (pain.min.as_deref(), pain.max.as_deref()),
            (Some("0"), Some("10"))
        );
        let ok = form(
            &store,
            "t1",
            Some(&json!({"Global07r": "7"})),
            "en",
            now(),
            &tz(),
        )
        .unwrap();
        let pain = ok.items.iter().find(|i| i.link_id == "Global07r").unwrap();
        assert_eq!(
            (pain.answers.clone(), pain.problem.clone()),
            (vec![json!(7)], None)
        );
        let above = form(
            &store,
            "t1",
            Some(&json!({"Global07r": 11})),
            "en",
            now(),
            &tz(),
        )
        .unwrap();
        let pain = above
            .items
            .iter()
            .find(|i| i.link_id == "Global07r")
            .unwrap();
        assert_eq!(pain.problem_kind.as_deref(), Some("aboveMax"));
        // Items inside the "past 7 days" group sit one level down, on one page.
        let group = view.items.iter().find(|i| i.link_id == "past7").unwrap();
        assert_eq!(
            (group.item_type.as_str(), group.depth, pain.depth),
            ("group", 0, 1)
        );
        assert_eq!(group.page, pain.page);
        assert_eq!(view.pages, pain.page + 1);
        // A draft with the mistyped answer resumes with everything in it.
        let (_dir, mut store) = store_with("promis-global-10");
        let first = view.items[0].options[0].value.clone();
        let typed = json!({"Global01": first, "Global07r": "seven"});
        save_draft(&mut store, "p1", "t1", &typed, now()).unwrap();
        let resumed = form(&store, "t1", None, "en", now(), &tz()).unwrap();
        let answers: Vec<_> = resumed
            .items
            .iter()
            .flat_map(|i| i.answers.clone())
            .collect();
        assert_eq!(answers, vec![first, json!("seven")]);
        let err = form(&store, "t1", Some(&json!({"nope": 1})), "en", now(), &tz()).unwrap_err();
        assert!(
            err.to_string().contains("'nope' is not a question"),
            "{err}"
        );
    }

    #[test]
    fn a_draft_resumes_and_submitting_scores_with_meaning_and_guidance_first() {
        let (_dir, mut store) = store_with("phq-9");
        let mut some = phq9(["LA6570-1"; 9]);
        some.as_object_mut()
            .unwrap()
            .retain(|k, _| k < &"/44254-1".to_owned());
        save_draft(&mut store, "p1", "t1", &some, now()).unwrap();
        let resumed = form(&store, "t1", None, "en", now(), &tz()).unwrap();
        assert_eq!(resumed.items[1].answers, vec![json!("LA6570-1")]);
        assert!(resumed.saved_at.is_some());
        let due = due_list(&store, now(), &tz()).unwrap();
        assert!(due[0].in_progress);

        // 2+2+2+1+1+1+0+0+1 = 10: moderate (Kroenke 2001: 10–14).
        let all = phq9([
            "LA6570-1", "LA6570-1", "LA6570-1", "LA6569-3", "LA6569-3", "LA6569-3", "LA6568-5",
            "LA6568-5", "LA6569-3",
        ]);
        let done = answer(&mut store, "p1", "t1", &all, now())
            .unwrap()
            .view("en");
        let score = &done.scores[0];
        assert_eq!(score.value, Some(10.0));
        assert_eq!(score.band.as_deref(), Some("Moderate"));
        assert!(score.meaning.is_some() && score.direction.is_some());
        assert_eq!(done.guidance[0].calls[0].1, "988");
        assert!(!due_list(&store, now(), &tz()).unwrap()[0].in_progress);
        let series = results(&store).unwrap();
        assert_eq!(series[0].points.len(), 1);
        assert_eq!(
            series[0].higher_is_better,
            Some(false),
            "PHQ-9: lower is better"
        );
    }

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
