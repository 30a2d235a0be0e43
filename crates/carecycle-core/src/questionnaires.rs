//! Questionnaires the team assigned: where each stands (a pure function of
//! the task and the time), and answering one, which runs the questionnaire
//! engine (carecycle-prom) locally so scores and red-flag guidance are
//! there at once, offline, before anything is sent.

use crate::contract::{
    DueQuestionnaire, DueState, FormItem, FormOption, FormUnavailable, FormView, ResultPoint,
    ResultSeries, ScoreView, SubmittedQuestionnaire,
};
use crate::error::{CoreError, Invalid, Result};
use crate::outbox;
use crate::store::Store;
use crate::urgent::{Urgency, UrgentGuidance};
use carecycle_fhir::ResourceType;
use carecycle_fhir::sdc::{self, FormRef};
use carecycle_fhir::time::FhirDateTime;
use carecycle_prom::extract;
use carecycle_prom::red_flags::{self, RedFlag};
use carecycle_prom::scoring::{self, ScoreOutcome};
use carecycle_prom::{AnswerValue, ItemPath, ItemType, Questionnaire, Response};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;
use serde_json::{Value, json};

fn is_questionnaire_task(t: &Value) -> bool {
    sdc::is_questionnaire_task(t)
}

/// The id on this device of the form a questionnaire Task asks for: named
/// by its canonical URL (an SDC Task; the form whose version it pins when
/// this device has several) or, in a record written the old way, by id.
fn form_id(store: &Store, task: &Value) -> Result<Option<String>> {
    let canonical = match sdc::questionnaire_of(task) {
        Some(FormRef::Id(id)) => return Ok(Some(id.to_owned())),
        Some(FormRef::Canonical(c)) => c,
        None => return Ok(None),
    };
    let (url, version) = match canonical.split_once('|') {
        Some((url, version)) => (url, Some(version)),
        None => (canonical, None),
    };
    let forms = store.all(ResourceType::Questionnaire)?;
    let same_url: Vec<&Value> = forms.iter().filter(|q| q["url"] == url).collect();
    let pinned = same_url
        .iter()
        .find(|q| version.is_some_and(|v| q["version"] == v));
    Ok(pinned
        .or(same_url.first())
        .and_then(|q| q["id"].as_str())
        .map(str::to_owned))
}

fn instant(value: Option<&str>, tz: &TimeZone) -> Option<Timestamp> {
    value
        .and_then(|v| FhirDateTime::parse(v).ok())
        .map(|d| d.start_instant(tz))
}

/// Where an assigned questionnaire stands at `now`.
pub fn state_of(task: &Value, now: Timestamp, tz: &TimeZone) -> DueState {
    match task["status"].as_str() {
        Some("completed") => return DueState::Done,
        Some("cancelled" | "rejected" | "failed" | "entered-in-error") => return DueState::Closed,
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
        (Some(o), _) if now < o => DueState::Upcoming,
        (_, Some(c)) if now >= c => DueState::Overdue,
        _ => DueState::Due,
    }
}

/// Reads a stored form as the engine runs it, with the answer lists the
/// server expanded for it (kept for offline use, see sync.rs).
fn read_form(store: &Store, q_json: &Value) -> std::result::Result<Questionnaire, String> {
    let sets = store.value_sets().map_err(|e| e.to_string())?;
    Questionnaire::parse_with_value_sets(q_json, &sets).map_err(|e| e.to_string())
}

/// Whether the form of an assignment opens on this device with the value
/// sets kept here (`sets`), and if not, why.
fn unavailable(
    store: &Store,
    sets: &[Value],
    questionnaire_id: Option<&str>,
) -> Result<Option<FormUnavailable>> {
    let Some(q_json) = questionnaire_id
        .map(|id| store.get(ResourceType::Questionnaire, id))
        .transpose()?
        .flatten()
    else {
        return Ok(Some(FormUnavailable::NotYetOnDevice));
    };
    if Questionnaire::parse_with_value_sets(&q_json, sets).is_ok() {
        return Ok(None);
    }
    // A list the form names but the device has not received yet comes with
    // the next sync; anything else is the form itself.
    Ok(Some(
        if carecycle_prom::parse::missing_value_sets(&q_json, sets).is_empty() {
            FormUnavailable::CannotBeShown
        } else {
            FormUnavailable::NotYetOnDevice
        },
    ))
}

