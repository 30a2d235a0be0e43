//! A QuestionnaireResponse as the patient fills it in. After every change the
//! engine recomputes which items are enabled (enableWhen at any depth,
//! including inside repeating groups), drops the answers of items that became
//! disabled, and reports what is wrong per item. A completed response is only
//! produced from a state without problems.

use crate::model::*;
use crate::parse::{self, ParseError};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

pub use crate::sdc::{ExpressionFailure, ExpressionKind};

/// One step of the way to an item instance: its linkId and which repetition
/// (0 for anything that does not repeat).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PathStep {
    pub link_id: String,
    pub index: u32,
}

/// Where an item instance sits: every ancestor and the item itself. Written as
/// text like `meds[1]/dose` (index 0 is left out).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct ItemPath(pub Vec<PathStep>);

impl ItemPath {
    /// The first instance of the item with this linkId.
    pub fn of(q: &Questionnaire, link_id: &str) -> Option<ItemPath> {
        let (_, ancestors) = q.walk().into_iter().find(|(i, _)| i.link_id == link_id)?;
        let mut steps: Vec<PathStep> = ancestors
            .into_iter()
            .map(|a| PathStep {
                link_id: a.to_owned(),
                index: 0,
            })
            .collect();
        steps.push(PathStep {
            link_id: link_id.to_owned(),
            index: 0,
        });
        Some(ItemPath(steps))
    }

    pub fn parse(text: &str) -> Option<ItemPath> {
        let mut steps = Vec::new();
        for part in text.split('/') {
            let (link_id, index) = match part.strip_suffix(']').and_then(|p| p.rsplit_once('[')) {
                Some((l, i)) => (l, i.parse().ok()?),
                None => (part, 0),
            };
            if link_id.is_empty() {
                return None;
            }
            steps.push(PathStep {
                link_id: link_id.to_owned(),
                index,
            });
        }
        Some(ItemPath(steps))
    }

    pub fn link_id(&self) -> &str {
        self.0
            .last()
            .map(|s| s.link_id.as_str())
            .unwrap_or_default()
    }

    fn parent(&self) -> ItemPath {
        ItemPath(self.0[..self.0.len().saturating_sub(1)].to_vec())
    }

    pub(crate) fn child(&self, link_id: &str, index: u32) -> ItemPath {
        let mut steps = self.0.clone();
        steps.push(PathStep {
            link_id: link_id.to_owned(),
            index,
        });
        ItemPath(steps)
    }
}

impl fmt::Display for ItemPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            f.write_str(&s.link_id)?;
            if s.index > 0 {
                write!(f, "[{}]", s.index)?;
            }
        }
        Ok(())
    }
}

impl From<ItemPath> for String {
    fn from(p: ItemPath) -> String {
        p.to_string()
    }
}

/// What is wrong with one item, for the message next to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ProblemKind {
    Required,
    WrongType { expected: String },
    NotAnOption,
    BelowMin { min: String },
    AboveMax { max: String },
    TooLong { max: u32 },
    OnlyOneAnswer,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub path: ItemPath,
    #[serde(flatten)]
    pub kind: ProblemKind,
    /// Plain-language message (English); the UI may localize by `kind`.
    pub message: String,
}

/// Why an answer could not be recorded at all (the patient's other answers are untouched).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("there is no item '{0}' in this questionnaire")]
    NoSuchItem(String),
    #[error("'{0}' takes no answers")]
    NotAQuestion(String),
    #[error("'{0}' cannot be changed")]
    ReadOnly(String),
    #[error("'{0}' is not asked, given the answers so far")]
    Disabled(String),
    #[error("'{0}' is not a repeating group")]
    NotRepeating(String),
}

/// `QuestionnaireResponse.status` values the app writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResponseStatus {
    InProgress,
    Completed,
}

impl ResponseStatus {
    pub fn code(self) -> &'static str {
        match self {
            ResponseStatus::InProgress => "in-progress",
            ResponseStatus::Completed => "completed",
        }
    }
}

/// The state after the last change: what to show and what is wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// Every enabled item instance, in questionnaire order.
    pub enabled: Vec<ItemPath>,
    pub problems: Vec<Problem>,
    /// Enabled, visible questions, and how many of them have an answer (for progress).
    pub questions: u32,
    pub answered: u32,
    /// SDC expressions that gave no usable result (the item stays empty, or
    /// is shown as if it had no such condition), for the care team.
    pub expression_failures: Vec<ExpressionFailure>,
}

