//! SDC expressions on a response: after every change the engine evaluates
//! `variable`s, recomputes `calculatedExpression` items (in dependency
//! order, re-run until nothing changes, within a bound), decides enablement
//! with `enableWhenExpression` beside `enableWhen`, applies
//! `initialExpression` to a new response and computes `answerExpression`
//! option lists. Expressions see the response as a FHIR
//! QuestionnaireResponse (`%resource`), their item's response item
//! (`%context`), the form (`%questionnaire`, `%qitem`) and the variables in
//! scope (SDC "Expressions": those on the item, its ancestors and the form).

use crate::fhirpath::{Collection, Environment, Expression, FhirPathError, Item as FpItem, Node};
use crate::model::*;
use crate::parse;
use crate::response::{ItemPath, PathStep, Response, answer_json, type_mismatch_in};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Which expression of an item (or of the form) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ExpressionKind {
    Variable,
    Calculated,
    EnableWhen,
    Initial,
    Answer,
}

/// An expression that gave no usable result this time, and why: the item
/// keeps no computed value (or is shown as if it had no such condition) and
/// the care team can see the reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpressionFailure {
    pub path: ItemPath,
    pub kind: ExpressionKind,
    pub message: String,
}

/// The most rounds of recalculation one change may take: enough for a chain
/// of calculations any real form has; a form whose calculations feed each
/// other in a loop stops here, with a failure reported.
const MAX_ROUNDS: usize = 32;

type Compiledx = Option<Arc<Expression>>;

#[derive(Debug, Clone, Default)]
struct ItemExpressions {
    variables: Vec<(String, Compiledx)>,
    calculated: Compiledx,
    enable_when: Compiledx,
    initial: Compiledx,
    answer: Compiledx,
}

/// A form's expressions, parsed once.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    source: Option<Arc<Value>>,
    root_variables: Vec<(String, Compiledx)>,
    items: HashMap<String, ItemExpressions>,
    /// linkIds of calculated items, each after the calculated items it reads.
    calc_order: Vec<String>,
}

/// Derived from the form's own fields, so two forms equal in those are equal.
impl PartialEq for Compiled {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Compiled {
    pub(crate) fn set(&mut self, link_id: &str, kind: ExpressionKind, e: Option<Expression>) {
        let e = e.map(Arc::new);
        let slot = self.items.entry(link_id.to_owned()).or_default();
        match kind {
            ExpressionKind::Calculated => slot.calculated = e,
            ExpressionKind::EnableWhen => slot.enable_when = e,
            ExpressionKind::Initial => slot.initial = e,
            ExpressionKind::Answer => slot.answer = e,
            ExpressionKind::Variable => {}
        }
    }

    pub(crate) fn add_variable(
        &mut self,
        link_id: Option<&str>,
        name: &str,
        e: Option<Expression>,
    ) {
        let entry = (name.to_owned(), e.map(Arc::new));
        match link_id {
            None => self.root_variables.push(entry),
            Some(l) => self
                .items
                .entry(l.to_owned())
                .or_default()
                .variables
                .push(entry),
        }
    }

    /// Keeps the form's JSON (for `%questionnaire` and `%qitem`) when it has
    /// expressions at all.
    pub(crate) fn with_source(mut self, source: &Value) -> Compiled {
        if self.has_expressions() {
            self.source = Some(Arc::new(source.clone()));
        }
        self
    }

    /// Whether any expression of the form will be evaluated.
    pub(crate) fn has_expressions(&self) -> bool {
        self.items.values().any(|i| {
            i.calculated.is_some()
                || i.enable_when.is_some()
                || i.initial.is_some()
                || i.answer.is_some()
        })
    }

