//! Turns a FHIR R4 Questionnaire (JSON) into the engine's [`Questionnaire`].
//!
//! Written against questionnaires as others publish them (LHC-Forms exports,
//! the SDC examples, research apps): options weighted by `ordinalValue`,
//! `itemWeight` or the older `iso21090-CO-value`, on the option or on its
//! coding; `answerValueSet` pointing at a contained ValueSet (or one handed in
//! by the caller). Anything it cannot run faithfully is refused with the path
//! of the offending element and the reason, never guessed at.

use crate::model::*;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// Where in the questionnaire something is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ParseError {
    /// FHIRPath-like location, e.g. `Questionnaire.item[2].answerOption[0]`.
    pub path: String,
    pub reason: String,
}

fn err(path: &str, reason: impl Into<String>) -> ParseError {
    ParseError {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

pub const EXT_ORDINAL_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/ordinalValue";
pub const EXT_ITEM_WEIGHT: &str = "http://hl7.org/fhir/StructureDefinition/itemWeight";
pub const EXT_CO_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value";
pub const EXT_MIN_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/minValue";
pub const EXT_MAX_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/maxValue";
pub const EXT_HIDDEN: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-hidden";
pub const EXT_ITEM_CONTROL: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl";
pub const EXT_CHOICE_ORIENTATION: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-choiceOrientation";
pub use carecycle_fhir::translation::TRANSLATION_EXTENSION as EXT_TRANSLATION;
pub const EXT_UNIT: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit";
pub const EXT_CALCULATED_EXPRESSION: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression";
pub const EXT_VARIABLE: &str = "http://hl7.org/fhir/StructureDefinition/variable";
pub const EXT_ENABLE_WHEN_EXPRESSION: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression";
pub const EXT_INITIAL_EXPRESSION: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-initialExpression";
pub const EXT_ANSWER_EXPRESSION: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-answerExpression";
/// CareCycle's own extension: a red-flag rule declared on an item (see [`ItemRedFlag`]).
pub use carecycle_fhir::RED_FLAG_EXTENSION as EXT_RED_FLAG;

const SDC: &str = "http://hl7.org/fhir/uv/sdc/StructureDefinition/";
const CORE: &str = "http://hl7.org/fhir/StructureDefinition/";

/// Extensions that change how a form behaves and that the engine does not
/// carry out, with what happens instead. Listed as warnings on the parsed form.
const NOT_IMPLEMENTED: &[(&str, &str, &str)] = &[
    (
        SDC,
        "sdc-questionnaire-candidateExpression",
        "candidate answers are not computed",
    ),
    (
        SDC,
        "sdc-questionnaire-contextExpression",
        "the context is not evaluated",
    ),
    (
        SDC,
        "sdc-questionnaire-answerOptionsToggleExpression",
        "options are not toggled; every listed option is offered",
    ),
    (
        SDC,
        "sdc-questionnaire-launchContext",
        "launch context is not supplied to expressions",
    ),
    (
        SDC,
        "sdc-questionnaire-itemPopulationContext",
        "items are not pre-populated",
    ),
    (
        SDC,
        "sdc-questionnaire-subQuestionnaire",
        "the sub-questionnaire is not assembled into the form",
    ),
    (
        SDC,
        "sdc-questionnaire-minQuantity",
        "the quantity limit is not checked",
    ),
    (
        SDC,
        "sdc-questionnaire-maxQuantity",
        "the quantity limit is not checked",
    ),
    (
        CORE,
        "questionnaire-unitOption",
        "the unit choice is not offered or checked",
    ),
    (
        CORE,
        "questionnaire-unitValueSet",
        "the unit choice is not offered or checked",
    ),
    (
        CORE,
        "questionnaire-constraint",
        "the constraint is not checked",
    ),
    (
        CORE,
        "questionnaire-minOccurs",
        "the minimum number of answers is not checked",
    ),
    (
        CORE,
        "questionnaire-maxOccurs",
        "the maximum number of answers is not checked",
    ),
    (CORE, "regex", "the answer's format is not checked"),
    (CORE, "minLength", "the minimum length is not checked"),
    (
        CORE,
        "maxDecimalPlaces",
        "the number of decimal places is not checked",
    ),
    (CORE, "mimeType", "the attachment's type is not checked"),
    (CORE, "maxSize", "the attachment's size is not checked"),
    (CORE, "cqf-library", "the logic library is not run"),
    (CORE, "cqf-expression", "the expression is not evaluated"),
];

fn not_implemented(url: &str) -> Option<&'static str> {
    NOT_IMPLEMENTED
        .iter()
        .find(|(base, name, _)| url.strip_prefix(base) == Some(name))
        .map(|(_, _, what)| *what)
}

/// The largest questionnaire the engine takes (items at any depth); a bound so
/// a hostile document cannot make the app spin.
pub const MAX_ITEMS: usize = 5_000;
const MAX_DEPTH: usize = 32;

/// The `answerValueSet` canonicals a Questionnaire (JSON) names but does not
/// contain: what a reader must fetch (e.g. `ValueSet/$expand?url=`) before
/// [`Questionnaire::parse_with_value_sets`] can read the form. Sorted, once each.
pub fn external_value_sets(questionnaire: &Value) -> Vec<String> {
    let contained: HashSet<&str> = questionnaire
        .get("contained")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("url").and_then(Value::as_str))
        .collect();
    let mut out = std::collections::BTreeSet::new();
    let mut stack: Vec<&Value> = questionnaire
        .get("item")
        .and_then(Value::as_array)
        .map(|items| items.iter().collect())
        .unwrap_or_default();
    while let Some(item) = stack.pop() {
        if let Some(canonical) = item.get("answerValueSet").and_then(Value::as_str) {
            let url = canonical.split('|').next().unwrap_or(canonical);
            if !canonical.starts_with('#') && !contained.contains(url) {
                out.insert(canonical.to_owned());
            }
        }
        if let Some(children) = item.get("item").and_then(Value::as_array) {
            stack.extend(children);
        }
    }
    out.into_iter().collect()
}