impl Evaluation {
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The answers given so far.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    pub(crate) answers: BTreeMap<ItemPath, Vec<AnswerValue>>,
    /// How many instances each repeating group has (by the group's path with index 0).
    repeats: BTreeMap<ItemPath, u32>,
    pub(crate) enabled: HashSet<ItemPath>,
    /// Answer lists computed by `answerExpression`, per item instance.
    pub(crate) options: HashMap<ItemPath, Vec<AnswerOption>>,
    /// `initialExpression`s that failed when the response was started.
    initial_failures: Vec<ExpressionFailure>,
}

impl Response {
    /// A new response with the questionnaire's initial values in place.
    pub fn new(q: &Questionnaire) -> Response {
        let mut r = Response::default();
        for (item, key) in r.instances(q) {
            let mut init = item.initial.clone();
            init.extend(
                item.options
                    .iter()
                    .filter(|o| o.initial_selected)
                    .map(|o| o.value.clone()),
            );
            if !init.is_empty() && item.item_type.is_question() {
                r.answers.insert(key, init);
            }
        }
        r.initial_failures = crate::sdc::apply_initial(&mut r, q);
        r.evaluate(q);
        r
    }

    /// The answers offered for the item instance at `path`: the form's own
    /// options, or those its `answerExpression` computed from the answers so far.
    pub fn options<'r>(&'r self, q: &'r Questionnaire, path: &ItemPath) -> &'r [AnswerOption] {
        match q.item(path.link_id()) {
            Some(item) => self.options_at(item, path),
            None => &[],
        }
    }

    pub(crate) fn options_at<'r>(&'r self, item: &'r Item, path: &ItemPath) -> &'r [AnswerOption] {
        match self.options.get(path) {
            Some(computed) => computed,
            None => &item.options,
        }
    }

    /// Answers of the item at `path`.
    pub fn answers(&self, path: &ItemPath) -> &[AnswerValue] {
        self.answers.get(path).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every answer to the question with this linkId, across repetitions.
    pub fn answers_to(&self, link_id: &str) -> Vec<&AnswerValue> {
        self.answers
            .iter()
            .filter(|(k, _)| k.link_id() == link_id)
            .flat_map(|(_, v)| v.iter())
            .collect()
    }

    pub fn is_enabled(&self, path: &ItemPath) -> bool {
        self.enabled.contains(path)
    }

    /// Whether any instance of the item with this linkId is enabled.
    pub fn is_asked(&self, link_id: &str) -> bool {
        self.enabled.iter().any(|p| p.link_id() == link_id)
    }

    /// Replaces the answers of one question (an empty list clears it), then
    /// re-evaluates. An answer of the wrong kind is kept and reported as a
    /// problem, so nothing the patient typed is lost.
    pub fn set_answers(
        &mut self,
        q: &Questionnaire,
        path: &ItemPath,
        answers: Vec<AnswerValue>,
    ) -> Result<Evaluation, AnswerError> {
        let item = self.item_at(q, path)?;
        if !item.item_type.is_question() {
            return Err(AnswerError::NotAQuestion(path.to_string()));
        }
        if item.read_only {
            return Err(AnswerError::ReadOnly(path.to_string()));
        }
        if !self.enabled.contains(path) {
            return Err(AnswerError::Disabled(path.to_string()));
        }
        let answers: Vec<AnswerValue> = answers
            .into_iter()
            .filter(|a| !matches!(a, AnswerValue::String(s) if s.trim().is_empty()))
            .collect();
        if answers.is_empty() {
            self.answers.remove(path);
        } else {
            self.answers.insert(path.clone(), answers);
        }
        Ok(self.evaluate(q))
    }

    /// Adds one more instance of a repeating group; returns its path.
    pub fn add_repetition(
        &mut self,
        q: &Questionnaire,
        group: &ItemPath,
    ) -> Result<ItemPath, AnswerError> {
        let (_, key, count) = self.repeating_group(q, group)?;
        self.repeats.insert(key.clone(), count + 1);
        let mut new_path = key;
        if let Some(last) = new_path.0.last_mut() {
            last.index = count;
        }
        self.evaluate(q);
        Ok(new_path)
    }

    /// Removes one instance of a repeating group and its answers; later
    /// instances move up.
    pub fn remove_repetition(
        &mut self,
        q: &Questionnaire,
        instance: &ItemPath,
    ) -> Result<Evaluation, AnswerError> {
        let (item, key, count) = self.repeating_group(q, instance)?;
        let removed = instance.0.last().map(|s| s.index).unwrap_or(0);
        if count <= 1 {
            // The last instance stays, emptied.
            self.answers.retain(|k, _| !k.0.starts_with(&instance.0));
            return Ok(self.evaluate(q));
        }
        let depth = instance.0.len() - 1;
        let prefix = &instance.0[..depth];
        let moved: BTreeMap<ItemPath, Vec<AnswerValue>> = std::mem::take(&mut self.answers)
            .into_iter()
            .filter_map(|(mut k, v)| {
                let inside = k.0.len() > depth
                    && k.0[..depth] == *prefix
                    && k.0[depth].link_id == item.link_id;
                if inside {
                    let idx = k.0[depth].index;
                    if idx == removed {
                        return None;
                    }
                    if idx > removed {
                        k.0[depth].index = idx - 1;
                    }
                }
                Some((k, v))
            })
            .collect();
        self.answers = moved;
        self.repeats.insert(key, count - 1);
        Ok(self.evaluate(q))
    }

    /// A repeating group's item, the path of its first instance, and how many instances it has.
    fn repeating_group<'q>(
        &self,
        q: &'q Questionnaire,
        instance: &ItemPath,
    ) -> Result<(&'q Item, ItemPath, u32), AnswerError> {
        let item = self.item_at(q, instance)?;
        if !(item.repeats && item.item_type == ItemType::Group) {
            return Err(AnswerError::NotRepeating(instance.to_string()));
        }
        let key = first_instance(instance);
        let count = self.repeats.get(&key).copied().unwrap_or(1);
        Ok((item, key, count))
    }