    /// Orders the calculated items so that one reading another's value (its
    /// linkId quoted in its expression or in a variable it can see) comes
    /// after it; a cycle keeps questionnaire order, and the rounds in
    /// [`settle`] finish the job.
    pub(crate) fn order_calculations(&mut self, q: &Questionnaire) {
        let walk = q.walk();
        let calculated: Vec<(&str, String)> = walk
            .iter()
            .filter(|(i, _)| {
                self.items
                    .get(&i.link_id)
                    .is_some_and(|e| e.calculated.is_some())
            })
            .map(|(i, ancestors)| {
                // Everything the calculation can read: its own text and the variables in scope.
                let mut text = i.calculated_expression.clone().unwrap_or_default();
                for v in &q.variables {
                    text.push(' ');
                    text.push_str(&v.expression);
                }
                for a in ancestors {
                    if let Some(item) = q.item(a) {
                        for v in &item.variables {
                            text.push(' ');
                            text.push_str(&v.expression);
                        }
                    }
                }
                for v in &i.variables {
                    text.push(' ');
                    text.push_str(&v.expression);
                }
                (i.link_id.as_str(), text)
            })
            .collect();
        let reads = |text: &str, other: &str| {
            text.contains(&format!("'{other}'")) || text.contains(&format!("\"{other}\""))
        };
        let mut placed: Vec<String> = Vec::new();
        let mut left: Vec<&(&str, String)> = calculated.iter().collect();
        while !left.is_empty() {
            let ready = left.iter().position(|(id, text)| {
                left.iter()
                    .all(|(other, _)| other == id || !reads(text, other))
            });
            // In a cycle, take the first left in questionnaire order.
            let at = ready.unwrap_or(0);
            let (id, _) = left.remove(at);
            placed.push((*id).to_owned());
        }
        self.calc_order = placed;
    }

    fn item(&self, link_id: &str) -> Option<&ItemExpressions> {
        self.items.get(link_id)
    }
}

/// The response as expressions see it: a QuestionnaireResponse with every
/// enabled item instance (answered or not), and where each instance sits.
struct View {
    json: Value,
    pointers: HashMap<ItemPath, String>,
    /// The instances it holds.
    enabled: HashSet<ItemPath>,
}

impl View {
    fn build(resp: &Response, q: &Questionnaire, enabled: &HashSet<ItemPath>) -> View {
        let mut pointers = HashMap::new();
        let items = items_json(
            resp,
            &q.items,
            &ItemPath(Vec::new()),
            enabled,
            "",
            &mut pointers,
        );
        let mut root = Map::new();
        root.insert("resourceType".into(), json!("QuestionnaireResponse"));
        if let Some(c) = q.canonical() {
            root.insert("questionnaire".into(), json!(c));
        }
        root.insert("status".into(), json!("in-progress"));
        root.insert("item".into(), Value::Array(items));
        View {
            json: Value::Object(root),
            pointers,
            enabled: enabled.clone(),
        }
    }

    fn node(&self, path: &[PathStep]) -> Node<'_> {
        let found = self
            .pointers
            .get(&ItemPath(path.to_vec()))
            .and_then(|p| self.json.pointer(p));
        match found {
            Some(v) => Node {
                value: v,
                type_name: None,
                link_id: v.get("linkId").and_then(Value::as_str),
            },
            None => Node::root(&self.json),
        }
    }

    fn set_answers(&mut self, path: &ItemPath, answers: &[AnswerValue]) {
        let Some(Value::Object(obj)) = self
            .pointers
            .get(path)
            .and_then(|p| self.json.pointer_mut(p))
        else {
            return;
        };
        if answers.is_empty() {
            obj.remove("answer");
        } else {
            obj.insert(
                "answer".into(),
                Value::Array(answers.iter().map(answer_json).collect()),
            );
        }
    }
}

fn items_json(
    resp: &Response,
    items: &[Item],
    parent: &ItemPath,
    enabled: &HashSet<ItemPath>,
    pointer: &str,
    pointers: &mut HashMap<ItemPath, String>,
) -> Vec<Value> {
    let mut out = Vec::new();
    for item in items {
        for index in 0..resp.repetitions(item, parent) {
            let path = parent.child(&item.link_id, index);
            if !enabled.contains(&path) {
                continue;
            }
            let here = format!("{pointer}/item/{}", out.len());
            let mut obj = Map::new();
            obj.insert("linkId".into(), json!(item.link_id));
            if let Some(t) = &item.text {
                obj.insert("text".into(), json!(t));
            }
            let answers = resp.answers(&path);
            if !answers.is_empty() {
                obj.insert(
                    "answer".into(),
                    Value::Array(answers.iter().map(answer_json).collect()),
                );
            }
            // Children sit under `item` here, answered or not, so that every
            // instance keeps one place while calculated answers change.
            let children = items_json(resp, &item.items, &path, enabled, &here, pointers);
            if !children.is_empty() {
                obj.insert("item".into(), Value::Array(children));
            }
            pointers.insert(path, here);
            out.push(Value::Object(obj));
        }
    }
    out
}