/// Of [`external_value_sets`], those none of `supplied` (ValueSets, matched by
/// `url`, with or without the version) answers: what is still to be fetched.
pub fn missing_value_sets(questionnaire: &Value, supplied: &[Value]) -> Vec<String> {
    let urls: HashSet<&str> = supplied
        .iter()
        .filter_map(|vs| vs.get("url").and_then(Value::as_str))
        .collect();
    external_value_sets(questionnaire)
        .into_iter()
        .filter(|c| !urls.contains(c.split('|').next().unwrap_or(c)))
        .collect()
}

impl Questionnaire {
    /// Parses JSON text.
    pub fn from_json(text: &str) -> Result<Questionnaire, ParseError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| err("Questionnaire", format!("not valid JSON ({e})")))?;
        Questionnaire::parse(&value)
    }

    /// Parses a Questionnaire resource whose `answerValueSet`s are all contained.
    pub fn parse(value: &Value) -> Result<Questionnaire, ParseError> {
        Questionnaire::parse_with_value_sets(value, &[])
    }

    /// Parses a Questionnaire, resolving `answerValueSet` canonicals that are
    /// not contained against ValueSets the caller already has.
    pub fn parse_with_value_sets(
        value: &Value,
        value_sets: &[Value],
    ) -> Result<Questionnaire, ParseError> {
        let root = "Questionnaire";
        let obj = value
            .as_object()
            .ok_or_else(|| err(root, "expected a JSON object"))?;
        match obj.get("resourceType").and_then(Value::as_str) {
            Some("Questionnaire") => {}
            Some(other) => {
                return Err(err(
                    root,
                    format!("expected a Questionnaire, found a {other}"),
                ));
            }
            None => return Err(err(root, "resourceType is missing")),
        }
        // FHIR: a modifier extension the reader does not understand changes
        // the meaning of what it sits on, so the form must be refused. The
        // engine understands none.
        refuse_modifier_extensions(value, root)?;
        let mut sets = HashMap::new();
        for (i, vs) in value_sets.iter().enumerate() {
            if let Some(url) = vs.get("url").and_then(Value::as_str) {
                sets.insert(url.to_owned(), (format!("valueSets[{i}]"), vs));
            }
        }
        // Contained value sets win over supplied ones: the form carries them.
        if let Some(contained) = obj.get("contained") {
            for (i, c) in array(contained, "Questionnaire.contained")?
                .iter()
                .enumerate()
            {
                if c.get("resourceType").and_then(Value::as_str) != Some("ValueSet") {
                    continue;
                }
                let path = format!("Questionnaire.contained[{i}]");
                if let Some(id) = c.get("id").and_then(Value::as_str) {
                    sets.insert(format!("#{id}"), (path.clone(), c));
                }
                // Referenced by canonical URL, with or without its version.
                if let Some(url) = c.get("url").and_then(Value::as_str) {
                    sets.insert(url.to_owned(), (path.clone(), c));
                    if let Some(version) = c.get("version").and_then(Value::as_str) {
                        sets.insert(format!("{url}|{version}"), (path, c));
                    }
                }
            }
        }
        let mut ctx = Context {
            value_sets: sets,
            seen: HashSet::new(),
            count: 0,
            warnings: Vec::new(),
            compiled: crate::sdc::Compiled::default(),
        };
        let mut variables = Vec::new();
        for (i, ext) in extension_list(obj, root)?.iter().enumerate() {
            let p = format!("{root}.extension[{i}]");
            let (url, e) = extension(ext, &p)?;
            ctx.warn(&p, url);
            if url == EXT_VARIABLE
                && let Some(v) = ctx.variable(e, &p, None)?
            {
                variables.push(v);
            }
        }
        let items = match obj.get("item") {
            Some(items) => ctx.items(items, root, 0)?,
            None => Vec::new(),
        };
        let mut q = Questionnaire {
            id: opt_string(obj, "id", root)?,
            url: opt_string(obj, "url", root)?,
            version: opt_string(obj, "version", root)?,
            name: opt_string(obj, "name", root)?,
            title: opt_string(obj, "title", root)?,
            language: opt_string(obj, "language", root)?,
            codes: match obj.get("code") {
                Some(c) => codings(c, &format!("{root}.code"))?,
                None => Vec::new(),
            },
            items,
            warnings: ctx.warnings,
            variables,
            compiled: ctx.compiled.with_source(value),
        };
        check_enable_when_targets(&q)?;
        let mut compiled = std::mem::take(&mut q.compiled);
        compiled.order_calculations(&q);
        q.compiled = compiled;
        Ok(q)
    }
}

struct Context<'a> {
    value_sets: HashMap<String, (String, &'a Value)>,
    seen: HashSet<String>,
    count: usize,
    warnings: Vec<ParseWarning>,
    compiled: crate::sdc::Compiled,
}