    /// How many instances of `item` sit under `parent` (1 unless it is a repeating group).
    pub(crate) fn repetitions(&self, item: &Item, parent: &ItemPath) -> u32 {
        if item.repeats && item.item_type == ItemType::Group {
            self.repeats
                .get(&parent.child(&item.link_id, 0))
                .copied()
                .unwrap_or(1)
        } else {
            1
        }
    }

    fn item_at<'q>(&self, q: &'q Questionnaire, path: &ItemPath) -> Result<&'q Item, AnswerError> {
        let mut items = &q.items;
        let mut found = None;
        for (depth, step) in path.0.iter().enumerate() {
            let item = items
                .iter()
                .find(|i| i.link_id == step.link_id)
                .ok_or_else(|| AnswerError::NoSuchItem(path.to_string()))?;
            if step.index >= self.repetitions(item, &ItemPath(path.0[..depth].to_vec())) {
                return Err(AnswerError::NoSuchItem(path.to_string()));
            }
            items = &item.items;
            found = Some(item);
        }
        found.ok_or_else(|| AnswerError::NoSuchItem(path.to_string()))
    }

    /// Every item instance in questionnaire order.
    pub(crate) fn instances<'q>(&self, q: &'q Questionnaire) -> Vec<(&'q Item, ItemPath)> {
        let mut out = Vec::new();
        self.instances_of(&q.items, &ItemPath(Vec::new()), &mut out);
        out
    }

    fn instances_of<'q>(
        &self,
        items: &'q [Item],
        parent: &ItemPath,
        out: &mut Vec<(&'q Item, ItemPath)>,
    ) {
        for item in items {
            let count = self.repetitions(item, parent);
            for index in 0..count {
                let path = parent.child(&item.link_id, index);
                out.push((item, path.clone()));
                self.instances_of(&item.items, &path, out);
            }
        }
    }

    /// Recomputes enablement, drops answers of disabled items, validates.
    pub fn evaluate(&mut self, q: &Questionnaire) -> Evaluation {
        let instances = self.instances(q);
        let ancestors: HashMap<&str, Vec<&str>> = q
            .walk()
            .into_iter()
            .map(|(i, a)| (i.link_id.as_str(), a))
            .collect();

        let mut expression_failures = self.initial_failures.clone();
        if q.compiled.has_expressions() {
            expression_failures.extend(crate::sdc::settle(self, q, &instances, &ancestors));
        } else {
            // Start with everything enabled and settle: an item whose condition
            // depends on a disabled item sees that item as unanswered.
            let mut enabled: HashSet<ItemPath> = instances.iter().map(|(_, p)| p.clone()).collect();
            for _ in 0..=instances.len() {
                let next = self.next_enabled(&instances, &enabled, &ancestors, |_| true);
                let settled = next == enabled;
                enabled = next;
                if settled {
                    break;
                }
            }
            self.answers.retain(|k, _| enabled.contains(k));
            self.enabled = enabled;
        }

        let mut problems = Vec::new();
        let mut questions = 0;
        let mut answered = 0;
        let mut order = Vec::new();
        for (item, path) in &instances {
            if !self.enabled.contains(path) {
                continue;
            }
            order.push(path.clone());
            let answers = self.answers(path);
            // Calculated items are shown with their value, never asked.
            if item.item_type.is_question() && !item.hidden && !item.is_calculated() {
                questions += 1;
                if !answers.is_empty() {
                    answered += 1;
                }
            }
            validate_item(
                item,
                self.options_at(item, path),
                path,
                answers,
                &mut problems,
            );
            if item.required && item.item_type == ItemType::Group && !self.group_has_answer(path) {
                problems.push(Problem {
                    path: path.clone(),
                    kind: ProblemKind::Required,
                    message: "Please answer at least one question in this section.".into(),
                });
            }
        }
        Evaluation {
            enabled: order,
            problems,
            questions,
            answered,
            expression_failures,
        }
    }

    /// One step of settling enablement: which instances are enabled, given
    /// which were (`enabled`) and what `enableWhenExpression` said (`shown`).
    pub(crate) fn next_enabled(
        &self,
        instances: &[(&Item, ItemPath)],
        enabled: &HashSet<ItemPath>,
        ancestors: &HashMap<&str, Vec<&str>>,
        shown: impl Fn(&ItemPath) -> bool,
    ) -> HashSet<ItemPath> {
        let mut next = HashSet::with_capacity(enabled.len());
        for (item, path) in instances {
            let parent = path.parent();
            let parent_on = parent.0.is_empty() || next.contains(&parent);
            if parent_on && self.conditions_hold(item, path, enabled, ancestors) && shown(path) {
                next.insert(path.clone());
            }
        }
        next
    }

    fn group_has_answer(&self, group: &ItemPath) -> bool {
        self.answers
            .range(group.clone()..)
            .take_while(|(k, _)| k.0.starts_with(&group.0))
            .any(|(_, v)| !v.is_empty())
    }

    fn conditions_hold(
        &self,
        item: &Item,
        path: &ItemPath,
        enabled: &HashSet<ItemPath>,
        ancestors: &HashMap<&str, Vec<&str>>,
    ) -> bool {
        if item.enable_when.is_empty() {
            return true;
        }
        let mut results = item.enable_when.iter().map(|ew| {
            let answers = self.answers_in_context(path, &ew.question, enabled, ancestors);
            condition_holds(ew, &answers)
        });
        match item.enable_behavior {
            EnableBehavior::All => results.all(|r| r),
            EnableBehavior::Any => results.any(|r| r),
        }
    }

    /// The answers of `question` as seen from the item at `path`: within the
    /// nearest shared ancestor instance (so a condition inside a repeating
    /// group reads its own repetition), from enabled items only.
    fn answers_in_context(
        &self,
        path: &ItemPath,
        question: &str,
        enabled: &HashSet<ItemPath>,
        ancestors: &HashMap<&str, Vec<&str>>,
    ) -> Vec<&AnswerValue> {
        let target_chain = ancestors.get(question).cloned().unwrap_or_default();
        let shared = path
            .0
            .iter()
            .zip(target_chain.iter())
            .take_while(|(step, link)| step.link_id == **link)
            .count();
        let prefix = &path.0[..shared];
        self.answers
            .iter()
            .filter(|(k, _)| {
                k.link_id() == question && k.0.starts_with(prefix) && enabled.contains(*k)
            })
            .flat_map(|(_, v)| v.iter())
            .collect()
    }

    /// The response as a FHIR QuestionnaireResponse. `authored` is an instant
    /// the caller's clock gave.
    pub fn to_fhir(
        &self,
        q: &Questionnaire,
        status: ResponseStatus,
        authored: Option<&str>,
    ) -> Value {
        let mut out = Map::new();
        out.insert("resourceType".into(), json!("QuestionnaireResponse"));
        if let Some(c) = q.canonical() {
            out.insert("questionnaire".into(), json!(c));
        }
        out.insert("status".into(), json!(status.code()));
        if let Some(a) = authored {
            out.insert("authored".into(), json!(a));
        }
        let items = self.items_json(&q.items, &ItemPath(Vec::new()));
        if !items.is_empty() {
            out.insert("item".into(), Value::Array(items));
        }
        Value::Object(out)
    }

    fn items_json(&self, items: &[Item], parent: &ItemPath) -> Vec<Value> {
        let mut out = Vec::new();
        for item in items {
            let count = self.repetitions(item, parent);
            for index in 0..count {
                let path = parent.child(&item.link_id, index);
                if !self.enabled.contains(&path) {
                    continue;
                }
                let children = self.items_json(&item.items, &path);
                let answers = self.answers(&path);
                if answers.is_empty() && children.is_empty() {
                    continue;
                }
                let mut obj = Map::new();
                obj.insert("linkId".into(), json!(item.link_id));
                if let Some(t) = &item.text {
                    obj.insert("text".into(), json!(t));
                }
                if item.item_type.is_question() {
                    let mut list: Vec<Value> = answers.iter().map(answer_json).collect();
                    // Items nested under a question travel inside its (first) answer.
                    if !children.is_empty()
                        && let Some(Value::Object(first)) = list.first_mut()
                    {
                        first.insert("item".into(), Value::Array(children));
                    }
                    if !list.is_empty() {
                        obj.insert("answer".into(), Value::Array(list));
                    }
                } else if !children.is_empty() {
                    obj.insert("item".into(), Value::Array(children));
                }
                out.push(Value::Object(obj));
            }
        }
        out
    }

    /// The FHIR resource of a completed response, or every problem in the way.
    pub fn complete(&mut self, q: &Questionnaire, authored: &str) -> Result<Value, Vec<Problem>> {
        let eval = self.evaluate(q);
        if !eval.is_valid() {
            return Err(eval.problems);
        }
        Ok(self.to_fhir(q, ResponseStatus::Completed, Some(authored)))
    }

    /// Reads a saved QuestionnaireResponse back (a draft to resume).
    pub fn from_fhir(q: &Questionnaire, value: &Value) -> Result<Response, ParseError> {
        let root = "QuestionnaireResponse";
        if value.get("resourceType").and_then(Value::as_str) != Some(root) {
            return Err(ParseError {
                path: root.into(),
                reason: "expected a QuestionnaireResponse".into(),
            });
        }
        let mut r = Response::default();
        if let Some(items) = value.get("item") {
            r.read_items(&q.items, items, &ItemPath(Vec::new()), root)?;
        }
        r.evaluate(q);
        Ok(r)
    }

    fn read_items(
        &mut self,
        defs: &[Item],
        items: &Value,
        parent: &ItemPath,
        path: &str,
    ) -> Result<(), ParseError> {
        let list = items.as_array().ok_or_else(|| ParseError {
            path: format!("{path}.item"),
            reason: "expected an array".into(),
        })?;
        let mut seen: HashMap<&str, u32> = HashMap::new();
        for (i, entry) in list.iter().enumerate() {
            let p = format!("{path}.item[{i}]");
            let link_id =
                entry
                    .get("linkId")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ParseError {
                        path: p.clone(),
                        reason: "linkId is required".into(),
                    })?;
            let def = defs
                .iter()
                .find(|d| d.link_id == link_id)
                .ok_or_else(|| ParseError {
                    path: p.clone(),
                    reason: format!(
                        "'{link_id}' is not an item of this questionnaire (at this level)"
                    ),
                })?;
            let index = *seen
                .entry(&def.link_id)
                .and_modify(|n| *n += 1)
                .or_insert(0);
            if index > 0 && !(def.repeats && def.item_type == ItemType::Group) {
                return Err(ParseError {
                    path: p,
                    reason: format!("'{link_id}' appears twice but does not repeat"),
                });
            }
            if index > 0 {
                self.repeats.insert(parent.child(link_id, 0), index + 1);
            }
            let here = parent.child(link_id, index);
            if let Some(answers) = entry.get("answer").and_then(Value::as_array) {
                let mut values = Vec::new();
                for (j, a) in answers.iter().enumerate() {
                    let ap = format!("{p}.answer[{j}]");
                    let obj = a.as_object().ok_or_else(|| ParseError {
                        path: ap.clone(),
                        reason: "expected an object".into(),
                    })?;
                    if let Some(v) = parse::value_x(obj, &ap)? {
                        values.push(v);
                    }
                    if let Some(nested) = obj.get("item") {
                        self.read_items(&def.items, nested, &here, &ap)?;
                    }
                }
                if !values.is_empty() {
                    self.answers.insert(here.clone(), values);
                }
            }
            if let Some(nested) = entry.get("item") {
                self.read_items(&def.items, nested, &here, &p)?;
            }
        }
        Ok(())
    }
}