type Memo<'a> = RefCell<HashMap<(Vec<PathStep>, String), Collection<'a>>>;

/// Whose answers an evaluation read.
#[derive(Debug, Default)]
struct Reads {
    any: bool,
    link_ids: HashSet<String>,
}

/// What an expression sees, for an item instance (`scope`; empty for the form).
struct Env<'m, 'a> {
    q: &'a Questionnaire,
    view: &'a View,
    index: &'a HashMap<&'a str, &'a Item>,
    scope: &'m [PathStep],
    memo: &'m Memo<'a>,
    busy: &'m RefCell<HashSet<(Vec<PathStep>, String)>>,
    reads: &'m RefCell<Reads>,
}

impl<'m, 'a> Env<'m, 'a> {
    fn with_scope<'n>(&'n self, scope: &'n [PathStep]) -> Env<'n, 'a> {
        Env {
            q: self.q,
            view: self.view,
            index: self.index,
            scope,
            memo: self.memo,
            busy: self.busy,
            reads: self.reads,
        }
    }

    fn source(&self) -> Option<&'a Value> {
        self.q.compiled.source.as_deref()
    }

    /// An SDC variable named `name` visible from `scope`: the innermost
    /// declaration wins (the item's own, then its ancestors', then the form's).
    fn sdc_variable(&self, name: &str) -> Option<Result<Collection<'a>, FhirPathError>> {
        for depth in (0..=self.scope.len()).rev() {
            let prefix = self.scope.get(..depth).unwrap_or_default();
            let declared = match prefix.last() {
                Some(step) => self.q.compiled.item(&step.link_id).map(|e| &e.variables),
                None => Some(&self.q.compiled.root_variables),
            };
            let Some((_, expr)) = declared.and_then(|vars| vars.iter().find(|(n, _)| n == name))
            else {
                continue;
            };
            let key = (prefix.to_vec(), name.to_owned());
            if let Some(v) = self.memo.borrow().get(&key) {
                return Some(Ok(v.clone()));
            }
            let Some(expr) = expr else {
                return Some(Err(FhirPathError::Evaluation(format!(
                    "%{name} cannot be evaluated"
                ))));
            };
            if !self.busy.borrow_mut().insert(key.clone()) {
                return Some(Err(FhirPathError::Evaluation(format!(
                    "%{name} is defined in terms of itself"
                ))));
            }
            let env = self.with_scope(prefix);
            let result = expr.evaluate(self.view.node(prefix), &env);
            self.busy.borrow_mut().remove(&key);
            if let Ok(v) = &result {
                self.memo.borrow_mut().insert(key, v.clone());
            }
            return Some(result);
        }
        None
    }
}