/// Every assigned questionnaire, the most urgent first.
/// The assigned questionnaires, most urgent first, with the team's titles in
/// `lang` where they gave one.
pub fn due_list(
    store: &Store,
    now: Timestamp,
    tz: &TimeZone,
    lang: &str,
) -> Result<Vec<DueQuestionnaire>> {
    let mut drafts = std::collections::HashSet::new();
    for t in store.all(ResourceType::Task)? {
        if let Some(id) = t["id"].as_str()
            && draft_of(store, id)?.is_some()
        {
            drafts.insert(format!("Task/{id}"));
        }
    }
    let sets = store.value_sets()?;
    let tasks: Vec<(Value, Option<String>)> = store
        .all(ResourceType::Task)?
        .into_iter()
        .map(|mut t| {
            let left = carecycle_fhir::translation::localize_resource(&mut t, lang);
            (t, left)
        })
        .collect();
    let mut out: Vec<DueQuestionnaire> = tasks
        .iter()
        .filter(|(t, _)| is_questionnaire_task(t))
        .map(|(t, left)| (t, left, state_of(t, now, tz)))
        .map(|(t, left, state)| -> Result<DueQuestionnaire> {
            let questionnaire_id = form_id(store, t)?;
            Ok(DueQuestionnaire {
                task_id: format!("Task/{}", t["id"].as_str().unwrap_or_default()),
                title: t["description"].as_str().map(str::to_owned),
                unavailable: match state {
                    DueState::Done | DueState::Closed => None,
                    _ => unavailable(store, &sets, questionnaire_id.as_deref())?,
                },
                questionnaire_id,
                opens: t["restriction"]["period"]["start"]
                    .as_str()
                    .map(str::to_owned),
                closes: t["restriction"]["period"]["end"]
                    .as_str()
                    .map(str::to_owned),
                state,
                answerable: state.answerable(),
                in_progress: t["status"] != "completed"
                    && drafts.contains(&format!("Task/{}", t["id"].as_str().unwrap_or_default())),
                lang: left.clone(),
            })
        })
        .collect::<Result<_>>()?;
    // Overdue first, then due, upcoming, done, closed (DueState's order).
    out.sort_by(|a, b| (a.state, &a.closes).cmp(&(b.state, &b.closes)));
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
    let bad = || {
        CoreError::InvalidInput(Invalid::malformed(format!(
            "{:?} is not an answer to '{}'",
            v, item.link_id
        )))
    };
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
        .ok_or_else(|| CoreError::NotHere("that questionnaire"))?;
    if task["status"] == "completed" {
        return Err(CoreError::InvalidInput(Invalid::AlreadyAnswered));
    }
    if sdc::questionnaire_of(&task).is_none() {
        return Err(CoreError::Data("the task names no questionnaire".into()));
    }
    let q_json = form_id(store, &task)?
        .map(|id| store.get(ResourceType::Questionnaire, &id))
        .transpose()?
        .flatten()
        .ok_or(CoreError::NotHere("the questionnaire itself"))?;
    let q = read_form(store, &q_json)
        .map_err(|e| CoreError::Data(format!("the questionnaire cannot be used: {e}")))?;
    let map = answers.as_object().ok_or_else(|| {
        CoreError::InvalidInput(Invalid::malformed(
            "answers must be a JSON object of linkId → answer",
        ))
    })?;
    if let Some(unknown) = map.keys().find(|k| q.item(k).is_none()) {
        return Err(CoreError::InvalidInput(Invalid::malformed(format!(
            "'{unknown}' is not a question of this questionnaire"
        ))));
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
            .map_err(|e| CoreError::InvalidInput(Invalid::malformed(e.to_string())))?;
    }
    Ok((task, q, response))
}