fn first_instance(path: &ItemPath) -> ItemPath {
    let mut p = path.clone();
    if let Some(last) = p.0.last_mut() {
        last.index = 0;
    }
    p
}

fn condition_holds(ew: &EnableWhen, answers: &[&AnswerValue]) -> bool {
    use std::cmp::Ordering::*;
    match ew.operator {
        Operator::Exists => matches!(ew.answer, AnswerValue::Boolean(b) if b != answers.is_empty()),
        Operator::Equal => answers.iter().any(|a| a.matches(&ew.answer)),
        // "True if no answer has a value that is equal to the enableWhen answer."
        Operator::NotEqual => !answers.iter().any(|a| a.matches(&ew.answer)),
        Operator::Greater => answers
            .iter()
            .any(|a| a.compare(&ew.answer) == Some(Greater)),
        Operator::Less => answers.iter().any(|a| a.compare(&ew.answer) == Some(Less)),
        Operator::GreaterOrEqual => answers
            .iter()
            .any(|a| matches!(a.compare(&ew.answer), Some(Greater | Equal))),
        Operator::LessOrEqual => answers
            .iter()
            .any(|a| matches!(a.compare(&ew.answer), Some(Less | Equal))),
    }
}

fn validate_item(
    item: &Item,
    options: &[AnswerOption],
    path: &ItemPath,
    answers: &[AnswerValue],
    problems: &mut Vec<Problem>,
) {
    let mut push = |kind: ProblemKind, message: String| {
        problems.push(Problem {
            path: path.clone(),
            kind,
            message,
        })
    };
    // Calculated items are filled by the form, never by the patient: nothing
    // about them is the patient's to fix.
    if !item.item_type.is_question() || item.is_calculated() {
        return;
    }
    if answers.is_empty() {
        // The patient cannot answer a calculated item, so it is never "unanswered".
        if item.required && !item.is_calculated() {
            push(
                ProblemKind::Required,
                "This question needs an answer.".into(),
            );
        }
        return;
    }
    if answers.len() > 1 && !item.repeats {
        push(
            ProblemKind::OnlyOneAnswer,
            "Please choose only one answer.".into(),
        );
    }
    for a in answers {
        if let Some(expected) = type_mismatch_in(item, options, a) {
            push(
                ProblemKind::WrongType {
                    expected: expected.into(),
                },
                format!("Please enter {expected}."),
            );
            continue;
        }
        let free_text =
            item.item_type == ItemType::OpenChoice && matches!(a, AnswerValue::String(_));
        if !options.is_empty() && !free_text && !options.iter().any(|o| o.value.matches(a)) {
            push(
                ProblemKind::NotAnOption,
                "Please choose one of the answers offered.".into(),
            );
            continue;
        }
        if let Some(min) = &item.min_value
            && a.compare(min) == Some(std::cmp::Ordering::Less)
        {
            let m = display(min);
            push(
                ProblemKind::BelowMin { min: m.clone() },
                format!("The lowest answer allowed is {m}."),
            );
        }
        if let Some(max) = &item.max_value
            && a.compare(max) == Some(std::cmp::Ordering::Greater)
        {
            let m = display(max);
            push(
                ProblemKind::AboveMax { max: m.clone() },
                format!("The highest answer allowed is {m}."),
            );
        }
        if let (Some(max), AnswerValue::String(s) | AnswerValue::Uri(s)) = (item.max_length, a)
            && s.chars().count() > max as usize
        {
            push(
                ProblemKind::TooLong { max },
                format!("Please keep this to {max} characters or fewer."),
            );
        }
    }
}