impl<'a> Environment<'a> for Env<'_, 'a> {
    fn variable(&self, name: &str) -> Option<Result<Collection<'a>, FhirPathError>> {
        let node = |v: &'a Value| Some(Ok(vec![FpItem::Node(Node::root(v))]));
        let text = |s: &str| Some(Ok(vec![FpItem::String(s.to_owned())]));
        match name {
            "resource" => node(&self.view.json),
            "context" => Some(Ok(vec![FpItem::Node(self.view.node(self.scope))])),
            "questionnaire" => self.source().and_then(node),
            "qitem" => {
                let link = self.scope.last().map(|s| s.link_id.as_str())?;
                self.source()
                    .and_then(|s| find_item_json(s, link, 0))
                    .and_then(node)
            }
            // FHIRPath §9 and FHIR's own environment variables.
            "ucum" => text("http://unitsofmeasure.org"),
            "sct" => text("http://snomed.info/sct"),
            "loinc" => text("http://loinc.org"),
            _ => {
                if let Some(found) = self.sdc_variable(name) {
                    return Some(found);
                }
                if let Some(n) = name.strip_prefix("ext-") {
                    return text(&format!("http://hl7.org/fhir/StructureDefinition/{n}"));
                }
                if let Some(n) = name.strip_prefix("vs-") {
                    return text(&format!("http://hl7.org/fhir/ValueSet/{n}"));
                }
                None
            }
        }
    }

    fn touched(&self, link_id: Option<&str>) {
        let mut reads = self.reads.borrow_mut();
        match link_id {
            Some(l) if !reads.link_ids.contains(l) => {
                reads.link_ids.insert(l.to_owned());
            }
            Some(_) => {}
            None => reads.any = true,
        }
    }

    fn weight(&self, link_id: Option<&str>, value: &FpItem<'a>) -> Option<f64> {
        let item = self.index.get(link_id?)?;
        // A coding read in place: compared with the options by code and system.
        if let FpItem::Node(Node {
            value: Value::Object(c),
            type_name: Some("Coding"),
            ..
        }) = value
        {
            let code = c.get("code").and_then(Value::as_str);
            let system = c.get("system").and_then(Value::as_str);
            return item.options.iter().find_map(|o| match &o.value {
                AnswerValue::Coding(oc)
                    if oc.code.is_some()
                        && oc.code.as_deref() == code
                        && (oc.system.is_none()
                            || system.is_none()
                            || oc.system.as_deref() == system) =>
                {
                    o.weight
                }
                _ => None,
            });
        }
        let answer = to_answer_value(value).ok()?;
        item.option_for(&answer).and_then(|o| o.weight)
    }
}

fn find_item_json<'v>(v: &'v Value, link_id: &str, depth: usize) -> Option<&'v Value> {
    if depth > 64 {
        return None;
    }
    v.get("item")?.as_array()?.iter().find_map(|i| {
        if i.get("linkId").and_then(Value::as_str) == Some(link_id) {
            Some(i)
        } else {
            find_item_json(i, link_id, depth + 1)
        }
    })
}

/// One FHIRPath result as an answer value.
fn to_answer_value(v: &FpItem<'_>) -> Result<AnswerValue, String> {
    if let FpItem::Node(n) = v
        && n.value.is_object()
    {
        let Some(t) = n.type_name else {
            return Err("the result is an element, not a value".into());
        };
        return parse::typed_value(t, n.value, "result").map_err(|e| e.reason);
    }
    Ok(match v.primitive() {
        FpItem::Boolean(b) => AnswerValue::Boolean(b),
        FpItem::Integer(i) => AnswerValue::Integer(i),
        FpItem::Decimal(d) => AnswerValue::Decimal(d),
        FpItem::String(s) => AnswerValue::String(s),
        FpItem::Date(s) => AnswerValue::Date(s),
        FpItem::DateTime(s) => AnswerValue::DateTime(s),
        FpItem::Time(s) => AnswerValue::Time(s),
        FpItem::Quantity(value, unit) => AnswerValue::Quantity(Quantity {
            value: Some(value),
            unit: Some(unit.clone()),
            system: None,
            code: Some(unit),
        }),
        FpItem::Node(_) => return Err("the result is an element, not a value".into()),
    })
}

/// A result fitted to the item it fills: whole decimals for integer items,
/// numbers as amounts for quantity items, codes as the option they match.
fn fit(item: &Item, options: &[AnswerOption], v: AnswerValue) -> Result<AnswerValue, String> {
    let fitted = match (item.item_type, v) {
        (ItemType::Integer, AnswerValue::Decimal(d)) if d.fract() == 0.0 && d.abs() < 9.0e15 => {
            AnswerValue::Integer(d as i64)
        }
        (ItemType::Decimal, AnswerValue::Integer(i)) => AnswerValue::Decimal(i as f64),
        (ItemType::Quantity, AnswerValue::Integer(i)) => quantity(item, i as f64),
        (ItemType::Quantity, AnswerValue::Decimal(d)) => quantity(item, d),
        (
            ItemType::String | ItemType::Text,
            v @ (AnswerValue::Integer(_) | AnswerValue::Decimal(_) | AnswerValue::Boolean(_)),
        ) => AnswerValue::String(match v {
            AnswerValue::Integer(i) => i.to_string(),
            AnswerValue::Decimal(d) => d.to_string(),
            AnswerValue::Boolean(b) => b.to_string(),
            _ => String::new(),
        }),
        (ItemType::Choice | ItemType::OpenChoice, v) => options
            .iter()
            .find(|o| o.value.matches(&v))
            .map(|o| o.value.clone())
            .unwrap_or(v),
        (_, v) => v,
    };
    match type_mismatch_in(item, options, &fitted) {
        None => Ok(fitted),
        Some(expected) => Err(format!(
            "the result ({}) does not fit this item, which takes {expected}",
            fitted.fhir_suffix()
        )),
    }
}