/// The in-progress response saved for a task, if there is one.
pub fn draft_of(store: &Store, task_id: &str) -> Result<Option<Value>> {
    let Some(task) = store.get(ResourceType::Task, task_id.trim_start_matches("Task/"))? else {
        return Ok(None);
    };
    let Some(id) = sdc::response_of(&task) else {
        return Ok(None);
    };
    Ok(store
        .get(ResourceType::QuestionnaireResponse, id)?
        .filter(|r| r["status"] == "in-progress"))
}

/// Links a response to its Task, queued with the response: the SDC Task's
/// `questionnaire-response` output (R4 lets a response be basedOn only a
/// CarePlan or ServiceRequest, so the link lives on the Task).
fn link_response(
    store: &mut Store,
    mut task: Value,
    task_id: &str,
    response_id: &str,
    now: Timestamp,
) -> Result<()> {
    task["output"] = sdc::response_output(response_id);
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
        CoreError::InvalidInput(Invalid::Unfinished {
            count: u32::try_from(problems.len()).unwrap_or(u32::MAX),
        })
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

/// One score at the time its response was authored.
type Point = (String, carecycle_prom::Score);
/// (response id, scale id) pairs.
type Covered = std::collections::HashSet<(String, String)>;

/// Every scored scale over time, with what the latest change since the first
/// (the baseline) means: from the Observations the server extracted, and,
/// for responses it has not extracted yet (answered offline, or a record
/// from before the server extracted scores), computed from the response.
pub fn results(store: &Store, language: &str) -> Result<Vec<ResultSeries>> {
    let (mut points, extracted) = extracted_points(store)?;
    points.extend(computed_points(store, &extracted)?);
    points.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(series(points, language))
}

/// Scores from the server's Observations, of scales the engine knows (it
/// gives their name, direction, MCID and band meaning); with the
/// (response id, scale) pairs they cover.
fn extracted_points(store: &Store) -> Result<(Vec<Point>, Covered)> {
    let mut points = Vec::new();
    let mut covered = Covered::new();
    for observation in store.all(ResourceType::Observation)? {
        let Some(e) = extract::read(&observation) else {
            continue;
        };
        let Some(mut score) = scoring::scale_score(&e.scale, e.value) else {
            continue;
        };
        // The engine bands the value; the server's label may say more of the
        // same band (an EQ-5D-5L profile's digits).
        if let (Some(band), Some(label)) = (score.band.as_mut(), e.band)
            && label.starts_with(&band.label)
        {
            band.label = label;
        }
        covered.insert((e.response_id, e.scale));
        points.push((e.effective.unwrap_or_default(), score));
    }
    Ok((points, covered))
}

/// Scores computed here from completed responses, for the scales no
/// Observation covers.
fn computed_points(store: &Store, covered: &Covered) -> Result<Vec<Point>> {
    let sets = store.value_sets()?;
    let questionnaires: Vec<Questionnaire> = store
        .all(ResourceType::Questionnaire)?
        .iter()
        .filter_map(|q| Questionnaire::parse_with_value_sets(q, &sets).ok())
        .collect();
    let mut points = Vec::new();
    for r in store
        .all(ResourceType::QuestionnaireResponse)?
        .iter()
        .filter(|r| extract::is_final(r))
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
        let id = r["id"].as_str().unwrap_or_default();
        let authored = r["authored"].as_str().unwrap_or_default();
        for outcome in scoring::score(q, &response) {
            if let ScoreOutcome::Scored(s) = outcome
                && !covered.contains(&(id.to_owned(), s.scale.clone()))
            {
                points.push((authored.to_owned(), *s));
            }
        }
    }
    Ok(points)
}