/// What kind of value the item wants, when `a` is not it (among `options`,
/// the answers offered now).
pub(crate) fn type_mismatch_in(
    item: &Item,
    options: &[AnswerOption],
    a: &AnswerValue,
) -> Option<&'static str> {
    use AnswerValue as V;
    let ok = match item.item_type {
        ItemType::Boolean => matches!(a, V::Boolean(_)),
        ItemType::Decimal => matches!(a, V::Decimal(_) | V::Integer(_)),
        ItemType::Integer => matches!(a, V::Integer(_)),
        ItemType::Date => matches!(a, V::Date(s) if parse::is_fhir_date(s)),
        ItemType::DateTime => {
            matches!(a, V::DateTime(s) if parse::is_fhir_datetime(s))
                || matches!(a, V::Date(s) if parse::is_fhir_date(s))
        }
        ItemType::Time => matches!(a, V::Time(s) if parse::is_fhir_time(s)),
        ItemType::String | ItemType::Text => matches!(a, V::String(_)),
        ItemType::Url => matches!(a, V::Uri(_) | V::String(_)),
        ItemType::Choice => {
            !options.is_empty()
                && options
                    .iter()
                    .any(|o| o.value.fhir_suffix() == a.fhir_suffix())
        }
        ItemType::OpenChoice => {
            matches!(a, V::String(_))
                || options
                    .iter()
                    .any(|o| o.value.fhir_suffix() == a.fhir_suffix())
        }
        ItemType::Quantity => matches!(a, V::Quantity(q) if q.value.is_some()),
        ItemType::Attachment => matches!(a, V::Attachment(_)),
        ItemType::Group | ItemType::Display => false,
    };
    if ok {
        return None;
    }
    Some(match item.item_type {
        ItemType::Boolean => "yes or no",
        ItemType::Decimal => "a number",
        ItemType::Integer => "a whole number",
        ItemType::Date => "a date",
        ItemType::DateTime => "a date and time",
        ItemType::Time => "a time",
        ItemType::String | ItemType::Text => "some text",
        ItemType::Url => "a web address",
        ItemType::Choice | ItemType::OpenChoice => "one of the answers offered",
        ItemType::Quantity => "an amount",
        ItemType::Attachment => "a file",
        ItemType::Group | ItemType::Display => "nothing",
    })
}