fn quantity(item: &Item, value: f64) -> AnswerValue {
    AnswerValue::Quantity(Quantity {
        value: Some(value),
        unit: item.unit.clone(),
        system: None,
        code: None,
    })
}

struct Ctx<'a> {
    q: &'a Questionnaire,
    index: HashMap<&'a str, &'a Item>,
}

impl<'a> Ctx<'a> {
    fn new(q: &'a Questionnaire) -> Ctx<'a> {
        Ctx {
            q,
            index: q
                .walk()
                .into_iter()
                .map(|(i, _)| (i.link_id.as_str(), i))
                .collect(),
        }
    }

    /// Evaluates one expression of the item instance at `path`.
    fn run(
        &self,
        view: &View,
        expr: &Expression,
        path: &ItemPath,
        kind: ExpressionKind,
        failures: &mut Vec<ExpressionFailure>,
        then: impl FnOnce(&Collection<'_>) -> Result<(), String>,
    ) -> Reads {
        let memo = RefCell::new(HashMap::new());
        self.run_with(view, &memo, expr, path, kind, failures, then)
    }

    #[allow(clippy::too_many_arguments)]
    fn run_with<'v>(
        &'v self,
        view: &'v View,
        memo: &Memo<'v>,
        expr: &Expression,
        path: &ItemPath,
        kind: ExpressionKind,
        failures: &mut Vec<ExpressionFailure>,
        then: impl FnOnce(&Collection<'_>) -> Result<(), String>,
    ) -> Reads
    where
        'a: 'v,
    {
        let busy = RefCell::new(HashSet::new());
        let reads = RefCell::new(Reads::default());
        let env = Env {
            q: self.q,
            view,
            index: &self.index,
            scope: &path.0,
            memo,
            busy: &busy,
            reads: &reads,
        };
        let outcome = expr
            .evaluate(view.node(&path.0), &env)
            .map_err(|e| e.to_string())
            .and_then(|c| then(&c));
        if let Err(message) = outcome {
            failures.push(ExpressionFailure {
                path: path.clone(),
                kind,
                message,
            });
        }
        reads.into_inner()
    }

    fn answers_of(
        &self,
        item: &Item,
        options: &[AnswerOption],
        c: &Collection<'_>,
    ) -> Result<Vec<AnswerValue>, String> {
        if c.len() > 1 && !item.repeats {
            return Err(format!(
                "the result has {} values; this item takes one",
                c.len()
            ));
        }
        c.iter()
            .map(|v| to_answer_value(v).and_then(|a| fit(item, options, a)))
            .collect()
    }
}

/// Puts `initialExpression` results into a new response, where the form
/// gives the item no fixed initial value.
pub(crate) fn apply_initial(resp: &mut Response, q: &Questionnaire) -> Vec<ExpressionFailure> {
    let mut failures = Vec::new();
    if !q.compiled.items.values().any(|i| i.initial.is_some()) {
        return failures;
    }
    let ctx = Ctx::new(q);
    let instances = resp.instances(q);
    let all: HashSet<ItemPath> = instances.iter().map(|(_, p)| p.clone()).collect();
    let view = View::build(resp, q, &all);
    let mut found = Vec::new();
    for (item, path) in &instances {
        let Some(expr) = q
            .compiled
            .item(&item.link_id)
            .and_then(|e| e.initial.as_ref())
        else {
            continue;
        };
        if !resp.answers(path).is_empty() || !item.item_type.is_question() {
            continue;
        }
        ctx.run(
            &view,
            expr,
            path,
            ExpressionKind::Initial,
            &mut failures,
            |c| {
                let values = ctx.answers_of(item, &item.options, c)?;
                found.push((path.clone(), values));
                Ok(())
            },
        );
    }
    for (path, values) in found {
        if !values.is_empty() {
            resp.answers.insert(path, values);
        }
    }
    failures
}

/// Settles enablement and calculations together: each round sees the
/// response as the last round left it, recomputes the calculated items (in
/// dependency order, each seeing the ones before it), then decides which
/// items are enabled; it ends when a round changes nothing.
pub(crate) fn settle(
    resp: &mut Response,
    q: &Questionnaire,
    instances: &[(&Item, ItemPath)],
    ancestors: &HashMap<&str, Vec<&str>>,
) -> Vec<ExpressionFailure> {
    let ctx = Ctx::new(q);
    let mut enabled: HashSet<ItemPath> = instances.iter().map(|(_, p)| p.clone()).collect();
    let order: HashMap<&str, usize> = q
        .compiled
        .calc_order
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let mut calculated: Vec<(&Item, &ItemPath)> = instances
        .iter()
        .filter(|(i, _)| order.contains_key(i.link_id.as_str()))
        .map(|(i, p)| (*i, p))
        .collect();
    calculated.sort_by_key(|(i, _)| order.get(i.link_id.as_str()).copied().unwrap_or(usize::MAX));
    // The last failure of each calculation, by its place in `calculated`.
    let mut calc_failures: HashMap<usize, ExpressionFailure> = HashMap::new();
    let mut failures = Vec::new();
    let mut condition_failures = Vec::new();
    let mut settled = false;
    // Bounds the passes over the calculations, across all rounds.
    let mut passes = 0;
    // Calculations still moving when the bound was reached.
    let mut unsettled: Vec<&ItemPath> = Vec::new();
    resp.answers.retain(|k, _| enabled.contains(k));
    // Calculated answers are patched into the view as they change, so it is
    // only rebuilt when enablement changes.
    let mut view = View::build(resp, q, &enabled);
    'rounds: for round in 0..MAX_ROUNDS {
        if round > 0 && view.enabled != enabled {
            resp.answers.retain(|k, _| enabled.contains(k));
            view = View::build(resp, q, &enabled);
        }
        // Passes over the calculations, in dependency order, each seeing the
        // values before it, until none read a value that changed after it was
        // computed (a calculation that reads its own value counts too).
        let mut pending: Option<HashSet<usize>> = None;
        // What each calculation read when it last ran, and when that was;
        // every change of a calculated value, and when.
        let mut read: Vec<Reads> = calculated.iter().map(|_| Reads::default()).collect();
        let mut ran_at: Vec<usize> = vec![0; calculated.len()];
        let mut changes: Vec<(usize, &str)> = Vec::new();
        let mut clock = 0;
        // Which calculations changed in the last pass.
        let mut moved: HashSet<usize> = HashSet::new();
        loop {
            passes += 1;
            if passes > MAX_ROUNDS {
                unsettled = calculated
                    .iter()
                    .enumerate()
                    .filter(|(n, _)| {
                        moved.contains(n) || pending.as_ref().is_none_or(|p| p.contains(n))
                    })
                    .map(|(_, (_, path))| *path)
                    .collect();
                break 'rounds;
            }
            moved.clear();
            for (n, (item, path)) in calculated.iter().enumerate() {
                let rerun = pending.as_ref().is_none_or(|p| p.contains(&n));
                let expr = q
                    .compiled
                    .item(&item.link_id)
                    .and_then(|e| e.calculated.as_ref());
                let (Some(expr), true, true) = (expr, enabled.contains(*path), rerun) else {
                    continue;
                };
                clock += 1;
                let mut result = None;
                let options = resp.options_at(item, path).to_vec();
                let mut failed = Vec::new();
                let reads = ctx.run(
                    &view,
                    expr,
                    path,
                    ExpressionKind::Calculated,
                    &mut failed,
                    |c| {
                        result = Some(ctx.answers_of(item, &options, c)?);
                        Ok(())
                    },
                );
                if let (Some(slot), Some(at)) = (read.get_mut(n), ran_at.get_mut(n)) {
                    *slot = reads;
                    *at = clock;
                }
                calc_failures.remove(&n);
                if let Some(f) = failed.pop() {
                    calc_failures.insert(n, f);
                }
                // A calculation that fails leaves the item empty, never stale.
                let values = result.unwrap_or_default();
                if resp.answers(path) != values.as_slice() {
                    clock += 1;
                    changes.push((clock, item.link_id.as_str()));
                    moved.insert(n);
                    view.set_answers(path, &values);
                    if values.is_empty() {
                        resp.answers.remove(*path);
                    } else {
                        resp.answers.insert((*path).clone(), values);
                    }
                }
            }
            // Stale: it read a value that changed after it ran (its own included).
            let stale: HashSet<usize> = read
                .iter()
                .zip(&ran_at)
                .enumerate()
                .filter(|(_, (r, ran))| {
                    changes
                        .iter()
                        .any(|(at, link)| at > *ran && (r.any || r.link_ids.contains(*link)))
                })
                .map(|(n, _)| n)
                .collect();
            if stale.is_empty() {
                break;
            }
            pending = Some(stale);
        }
        condition_failures.clear();
        let mut by_expression: HashMap<ItemPath, bool> = HashMap::new();
        // Nothing changes while conditions are evaluated: variables are
        // worked out once for all of them.
        let memo = RefCell::new(HashMap::new());
        for (item, path) in instances {
            let Some(expr) = q
                .compiled
                .item(&item.link_id)
                .and_then(|e| e.enable_when.as_ref())
            else {
                continue;
            };
            ctx.run_with(
                &view,
                &memo,
                expr,
                path,
                ExpressionKind::EnableWhen,
                &mut condition_failures,
                |c| {
                    let shown = match c.as_slice() {
                        [] => false,
                        [one] => !matches!(one.primitive(), FpItem::Boolean(false)),
                        more => {
                            return Err(format!(
                                "the result has {} values, not one true or false",
                                more.len()
                            ));
                        }
                    };
                    by_expression.insert(path.clone(), shown);
                    Ok(())
                },
            );
        }
        let next = resp.next_enabled(instances, &enabled, ancestors, |p| {
            by_expression.get(p).copied().unwrap_or(true)
        });
        // Conditions were decided on settled calculations: nothing moves.
        if next == enabled {
            settled = true;
            break;
        }
        enabled = next;
    }
    let mut by_place: Vec<(usize, ExpressionFailure)> = calc_failures
        .into_iter()
        .filter(|(n, _)| {
            calculated
                .get(*n)
                .is_some_and(|(_, p)| enabled.contains(*p))
        })
        .collect();
    by_place.sort_by_key(|(n, _)| *n);
    failures.extend(by_place.into_iter().map(|(_, f)| f));
    failures.append(&mut condition_failures);
    resp.answers.retain(|k, _| enabled.contains(k));
    if !settled {
        // A value still moving means nothing: it is not shown.
        for path in unsettled {
            resp.answers.remove(path);
        }
        failures.push(ExpressionFailure {
            path: ItemPath(Vec::new()),
            kind: ExpressionKind::Calculated,
            message: format!(
                "the form's calculations and conditions did not settle within {MAX_ROUNDS} rounds"
            ),
        });
        view = View::build(resp, q, &enabled);
    }
    // Computed answer lists, from the settled response.
    let mut options = HashMap::new();
    for (item, path) in instances {
        if !enabled.contains(path) {
            continue;
        }
        let Some(expr) = q
            .compiled
            .item(&item.link_id)
            .and_then(|e| e.answer.as_ref())
        else {
            continue;
        };
        ctx.run(
            &view,
            expr,
            path,
            ExpressionKind::Answer,
            &mut failures,
            |c| {
                let list = c
                    .iter()
                    .map(|v| {
                        let value = to_answer_value(v)?;
                        let weight = match v {
                            FpItem::Node(n) => crate::fhirpath::own_weight(n.value),
                            _ => None,
                        };
                        let label = crate::parse::display_value(&value);
                        Ok(AnswerOption {
                            value,
                            weight,
                            initial_selected: false,
                            label,
                            label_translations: HashMap::new(),
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                options.insert(path.clone(), list);
                Ok(())
            },
        );
    }
    resp.options = options;
    resp.enabled = enabled;
    failures
}