/// Points in time order, as one series per scale.
fn series(points: Vec<Point>, language: &str) -> Vec<ResultSeries> {
    let say = |english: &str| carecycle_prom::spanish::words(english, language);
    let mut by_scale: std::collections::BTreeMap<String, Vec<Point>> = Default::default();
    for (at, score) in points {
        by_scale
            .entry(score.scale.clone())
            .or_default()
            .push((at, score));
    }
    by_scale
        .into_values()
        .filter_map(|points| {
            let (_, first) = points.first()?;
            let (_, latest) = points.last()?;
            let change = (points.len() > 1).then(|| latest.change_since(first));
            Some(ResultSeries {
                scale: first.scale.clone(),
                name: say(&first.scale_name),
                instrument: say(&first.instrument_name),
                unit: say(&first.unit),
                min: first.min,
                max: first.max,
                direction: say(first.direction.words()),
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
                        band: s.band.as_ref().map(|b| say(&b.label)),
                        meaning: s.band.as_ref().map(|b| say(&b.meaning)),
                    })
                    .collect(),
                change_since_baseline: change.as_ref().map(|c| c.words_in(language)),
                verdict: change.map(|c| c.verdict.into()),
            })
        })
        .collect()
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
            let call = red_flags::emergency_services();
            calls.push((call.label.get(language).to_owned(), call.number));
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
    let mut task = task;
    let task_lang = carecycle_fhir::translation::localize_resource(&mut task, language);
    let written = q
        .language
        .as_deref()
        .unwrap_or(carecycle_fhir::translation::UNSAID_LANGUAGE);
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
            lang: item.text_left_in(language, written),
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
            problem: problem.map(|p| carecycle_prom::spanish::words(&p.message, language)),
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
            .map(str::to_owned),
        lang: match task["description"].as_str() {
            Some(_) => task_lang,
            None => (!carecycle_fhir::translation::same_language(written, language))
                .then(|| written.to_owned()),
        },
        instrument: q.title.clone().unwrap_or_default(),
        state: state_of(&task, now, tz),
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