/// Refuses any `modifierExtension`, anywhere in the resource (items, options,
/// contained resources), naming where it is and its URL.
fn refuse_modifier_extensions(value: &Value, root: &str) -> Result<(), ParseError> {
    /// One step of the way down, kept as borrowed parts: the path text is only
    /// built for the error (this walk runs on every parse).
    enum Step<'a> {
        Key(&'a str),
        Index(usize),
    }
    fn path_of(root: &str, steps: &[Step<'_>]) -> String {
        let mut out = root.to_owned();
        for s in steps {
            match s {
                Step::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Step::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
    fn walk<'a>(value: &'a Value, root: &str, steps: &mut Vec<Step<'a>>) -> Result<(), ParseError> {
        // serde_json already bounds nesting (128); this keeps the walk bounded too.
        if steps.len() > 256 {
            return Err(err(&path_of(root, steps), "the document nests too deeply"));
        }
        match value {
            Value::Object(obj) => {
                if let Some(mods) = obj.get("modifierExtension") {
                    let urls: Vec<&str> = mods
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|m| m.get("url").and_then(Value::as_str).unwrap_or("(no url)"))
                                .collect()
                        })
                        .unwrap_or_default();
                    steps.push(Step::Key("modifierExtension"));
                    return Err(err(
                        &path_of(root, steps),
                        format!(
                            "modifier extension {} is not understood; FHIR requires refusing a form whose modifier extensions the reader does not understand, so this form cannot be shown",
                            if urls.is_empty() {
                                "(unreadable)".to_owned()
                            } else {
                                urls.join(", ")
                            }
                        ),
                    ));
                }
                for (k, v) in obj {
                    if v.is_object() || v.is_array() {
                        steps.push(Step::Key(k));
                        walk(v, root, steps)?;
                        steps.pop();
                    }
                }
                Ok(())
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    if v.is_object() || v.is_array() {
                        steps.push(Step::Index(i));
                        walk(v, root, steps)?;
                        steps.pop();
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(value, root, &mut Vec::new())
}

impl Context<'_> {
    /// The FHIRPath text of an expression extension, read once. An
    /// expression the engine cannot read (another language, a syntax error,
    /// an unsupported function) does not refuse the form: it is listed as a
    /// warning saying what happens instead, and is not evaluated.
    fn expression(
        &mut self,
        e: &Map<String, Value>,
        path: &str,
        url: &str,
        instead: &str,
    ) -> Result<(Option<String>, String, Option<crate::fhirpath::Expression>), ParseError> {
        let x = e
            .get("valueExpression")
            .and_then(Value::as_object)
            .ok_or_else(|| err(path, "an expression extension needs valueExpression"))?;
        let text = x
            .get("expression")
            .and_then(Value::as_str)
            .ok_or_else(|| err(path, "valueExpression.expression is required"))?
            .to_owned();
        let name = x.get("name").and_then(Value::as_str).map(str::to_owned);
        let language = x.get("language").and_then(Value::as_str);
        let mut warn = |message: String| {
            self.warnings.push(ParseWarning {
                path: path.to_owned(),
                extension: url.to_owned(),
                message,
            })
        };
        if language.is_some_and(|l| l != "text/fhirpath") {
            warn(format!(
                "Not implemented by CareCycle: only FHIRPath expressions are evaluated, not {}; {instead}.",
                language.unwrap_or_default()
            ));
            return Ok((name, text, None));
        }
        match crate::fhirpath::Expression::parse(&text) {
            Ok(compiled) => Ok((name, text, Some(compiled))),
            Err(e) => {
                warn(format!(
                    "The FHIRPath expression cannot be evaluated ({e}); {instead}."
                ));
                Ok((name, text, None))
            }
        }
    }

    fn variable(
        &mut self,
        e: &Map<String, Value>,
        path: &str,
        link_id: Option<&str>,
    ) -> Result<Option<Variable>, ParseError> {
        let (name, text, compiled) = self.expression(
            e,
            path,
            EXT_VARIABLE,
            "expressions that use it get no value",
        )?;
        let name = name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| err(path, "a variable needs valueExpression.name"))?;
        self.compiled.add_variable(link_id, &name, compiled);
        Ok(Some(Variable {
            name,
            expression: text,
        }))
    }

    fn warn(&mut self, path: &str, url: &str) {
        if let Some(what) = not_implemented(url) {
            self.warnings.push(ParseWarning {
                path: path.to_owned(),
                extension: url.to_owned(),
                message: format!("Not implemented by CareCycle: {what}."),
            });
        }
    }

    fn items(
        &mut self,
        value: &Value,
        parent: &str,
        depth: usize,
    ) -> Result<Vec<Item>, ParseError> {
        if depth > MAX_DEPTH {
            return Err(err(
                parent,
                format!("items nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        let list = array(value, &format!("{parent}.item"))?;
        list.iter()
            .enumerate()
            .map(|(i, v)| self.item(v, &format!("{parent}.item[{i}]"), depth))
            .collect()
    }

    fn item(&mut self, value: &Value, path: &str, depth: usize) -> Result<Item, ParseError> {
        self.count += 1;
        if self.count > MAX_ITEMS {
            return Err(err(path, format!("more than {MAX_ITEMS} items")));
        }
        let obj = value
            .as_object()
            .ok_or_else(|| err(path, "expected an object"))?;
        let link_id = opt_string(obj, "linkId", path)?
            .filter(|l| !l.is_empty())
            .ok_or_else(|| err(path, "linkId is required"))?;
        if !self.seen.insert(link_id.clone()) {
            return Err(err(path, format!("linkId '{link_id}' is used twice")));
        }
        let type_code =
            opt_string(obj, "type", path)?.ok_or_else(|| err(path, "type is required"))?;
        let item_type = ItemType::from_code(&type_code).ok_or_else(|| {
            err(
                &format!("{path}.type"),
                match type_code.as_str() {
                    "reference" => "items of type 'reference' are not supported: a patient cannot pick a FHIR resource".to_owned(),
                    "question" => "'question' is abstract; use a concrete type such as 'string' or 'choice'".to_owned(),
                    other => format!("unknown item type '{other}'"),
                },
            )
        })?;
        let extensions = extension_list(obj, path)?;
        let children = match obj.get("item") {
            Some(v) => self.items(v, path, depth + 1)?,
            None => Vec::new(),
        };
        if !item_type.is_question()
            && extensions
                .iter()
                .any(|e| e.get("url").and_then(Value::as_str) == Some(EXT_RED_FLAG))
        {
            return Err(err(
                path,
                "a red-flag rule needs an item that takes answers",
            ));
        }
        match item_type {
            ItemType::Display if !children.is_empty() => {
                return Err(err(path, "a display item cannot have nested items"));
            }
            ItemType::Group if children.is_empty() => {
                return Err(err(path, "a group must have nested items"));
            }
            _ => {}
        }

        let mut options = Vec::new();
        if let Some(opts) = obj.get("answerOption") {
            for (i, o) in array(opts, &format!("{path}.answerOption"))?
                .iter()
                .enumerate()
            {
                options.push(answer_option(o, &format!("{path}.answerOption[{i}]"))?);
            }
        }
        if let Some(vs) = obj.get("answerValueSet") {
            let vs_path = format!("{path}.answerValueSet");
            let canonical = vs
                .as_str()
                .ok_or_else(|| err(&vs_path, "expected a canonical URL"))?;
            if !options.is_empty() {
                return Err(err(
                    path,
                    "answerOption and answerValueSet cannot both be given",
                ));
            }
            let (set_path, set) = self.value_sets.get(canonical).or_else(|| {
                // `url|version` against a set known only by its URL.
                canonical.split_once('|').and_then(|(url, _)| self.value_sets.get(url))
            }).ok_or_else(|| {
                err(
                    &vs_path,
                    format!("value set '{canonical}' is neither contained in the questionnaire nor supplied; expand it into answerOption or contain it"),
                )
            })?;
            options = value_set_options(set, set_path)?;
        }
        if !options.is_empty()
            && !matches!(
                item_type,
                ItemType::Choice
                    | ItemType::OpenChoice
                    | ItemType::Integer
                    | ItemType::Date
                    | ItemType::Time
                    | ItemType::String
            )
        {
            return Err(err(
                path,
                format!("answer options are not allowed on a '{type_code}' item"),
            ));
        }
        let computes_answers = extensions
            .iter()
            .any(|e| e.get("url").and_then(Value::as_str) == Some(EXT_ANSWER_EXPRESSION));
        if matches!(item_type, ItemType::Choice) && options.is_empty() && !computes_answers {
            return Err(err(
                path,
                "a choice item needs answerOption or answerValueSet",
            ));
        }

        let mut enable_when = Vec::new();
        if let Some(ew) = obj.get("enableWhen") {
            for (i, e) in array(ew, &format!("{path}.enableWhen"))?.iter().enumerate() {
                enable_when.push(enable_when_of(e, &format!("{path}.enableWhen[{i}]"))?);
            }
        }
        let enable_behavior = match opt_string(obj, "enableBehavior", path)?.as_deref() {
            None | Some("all") => EnableBehavior::All,
            Some("any") => EnableBehavior::Any,
            Some(other) => {
                return Err(err(
                    &format!("{path}.enableBehavior"),
                    format!("must be 'all' or 'any', found '{other}'"),
                ));
            }
        };
        if enable_when.len() > 1 && obj.get("enableBehavior").is_none() {
            return Err(err(
                path,
                "enableBehavior is required when there is more than one enableWhen",
            ));
        }

        let mut initial = Vec::new();
        if let Some(init) = obj.get("initial") {
            for (i, v) in array(init, &format!("{path}.initial"))?.iter().enumerate() {
                let p = format!("{path}.initial[{i}]");
                let o = v.as_object().ok_or_else(|| err(&p, "expected an object"))?;
                initial.push(value_x(o, &p)?.ok_or_else(|| err(&p, "value[x] is missing"))?);
            }
        }

        let max_length =
            match obj.get("maxLength") {
                None => None,
                Some(v) => Some(v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(
                    || err(&format!("{path}.maxLength"), "expected a positive integer"),
                )?),
            };

        let mut min_value = None;
        let mut max_value = None;
        let mut hidden = false;
        let mut item_control = None;
        let mut choice_orientation = None;
        let mut unit = None;
        let mut calculated_expression = None;
        let mut enable_when_expression = None;
        let mut initial_expression = None;
        let mut answer_expression = None;
        let mut variables = Vec::new();
        let mut red_flags = Vec::new();
        for (i, ext) in extensions.iter().enumerate() {
            let p = format!("{path}.extension[{i}]");
            let (url, e) = extension(ext, &p)?;
            self.warn(&p, url);
            match url {
                EXT_CALCULATED_EXPRESSION => {
                    let (_, text, c) = self.expression(e, &p, url, "the item stays empty")?;
                    self.compiled
                        .set(&link_id, crate::sdc::ExpressionKind::Calculated, c);
                    calculated_expression = Some(text);
                }
                EXT_ENABLE_WHEN_EXPRESSION => {
                    let (_, text, c) = self.expression(
                        e,
                        &p,
                        url,
                        "the item is shown as if it had no such condition",
                    )?;
                    self.compiled
                        .set(&link_id, crate::sdc::ExpressionKind::EnableWhen, c);
                    enable_when_expression = Some(text);
                }
                EXT_INITIAL_EXPRESSION => {
                    let (_, text, c) = self.expression(e, &p, url, "the item starts empty")?;
                    self.compiled
                        .set(&link_id, crate::sdc::ExpressionKind::Initial, c);
                    initial_expression = Some(text);
                }
                EXT_ANSWER_EXPRESSION => {
                    let (_, text, c) = self.expression(
                        e,
                        &p,
                        url,
                        "only the answers listed in the form are offered",
                    )?;
                    self.compiled
                        .set(&link_id, crate::sdc::ExpressionKind::Answer, c);
                    answer_expression = Some(text);
                }
                EXT_VARIABLE => {
                    if let Some(v) = self.variable(e, &p, Some(&link_id))? {
                        variables.push(v);
                    }
                }
                EXT_RED_FLAG => red_flags.push(item_red_flag(e, &p)?),
                EXT_MIN_VALUE => min_value = value_x(e, &p)?,
                EXT_MAX_VALUE => max_value = value_x(e, &p)?,
                EXT_HIDDEN => {
                    hidden = e
                        .get("valueBoolean")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                }
                EXT_ITEM_CONTROL => {
                    item_control = e
                        .get("valueCodeableConcept")
                        .and_then(|c| c.get("coding"))
                        .and_then(Value::as_array)
                        .and_then(|c| c.first())
                        .and_then(|c| c.get("code"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                }
                EXT_CHOICE_ORIENTATION => {
                    choice_orientation = match e.get("valueCode").and_then(Value::as_str) {
                        Some("horizontal") => Some(Orientation::Horizontal),
                        Some("vertical") => Some(Orientation::Vertical),
                        _ => {
                            return Err(err(
                                &p,
                                "choiceOrientation must be 'horizontal' or 'vertical'",
                            ));
                        }
                    };
                }
                EXT_UNIT => {
                    unit = e
                        .get("valueCoding")
                        .and_then(|c| c.get("display").or_else(|| c.get("code")))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                }
                _ => {}
            }
        }
        // A rule comparing a number with coded answers compares option weights:
        // without a weight on every option it could never fire, so refuse it.
        if red_flags.iter().any(|r| r.answer.as_number().is_some())
            && options
                .iter()
                .any(|o| matches!(o.value, AnswerValue::Coding(_)) && o.weight.is_none())
        {
            return Err(err(
                path,
                "a red-flag rule compares a number with coded answers, but not every option has a weight (ordinalValue or itemWeight)",
            ));
        }
        for (which, limit) in [("minValue", &min_value), ("maxValue", &max_value)] {
            if let Some(v) = limit {
                let fits = match item_type {
                    ItemType::Integer | ItemType::Decimal | ItemType::Quantity => {
                        v.as_number().is_some()
                    }
                    ItemType::Date | ItemType::DateTime => {
                        matches!(v, AnswerValue::Date(_) | AnswerValue::DateTime(_))
                    }
                    ItemType::Time => matches!(v, AnswerValue::Time(_)),
                    _ => false,
                };
                if !fits {
                    return Err(err(
                        path,
                        format!(
                            "{which} of type {} does not fit a '{type_code}' item",
                            v.fhir_suffix()
                        ),
                    ));
                }
            }
        }

        Ok(Item {
            text: opt_string(obj, "text", path)?,
            text_translations: translations(obj.get("_text"), &format!("{path}._text"))?,
            prefix: opt_string(obj, "prefix", path)?,
            codes: match obj.get("code") {
                Some(c) => codings(c, &format!("{path}.code"))?,
                None => Vec::new(),
            },
            required: opt_bool(obj, "required", path)?,
            repeats: opt_bool(obj, "repeats", path)?,
            // A calculated item is never asked of the patient.
            read_only: opt_bool(obj, "readOnly", path)? || calculated_expression.is_some(),
            calculated_expression,
            enable_when_expression,
            initial_expression,
            answer_expression,
            variables,
            red_flags,
            link_id,
            item_type,
            max_length,
            enable_when,
            enable_behavior,
            options,
            initial,
            min_value,
            max_value,
            hidden,
            item_control,
            choice_orientation,
            unit,
            items: children,
        })
    }
}

/// Every enableWhen must name a question that exists and takes answers, with
/// an answer of a type that question can give (or a boolean for `exists`).
fn check_enable_when_targets(q: &Questionnaire) -> Result<(), ParseError> {
    for (item, _) in q.walk() {
        for (i, ew) in item.enable_when.iter().enumerate() {
            let path = format!("item '{}'.enableWhen[{i}]", item.link_id);
            let target = q.item(&ew.question).ok_or_else(|| {
                err(
                    &path,
                    format!("refers to linkId '{}', which does not exist", ew.question),
                )
            })?;
            if !target.item_type.is_question() {
                return Err(err(
                    &path,
                    format!("refers to '{}', which takes no answers", ew.question),
                ));
            }
            if ew.operator == Operator::Exists {
                if !matches!(ew.answer, AnswerValue::Boolean(_)) {
                    return Err(err(&path, "operator 'exists' needs answerBoolean"));
                }
                continue;
            }
            let compatible = matches!(
                (target.item_type, &ew.answer),
                (ItemType::Boolean, AnswerValue::Boolean(_))
                    | (
                        ItemType::Decimal | ItemType::Integer,
                        AnswerValue::Decimal(_) | AnswerValue::Integer(_)
                    )
                    | (
                        ItemType::Date | ItemType::DateTime,
                        AnswerValue::Date(_) | AnswerValue::DateTime(_)
                    )
                    | (ItemType::Time, AnswerValue::Time(_))
                    | (
                        ItemType::String | ItemType::Text | ItemType::Url | ItemType::OpenChoice,
                        AnswerValue::String(_)
                    )
                    | (
                        ItemType::Choice | ItemType::OpenChoice,
                        AnswerValue::Coding(_)
                    )
                    | (ItemType::Quantity, AnswerValue::Quantity(_))
            ) || (!target.options.is_empty()
                && target
                    .options
                    .iter()
                    .any(|o| o.value.fhir_suffix() == ew.answer.fhir_suffix()));
            if !compatible {
                return Err(err(
                    &path,
                    format!(
                        "answer{} cannot be compared with the answers of '{}'",
                        ew.answer.fhir_suffix(),
                        ew.question
                    ),
                ));
            }
            let ordering = matches!(
                ew.operator,
                Operator::Greater
                    | Operator::Less
                    | Operator::GreaterOrEqual
                    | Operator::LessOrEqual
            );
            if ordering && matches!(ew.answer, AnswerValue::Boolean(_) | AnswerValue::Coding(_)) {
                return Err(err(
                    &path,
                    "booleans and codings cannot be compared with >, <, >= or <=",
                ));
            }
        }
    }
    Ok(())
}

/// Reads a CareCycle red-flag extension. A rule that cannot be read refuses
/// the form: a safety rule is never silently dropped.
fn item_red_flag(e: &Map<String, Value>, path: &str) -> Result<ItemRedFlag, ParseError> {
    use crate::red_flags::{CallTarget, Localized, Urgency};
    let parts = extension_list(e, path)?;
    let mut operator = None;
    let mut answer = None;
    let mut urgency = None;
    let mut title: Option<Localized> = None;
    let mut guidance: Option<Localized> = None;
    let mut team_flag = None;
    let mut call_number = None;
    let mut call_label: Option<Localized> = None;
    for (i, part) in parts.iter().enumerate() {
        let p = format!("{path}.extension[{i}]");
        let (name, x) = extension(part, &p)?;
        let text = |key: &str| -> Result<Localized, ParseError> {
            let en = x
                .get("valueString")
                .and_then(Value::as_str)
                .ok_or_else(|| err(&p, format!("'{key}' needs valueString")))?;
            let tr = translations(x.get("_valueString"), &format!("{p}._valueString"))?;
            // Without a Spanish text the rule still shows, in the original language.
            let es = lookup_language(&tr, "es").unwrap_or(en);
            Ok(Localized {
                en: lookup_language(&tr, "en").unwrap_or(en).to_owned(),
                es: es.to_owned(),
            })
        };
        match name {
            "operator" => {
                let code = x
                    .get("valueCode")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(&p, "'operator' needs valueCode"))?;
                operator = Some(
                    Operator::from_code(code)
                        .ok_or_else(|| err(&p, format!("unknown operator '{code}'")))?,
                );
            }
            "answer" => {
                answer = Some(value_x(x, &p)?.ok_or_else(|| err(&p, "'answer' needs value[x]"))?);
            }
            "urgency" => {
                urgency = Some(match x.get("valueCode").and_then(Value::as_str) {
                    Some("now") => Urgency::Now,
                    Some("soon") => Urgency::Soon,
                    _ => return Err(err(&p, "'urgency' must be valueCode 'now' or 'soon'")),
                });
            }
            "title" => title = Some(text("title")?),
            "guidance" => guidance = Some(text("guidance")?),
            "teamFlag" => team_flag = Some(text("teamFlag")?.en),
            "callNumber" => call_number = Some(text("callNumber")?.en),
            "callLabel" => call_label = Some(text("callLabel")?),
            other => {
                return Err(err(
                    &p,
                    format!("unknown part '{other}' of a red-flag rule"),
                ));
            }
        }
    }
    let operator = operator.ok_or_else(|| err(path, "a red-flag rule needs 'operator'"))?;
    let answer = answer.ok_or_else(|| err(path, "a red-flag rule needs 'answer'"))?;
    if operator == Operator::Exists && !matches!(answer, AnswerValue::Boolean(_)) {
        return Err(err(path, "operator 'exists' needs a boolean answer"));
    }
    let ordering = matches!(
        operator,
        Operator::Greater | Operator::Less | Operator::GreaterOrEqual | Operator::LessOrEqual
    );
    if ordering && matches!(answer, AnswerValue::Boolean(_) | AnswerValue::Coding(_)) {
        return Err(err(
            path,
            "booleans and codings cannot be compared with >, <, >= or <=; compare a number with the option weights instead",
        ));
    }
    let urgency = urgency.ok_or_else(|| err(path, "a red-flag rule needs 'urgency'"))?;
    let guidance = guidance.ok_or_else(|| err(path, "a red-flag rule needs 'guidance'"))?;
    let title = title.unwrap_or_else(|| match urgency {
        Urgency::Now => Localized {
            en: "Please reach out for help now".into(),
            es: "Por favor, busque ayuda ahora".into(),
        },
        Urgency::Soon => Localized {
            en: "Your care team will check in with you".into(),
            es: "Su equipo de atención se comunicará con usted".into(),
        },
    });
    let call = match (call_number, call_label) {
        (Some(number), label) => Some(CallTarget {
            label: label.unwrap_or_else(|| Localized {
                en: number.clone(),
                es: number.clone(),
            }),
            number,
        }),
        (None, Some(_)) => return Err(err(path, "'callLabel' needs 'callNumber'")),
        (None, None) => None,
    };
    Ok(ItemRedFlag {
        operator,
        answer,
        urgency,
        team_flag: team_flag.unwrap_or_else(|| guidance.en.clone()),
        title,
        guidance,
        call,
    })
}

fn enable_when_of(value: &Value, path: &str) -> Result<EnableWhen, ParseError> {
    let obj = value
        .as_object()
        .ok_or_else(|| err(path, "expected an object"))?;
    let question =
        opt_string(obj, "question", path)?.ok_or_else(|| err(path, "question is required"))?;
    let op = opt_string(obj, "operator", path)?.ok_or_else(|| err(path, "operator is required"))?;
    let operator = Operator::from_code(&op).ok_or_else(|| {
        err(
            &format!("{path}.operator"),
            format!("unknown operator '{op}'"),
        )
    })?;
    let mut answer = None;
    for (k, v) in obj {
        if let Some(suffix) = k.strip_prefix("answer") {
            answer = Some(typed_value(suffix, v, &format!("{path}.{k}"))?);
        }
    }
    let answer = answer.ok_or_else(|| err(path, "answer[x] is required"))?;
    Ok(EnableWhen {
        question,
        operator,
        answer,
    })
}

fn answer_option(value: &Value, path: &str) -> Result<AnswerOption, ParseError> {
    let obj = value
        .as_object()
        .ok_or_else(|| err(path, "expected an object"))?;
    let value = value_x(obj, path)?.ok_or_else(|| err(path, "value[x] is missing"))?;
    if !matches!(
        value,
        AnswerValue::Integer(_)
            | AnswerValue::Date(_)
            | AnswerValue::Time(_)
            | AnswerValue::String(_)
            | AnswerValue::Coding(_)
            | AnswerValue::Reference(_)
    ) {
        return Err(err(
            path,
            format!(
                "value{} is not allowed in answerOption",
                value.fhir_suffix()
            ),
        ));
    }
    // The weight may sit on the option or, as LHC-Forms writes it, on the coding.
    let mut weight = weight_of(obj, path)?;
    if weight.is_none()
        && let Some(coding) = obj.get("valueCoding").and_then(Value::as_object)
    {
        weight = weight_of(coding, &format!("{path}.valueCoding"))?;
    }
    let (label, label_translations) = match &value {
        AnswerValue::Coding(c) => {
            let coding = obj.get("valueCoding").and_then(Value::as_object);
            (
                c.display
                    .clone()
                    .or_else(|| c.code.clone())
                    .unwrap_or_default(),
                translations(
                    coding.and_then(|c| c.get("_display")),
                    &format!("{path}.valueCoding._display"),
                )?,
            )
        }
        AnswerValue::String(s) => (
            s.clone(),
            translations(obj.get("_valueString"), &format!("{path}._valueString"))?,
        ),
        other => (display_value(other), HashMap::new()),
    };
    Ok(AnswerOption {
        initial_selected: opt_bool(obj, "initialSelected", path)?,
        value,
        weight,
        label,
        label_translations,
    })
}

fn value_set_options(set: &Value, path: &str) -> Result<Vec<AnswerOption>, ParseError> {
    let mut out = Vec::new();
    // A stored expansion is what the server computed; prefer it.
    if let Some(contains) = set.get("expansion").and_then(|e| e.get("contains")) {
        for (i, c) in array(contains, &format!("{path}.expansion.contains"))?
            .iter()
            .enumerate()
        {
            let p = format!("{path}.expansion.contains[{i}]");
            let obj = c.as_object().ok_or_else(|| err(&p, "expected an object"))?;
            out.push(concept_option(obj, opt_string(obj, "system", &p)?, &p)?);
        }
        return Ok(out);
    }
    let includes = set
        .get("compose")
        .and_then(|c| c.get("include"))
        .ok_or_else(|| {
            err(
                path,
                "the value set has neither an expansion nor compose.include",
            )
        })?;
    for (i, inc) in array(includes, &format!("{path}.compose.include"))?
        .iter()
        .enumerate()
    {
        let p = format!("{path}.compose.include[{i}]");
        let obj = inc
            .as_object()
            .ok_or_else(|| err(&p, "expected an object"))?;
        let system = opt_string(obj, "system", &p)?;
        let concepts = obj.get("concept").ok_or_else(|| {
            err(&p, "only value sets that list their concepts can be used (filters need a terminology server)")
        })?;
        for (j, c) in array(concepts, &format!("{p}.concept"))?.iter().enumerate() {
            let cp = format!("{p}.concept[{j}]");
            let cobj = c
                .as_object()
                .ok_or_else(|| err(&cp, "expected an object"))?;
            out.push(concept_option(cobj, system.clone(), &cp)?);
        }
    }
    if out.is_empty() {
        return Err(err(path, "the value set lists no concepts"));
    }
    Ok(out)
}

fn concept_option(
    obj: &Map<String, Value>,
    system: Option<String>,
    path: &str,
) -> Result<AnswerOption, ParseError> {
    let code = opt_string(obj, "code", path)?.ok_or_else(|| err(path, "code is required"))?;
    let display = opt_string(obj, "display", path)?;
    // A value set translates a display by `designation` (with its language),
    // or, like any string, by the translation extension on `_display`.
    let mut label_translations = translations(obj.get("_display"), &format!("{path}._display"))?;
    if let Some(designations) = obj.get("designation") {
        for d in array(designations, &format!("{path}.designation"))? {
            if let (Some(language), Some(value)) = (
                d.get("language").and_then(Value::as_str),
                d.get("value").and_then(Value::as_str),
            ) {
                label_translations
                    .entry(language.to_owned())
                    .or_insert_with(|| value.to_owned());
            }
        }
    }
    Ok(AnswerOption {
        label: display.clone().unwrap_or_else(|| code.clone()),
        label_translations,
        value: AnswerValue::Coding(Code {
            system,
            code: Some(code),
            display,
        }),
        weight: weight_of(obj, path)?,
        initial_selected: false,
    })
}

fn weight_of(obj: &Map<String, Value>, path: &str) -> Result<Option<f64>, ParseError> {
    for (i, ext) in extension_list(obj, path)?.iter().enumerate() {
        let p = format!("{path}.extension[{i}]");
        let (url, e) = extension(ext, &p)?;
        if matches!(url, EXT_ORDINAL_VALUE | EXT_ITEM_WEIGHT | EXT_CO_VALUE) {
            let n = e
                .get("valueDecimal")
                .or_else(|| e.get("valueInteger"))
                .and_then(Value::as_f64)
                .ok_or_else(|| err(&p, "a weight needs valueDecimal"))?;
            return Ok(Some(n));
        }
    }
    Ok(None)
}

fn translations(value: Option<&Value>, path: &str) -> Result<HashMap<String, String>, ParseError> {
    let mut out = HashMap::new();
    let Some(obj) = value.and_then(Value::as_object) else {
        return Ok(out);
    };
    for (i, ext) in extension_list(obj, path)?.iter().enumerate() {
        let p = format!("{path}.extension[{i}]");
        let (url, e) = extension(ext, &p)?;
        if url != EXT_TRANSLATION {
            continue;
        }
        let parts = e
            .get("extension")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let part = |name: &str, key: &str| {
            parts
                .iter()
                .find(|x| x.get("url").and_then(Value::as_str) == Some(name))
                .and_then(|x| x.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match (part("lang", "valueCode"), part("content", "valueString")) {
            (Some(lang), Some(content)) => {
                out.insert(lang, content);
            }
            _ => {
                return Err(err(
                    &p,
                    "a translation needs 'lang' (valueCode) and 'content' (valueString)",
                ));
            }
        }
    }
    Ok(out)
}

/// Reads the one `value[x]` element of an object.
pub(crate) fn value_x(
    obj: &Map<String, Value>,
    path: &str,
) -> Result<Option<AnswerValue>, ParseError> {
    let mut found = None;
    for (k, v) in obj {
        if let Some(suffix) = k.strip_prefix("value") {
            if found.is_some() {
                return Err(err(path, "more than one value[x]"));
            }
            found = Some(typed_value(suffix, v, &format!("{path}.{k}"))?);
        }
    }
    Ok(found)
}

/// A value given its FHIR type suffix (`Integer`, `Coding`, …).
pub(crate) fn typed_value(suffix: &str, v: &Value, path: &str) -> Result<AnswerValue, ParseError> {
    let text = || {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| err(path, "expected a string"))
    };
    Ok(match suffix {
        "Boolean" => AnswerValue::Boolean(
            v.as_bool()
                .ok_or_else(|| err(path, "expected true or false"))?,
        ),
        "Decimal" => AnswerValue::Decimal(
            v.as_f64()
                .filter(|n| n.is_finite())
                .ok_or_else(|| err(path, "expected a number"))?,
        ),
        "Integer" => AnswerValue::Integer(
            v.as_i64()
                .filter(|n| i32::try_from(*n).is_ok())
                .ok_or_else(|| err(path, "expected a 32-bit whole number"))?,
        ),
        "Date" => AnswerValue::Date(checked(
            text()?,
            is_fhir_date,
            path,
            "a date (YYYY, YYYY-MM or YYYY-MM-DD)",
        )?),
        "DateTime" => {
            AnswerValue::DateTime(checked(text()?, is_fhir_datetime, path, "a dateTime")?)
        }
        "Time" => AnswerValue::Time(checked(text()?, is_fhir_time, path, "a time (hh:mm:ss)")?),
        "String" => AnswerValue::String(text()?),
        "Uri" | "Url" | "Canonical" => AnswerValue::Uri(text()?),
        "Coding" => {
            let obj = v
                .as_object()
                .ok_or_else(|| err(path, "expected a Coding object"))?;
            let c = coding(obj, path)?;
            if c.code.is_none() && c.display.is_none() {
                return Err(err(path, "a coding needs a code or a display"));
            }
            AnswerValue::Coding(c)
        }
        "Quantity" => {
            let obj = v
                .as_object()
                .ok_or_else(|| err(path, "expected a Quantity object"))?;
            AnswerValue::Quantity(Quantity {
                value: match obj.get("value") {
                    None => None,
                    Some(n) => Some(
                        n.as_f64()
                            .ok_or_else(|| err(path, "value must be a number"))?,
                    ),
                },
                unit: opt_string(obj, "unit", path)?,
                system: opt_string(obj, "system", path)?,
                code: opt_string(obj, "code", path)?,
            })
        }
        "Reference" => {
            let obj = v
                .as_object()
                .ok_or_else(|| err(path, "expected a Reference object"))?;
            AnswerValue::Reference(
                opt_string(obj, "reference", path)?
                    .ok_or_else(|| err(path, "reference is required"))?,
            )
        }
        "Attachment" => {
            let obj = v
                .as_object()
                .ok_or_else(|| err(path, "expected an Attachment object"))?;
            AnswerValue::Attachment(Attachment {
                content_type: opt_string(obj, "contentType", path)?,
                url: opt_string(obj, "url", path)?,
                title: opt_string(obj, "title", path)?,
                size: obj.get("size").and_then(Value::as_u64),
                data: opt_string(obj, "data", path)?,
            })
        }
        other => return Err(err(path, format!("value type '{other}' is not supported"))),
    })
}

fn checked(s: String, ok: fn(&str) -> bool, path: &str, what: &str) -> Result<String, ParseError> {
    if ok(&s) {
        Ok(s)
    } else {
        Err(err(path, format!("'{s}' is not {what}")))
    }
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn is_fhir_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    match parts.as_slice() {
        [y] => digits(y, 4),
        [y, m] => digits(y, 4) && digits(m, 2) && in_range(m, 1, 12),
        [y, m, d] => {
            digits(y, 4) && digits(m, 2) && digits(d, 2) && in_range(m, 1, 12) && in_range(d, 1, 31)
        }
        _ => false,
    }
}

pub(crate) fn is_fhir_time(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [h, m, sec] => {
            let whole = sec.split('.').next().unwrap_or_default();
            digits(h, 2)
                && digits(m, 2)
                && digits(whole, 2)
                && in_range(h, 0, 23)
                && in_range(m, 0, 59)
                && in_range(whole, 0, 60)
        }
        _ => false,
    }
}

pub(crate) fn is_fhir_datetime(s: &str) -> bool {
    match s.split_once('T') {
        None => is_fhir_date(s),
        Some((date, rest)) => {
            let time_end = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
            let (time, zone) = rest.split_at(time_end);
            let zone_ok = zone == "Z"
                || (zone.len() == 6
                    && zone.as_bytes()[3] == b':'
                    && digits(&zone[1..3], 2)
                    && digits(&zone[4..6], 2));
            date.len() == 10 && is_fhir_date(date) && is_fhir_time(time) && zone_ok
        }
    }
}

fn in_range(s: &str, lo: u32, hi: u32) -> bool {
    s.parse::<u32>().is_ok_and(|n| (lo..=hi).contains(&n))
}

/// An answer in words, as an option label shows it.
pub(crate) fn display_value(v: &AnswerValue) -> String {
    match v {
        AnswerValue::Integer(i) => i.to_string(),
        AnswerValue::Decimal(d) => d.to_string(),
        AnswerValue::Date(s)
        | AnswerValue::DateTime(s)
        | AnswerValue::Time(s)
        | AnswerValue::String(s)
        | AnswerValue::Uri(s)
        | AnswerValue::Reference(s) => s.clone(),
        AnswerValue::Boolean(b) => b.to_string(),
        AnswerValue::Coding(c) => c
            .display
            .clone()
            .or_else(|| c.code.clone())
            .unwrap_or_default(),
        AnswerValue::Quantity(q) => format!(
            "{} {}",
            q.value.map(|v| v.to_string()).unwrap_or_default(),
            q.unit.clone().unwrap_or_default()
        )
        .trim()
        .to_owned(),
        AnswerValue::Attachment(a) => a.title.clone().unwrap_or_default(),
    }
}

fn coding(obj: &Map<String, Value>, path: &str) -> Result<Code, ParseError> {
    Ok(Code {
        system: opt_string(obj, "system", path)?,
        code: opt_string(obj, "code", path)?,
        display: opt_string(obj, "display", path)?,
    })
}

fn codings(value: &Value, path: &str) -> Result<Vec<Code>, ParseError> {
    array(value, path)?
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let p = format!("{path}[{i}]");
            coding(
                c.as_object()
                    .ok_or_else(|| err(&p, "expected a Coding object"))?,
                &p,
            )
        })
        .collect()
}

fn extension_list<'a>(obj: &'a Map<String, Value>, path: &str) -> Result<&'a [Value], ParseError> {
    match obj.get("extension") {
        None => Ok(&[]),
        Some(v) => array(v, &format!("{path}.extension")),
    }
}

fn extension<'a>(
    ext: &'a Value,
    path: &str,
) -> Result<(&'a str, &'a Map<String, Value>), ParseError> {
    let e = ext
        .as_object()
        .ok_or_else(|| err(path, "expected an object"))?;
    let url = e
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| err(path, "an extension needs a url"))?;
    Ok((url, e))
}

fn array<'a>(value: &'a Value, path: &str) -> Result<&'a [Value], ParseError> {
    value
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| err(path, "expected an array"))
}

fn opt_string(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, ParseError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(err(&format!("{path}.{key}"), "expected a string")),
    }
}

fn opt_bool(obj: &Map<String, Value>, key: &str, path: &str) -> Result<bool, ParseError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(err(&format!("{path}.{key}"), "expected true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        assert!(is_fhir_date("2026"));
        assert!(is_fhir_date("2026-11"));
        assert!(is_fhir_date("2026-11-23"));
        assert!(!is_fhir_date("2026-13-01"));
        assert!(!is_fhir_date("26-11-23"));
        assert!(is_fhir_time("08:30:00"));
        assert!(!is_fhir_time("8:30"));
        assert!(is_fhir_datetime("2026-11-23T08:30:00Z"));
        assert!(is_fhir_datetime("2026-11-23T08:30:00.123+01:00"));
        assert!(!is_fhir_datetime("2026-11-23T08:30:00"));
    }
}