fn display(v: &AnswerValue) -> String {
    match v {
        AnswerValue::Integer(i) => i.to_string(),
        AnswerValue::Decimal(d) => d.to_string(),
        AnswerValue::Quantity(q) => q.value.map(|n| n.to_string()).unwrap_or_default(),
        AnswerValue::Date(s) | AnswerValue::DateTime(s) | AnswerValue::Time(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

/// One `answer` element.
pub fn answer_json(a: &AnswerValue) -> Value {
    let key = format!("value{}", a.fhir_suffix());
    let value = match a {
        AnswerValue::Boolean(b) => json!(b),
        AnswerValue::Decimal(d) => json!(d),
        AnswerValue::Integer(i) => json!(i),
        AnswerValue::Date(s)
        | AnswerValue::DateTime(s)
        | AnswerValue::Time(s)
        | AnswerValue::String(s)
        | AnswerValue::Uri(s) => json!(s),
        AnswerValue::Coding(c) => {
            strip_nulls(json!({"system": c.system, "code": c.code, "display": c.display}))
        }
        AnswerValue::Quantity(q) => strip_nulls(
            json!({"value": q.value, "unit": q.unit, "system": q.system, "code": q.code}),
        ),
        AnswerValue::Reference(r) => json!({"reference": r}),
        AnswerValue::Attachment(at) => strip_nulls(
            json!({"contentType": at.content_type, "url": at.url, "title": at.title, "size": at.size, "data": at.data}),
        ),
    };
    let mut m = Map::new();
    m.insert(key, value);
    Value::Object(m)
}

fn strip_nulls(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.retain(|_, x| !x.is_null());
    }
    v
}