/// A score as the patient reads it, in `language`.
pub fn score_view(outcome: &ScoreOutcome, language: &str) -> ScoreView {
    let say = |english: &str| carecycle_prom::spanish::words(english, language);
    match outcome {
        ScoreOutcome::Scored(s) => ScoreView {
            scale: s.scale.clone(),
            name: say(&s.scale_name),
            instrument: say(&s.instrument_name),
            value: Some(s.value),
            unit: Some(say(&s.unit)),
            min: Some(s.min),
            max: Some(s.max),
            band: s.band.as_ref().map(|b| say(&b.label)),
            meaning: s.band.as_ref().map(|b| say(&b.meaning)),
            direction: Some(say(s.direction.words())),
            profile: s.profile.clone(),
            not_scored: None,
        },
        ScoreOutcome::NotScorable {
            scale,
            scale_name,
            reason,
        } => not_scored(scale, &say(scale_name), &say(reason)),
        ScoreOutcome::Unsupported {
            instrument,
            instrument_name,
            reason,
        } => not_scored(instrument, &say(instrument_name), &say(reason)),
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
            scores: self
                .scores
                .iter()
                .map(|s| score_view(s, language))
                .collect(),
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
        store_with_form(qid, library_form(qid))
    }

    /// A store with the form and its assignment `t1`: an SDC Task naming
    /// the form by its canonical URL.
    fn store_with_form(qid: &str, q: Value) -> (tempfile::TempDir, Store) {
        let mut task = assignment();
        task["code"] = sdc::task_code();
        task["input"] = sdc::questionnaire_input(q["url"].as_str().unwrap());
        store_with_task(qid, q, task)
    }

    /// An assignment written the old way: CareCycle's task kind and `focus`.
    fn store_with_old_task(qid: &str) -> (tempfile::TempDir, Store) {
        let mut task = assignment();
        task["code"] = json!({"coding": [{"system": carecycle_fhir::TASK_KIND_SYSTEM, "code": "questionnaire"}]});
        task["focus"] = json!({"reference": format!("Questionnaire/{qid}")});
        store_with_task(qid, library_form(qid), task)
    }

    fn assignment() -> Value {
        json!({"resourceType": "Task", "id": "t1", "status": "requested", "intent": "order",
            "description": "Mood check",
            "restriction": {"period": {"start": "2026-11-20", "end": "2026-11-30"}}})
    }

    fn library_form(qid: &str) -> Value {
        let text = carecycle_prom::library::ALL
            .iter()
            .find(|(id, _)| *id == qid)
            .unwrap()
            .1;
        serde_json::from_str(text).unwrap()
    }

    fn store_with_task(qid: &str, mut q: Value, task: Value) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store =
            Store::open(&dir.path().join("p.db"), &crate::store::new_database_key()).unwrap();
        q["id"] = json!(qid);
        put(
            &mut store,
            &[(ResourceType::Questionnaire, q), (ResourceType::Task, task)],
        );
        (dir, store)
    }

    /// Stores resources as a sync would.
    fn put(store: &mut Store, resources: &[(ResourceType, Value)]) {
        let page: Vec<(ResourceType, String, Value)> = resources
            .iter()
            .map(|(t, r)| (*t, r["id"].as_str().unwrap().to_owned(), r.clone()))
            .collect();
        crate::store::apply_page(store.connection(), &page, None).unwrap();
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

    /// The bundled PHQ-9 as LOINC-derived forms publish it: every question
    /// names LOINC's answer list LL358-3 by URL instead of carrying options.
    fn phq9_naming_ll358_3() -> (Value, Value) {
        let mut q: Value = serde_json::from_str(carecycle_prom::library::ALL[0].1).unwrap();
        let options = q["item"][1]["answerOption"].clone();
        let concepts: Vec<Value> = options
            .as_array()
            .unwrap()
            .iter()
            .map(|o| json!({"system": "http://loinc.org", "code": o["valueCoding"]["code"],
                "display": o["valueCoding"]["display"], "extension": o["extension"],
                "designation": [{"language": "es", "value": o["valueCoding"]["_display"]["extension"][0]["extension"][1]["valueString"]}]}))
            .collect();
        for item in q["item"].as_array_mut().unwrap() {
            if item["answerOption"] == options {
                item.as_object_mut().unwrap().remove("answerOption");
                item["answerValueSet"] = json!("http://loinc.org/vs/LL358-3");
            }
        }
        let expanded = json!({"resourceType": "ValueSet", "url": "http://loinc.org/vs/LL358-3",
            "status": "active", "expansion": {"timestamp": "2026-11-23T00:00:00Z", "contains": concepts}});
        (q, expanded)
    }

    #[test]
    fn a_form_naming_a_server_answer_list_opens_once_the_list_is_kept_and_scores_alike() {
        let (q, expanded) = phq9_naming_ll358_3();
        let (_dir, mut store) = store_with_form("phq9-vs", q);
        // Before the list arrives: the form waits for a sync, which knows what to fetch.
        let due = due_list(&store, now(), &tz(), "en").unwrap();
        assert_eq!(due[0].unavailable, Some(FormUnavailable::NotYetOnDevice));
        assert_eq!(
            crate::sync::value_sets_to_fetch(&store).unwrap(),
            ["http://loinc.org/vs/LL358-3"]
        );
        assert!(form(&store, "Task/t1", None, "en", now(), &tz()).is_err());

        store
            .put_value_set("http://loinc.org/vs/LL358-3", &expanded)
            .unwrap();
        assert!(crate::sync::value_sets_to_fetch(&store).unwrap().is_empty());
        assert_eq!(
            due_list(&store, now(), &tz(), "en").unwrap()[0].unavailable,
            None
        );
        let view = form(&store, "Task/t1", None, "es", now(), &tz()).unwrap();
        let first = view.items.iter().find(|i| i.link_id == "/44250-9").unwrap();
        let labels: Vec<&str> = first.options.iter().map(|o| o.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Ningún día",
                "Varios días",
                "Más de la mitad de los días",
                "Casi todos los días"
            ]
        );
        // Scored as the PHQ-9 it is (Kroenke et al. 2001: 9 items 0–3; 10–14
        // moderate), with item 9's red flag, exactly as the bundled copy.
        let answers = phq9([
            "LA6570-1", "LA6570-1", "LA6569-3", "LA6569-3", "LA6569-3", "LA6569-3", "LA6569-3",
            "LA6569-3", "LA6569-3",
        ]);
        let done = answer(&mut store, "p1", "Task/t1", &answers, now()).unwrap();
        let ScoreOutcome::Scored(score) = &done.scores[0] else {
            panic!("{:?}", done.scores)
        };
        assert_eq!(score.value, 11.0);
        assert_eq!(score.band.as_ref().unwrap().label, "Moderate");
        assert!(!done.red_flags.is_empty(), "item 9 answered above 0");
    }

    #[test]
    fn a_form_with_a_modifier_the_app_does_not_understand_is_never_opened() {
        let mut q: Value = serde_json::from_str(carecycle_prom::library::ALL[1].1).unwrap();
        q["modifierExtension"] =
            json!([{"url": "https://forms.example.org/only-for-clinicians", "valueBoolean": true}]);
        let (_dir, store) = store_with_form("gad7-modified", q);
        let due = due_list(&store, now(), &tz(), "en").unwrap();
        assert_eq!(due[0].unavailable, Some(FormUnavailable::CannotBeShown));
        let e = form(&store, "Task/t1", None, "en", now(), &tz()).unwrap_err();
        assert!(e.to_string().contains("only-for-clinicians"), "{e}");
    }

    #[test]
    fn the_form_shows_progress_pages_and_problems_from_the_engine() {
        let (_dir, store) = store_with("phq-9");
        let view = form(&store, "Task/t1", None, "en", now(), &tz()).unwrap();
        assert_eq!(view.title.as_deref(), Some("Mood check"));
        assert_eq!(view.state, DueState::Due);
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
        let due = due_list(&store, now(), &tz(), "en").unwrap();
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
        assert!(!due_list(&store, now(), &tz(), "en").unwrap()[0].in_progress);
        let series = results(&store, "en").unwrap();
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
            DueState::Upcoming
        );
        assert_eq!(
            state_of(&task("requested"), at("2026-11-23T12:00:00Z"), &tz),
            DueState::Due
        );
        // The whole of the last day counts (in the unit's zone).
        assert_eq!(
            state_of(&task("requested"), at("2026-11-26T05:00:00Z"), &tz),
            DueState::Due
        );
        assert_eq!(
            state_of(&task("requested"), at("2026-11-26T07:00:00Z"), &tz),
            DueState::Overdue
        );
        assert_eq!(
            state_of(&task("completed"), at("2026-11-30T12:00:00Z"), &tz),
            DueState::Done
        );
        assert_eq!(
            state_of(&task("cancelled"), at("2026-11-23T12:00:00Z"), &tz),
            DueState::Closed
        );
        assert_eq!(
            state_of(
                &json!({"status": "requested"}),
                at("2026-11-23T12:00:00Z"),
                &tz
            ),
            DueState::Due
        );
    }

    /// The app's answers to t1, and the Task as queued to the server.
    fn answered_task(store: &mut Store) -> Value {
        // 2+2+2+1+1+1+0+0+0 = 9: mild (Kroenke 2001: 5–9).
        let all = phq9([
            "LA6570-1", "LA6570-1", "LA6570-1", "LA6569-3", "LA6569-3", "LA6569-3", "LA6568-5",
            "LA6568-5", "LA6568-5",
        ]);
        answer(store, "p1", "t1", &all, now()).unwrap();
        store.get(ResourceType::Task, "t1").unwrap().unwrap()
    }

    #[test]
    fn an_sdc_assignment_names_its_form_by_canonical_url() {
        let (_dir, mut store) = store_with("phq-9");
        let due = due_list(&store, now(), &tz(), "en").unwrap();
        assert_eq!(due[0].questionnaire_id.as_deref(), Some("phq-9"));
        assert!(due[0].answerable && due[0].unavailable.is_none());
        let task = answered_task(&mut store);
        assert_eq!(task["status"], "completed");
        assert_eq!(
            task["output"][0]["type"]["coding"][0],
            json!({"system": sdc::SDC_TEMP_SYSTEM, "code": "questionnaire-response", "display": "Questionnaire Response"})
        );
        assert!(task.get("focus").is_none(), "SDC rule sdc-t1");
    }

    /// Migration: a record written before SDC (task kind + focus) still works.
    #[test]
    fn an_assignment_written_the_old_way_is_still_listed_and_answered() {
        let (_dir, mut store) = store_with_old_task("phq-9");
        let due = due_list(&store, now(), &tz(), "en").unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].questionnaire_id.as_deref(), Some("phq-9"));
        assert!(due[0].answerable);
        let task = answered_task(&mut store);
        assert_eq!(task["status"], "completed");
        assert!(sdc::response_of(&task).is_some());
        assert_eq!(results(&store, "en").unwrap()[0].points[0].value, 9.0);
    }

    #[test]
    fn a_canonical_pinning_a_version_opens_that_version() {
        let (_dir, mut store) = store_with("phq-9");
        let mut other = library_form("phq-9");
        other["id"] = json!("phq-9-v2");
        other["version"] = json!("2.0.0");
        put(&mut store, &[(ResourceType::Questionnaire, other)]);
        let mut task = store.get(ResourceType::Task, "t1").unwrap().unwrap();
        task["input"] =
            sdc::questionnaire_input("https://carecycle.dev/fhir/Questionnaire/phq-9|2.0.0");
        assert_eq!(form_id(&store, &task).unwrap().as_deref(), Some("phq-9-v2"));
        task["input"] = sdc::questionnaire_input("https://carecycle.dev/fhir/Questionnaire/gad-7");
        assert_eq!(form_id(&store, &task).unwrap(), None, "not on this device");
    }

    /// A completed PHQ-9 from the server, every item answered LA6569-3
    /// ("several days", 1 point: 9 in all, mild per Kroenke 2001).
    fn server_response(id: &str, authored: &str) -> Value {
        let items: Vec<Value> = phq9(["LA6569-3"; 9])
            .as_object()
            .unwrap()
            .iter()
            .map(|(link, code)| json!({"linkId": link, "answer": [{"valueCoding": {"system": "http://loinc.org", "code": code}}]}))
            .collect();
        json!({"resourceType": "QuestionnaireResponse", "id": id, "status": "completed",
            "questionnaire": "https://carecycle.dev/fhir/Questionnaire/phq-9|1.0.0",
            "subject": {"reference": "Patient/p1"}, "authored": authored, "item": items})
    }

    #[test]
    fn results_read_the_servers_observations_and_compute_only_what_none_covers() {
        let (_dir, mut store) = store_with("phq-9");
        let extracted = server_response("r1", "2026-10-01T10:00:00Z");
        let later = server_response("r2", "2026-11-01T10:00:00Z");
        // The server's Observation for r1 says 14: what it recorded is shown,
        // not recomputed (the answers alone give 9).
        let score = scoring::scale_score("phq-9", 14.0).unwrap();
        let mut observation =
            extract::observations(&extracted, &[ScoreOutcome::Scored(Box::new(score))]).remove(0);
        observation["id"] = json!("o1");
        put(
            &mut store,
            &[
                (ResourceType::QuestionnaireResponse, extracted),
                (ResourceType::QuestionnaireResponse, later),
                (ResourceType::Observation, observation),
            ],
        );
        let series = results(&store, "en").unwrap();
        assert_eq!(series.len(), 1);
        let points: Vec<(f64, Option<&str>)> = series[0]
            .points
            .iter()
            .map(|p| (p.value, p.band.as_deref()))
            .collect();
        assert_eq!(points, [(14.0, Some("Moderate")), (9.0, Some("Mild"))]);
        // Metadata from the engine for the scale id: name, direction, MCID, meaning.
        assert_eq!(series[0].name, "Depression symptoms (PHQ-9)");
        assert_eq!(series[0].mcid, Some(5.0));
        assert_eq!(series[0].higher_is_better, Some(false));
        assert!(series[0].points[0].meaning.is_some());
        assert_eq!(series[0].verdict, Some(crate::contract::Verdict::Better));
    }
}
