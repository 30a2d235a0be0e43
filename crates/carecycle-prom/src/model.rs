//! What a parsed FHIR R4 Questionnaire is to the engine: items with their
//! types, options (with weights), enableWhen conditions, limits and the display
//! hints the UI needs. Built by [`crate::parse`]; read by the response model,
//! the scoring library and the UI (through the app's core).

use serde::Serialize;
use std::collections::HashMap;

/// A questionnaire the engine can run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Questionnaire {
    pub id: Option<String>,
    /// Canonical URL (`Questionnaire.url`), which a response points back to.
    pub url: Option<String>,
    pub version: Option<String>,
    pub name: Option<String>,
    pub title: Option<String>,
    /// The language the form is written in (`Questionnaire.language`), when it says.
    pub language: Option<String>,
    /// `Questionnaire.code` (e.g. LOINC 44249-1 for PHQ-9).
    pub codes: Vec<Code>,
    pub items: Vec<Item>,
    /// Extensions in the form that change behaviour and that the engine does
    /// not carry out (SDC expressions, constraints, …): the form still runs,
    /// and the care team can see what it does not do.
    pub warnings: Vec<ParseWarning>,
    /// SDC `variable`s declared on the questionnaire itself: visible to every
    /// expression in the form.
    pub variables: Vec<Variable>,
    /// The form's FHIRPath expressions, read once when the form is parsed.
    #[serde(skip)]
    pub(crate) compiled: crate::sdc::Compiled,
}

/// An SDC `variable` (<http://hl7.org/fhir/StructureDefinition/variable>): a
/// named FHIRPath expression, visible as `%name` to the expressions of the
/// item it sits on and of that item's descendants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    pub name: String,
    pub expression: String,
}

/// A behaviour-changing extension the engine does not implement, and where it sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParseWarning {
    /// FHIRPath-like location, e.g. `Questionnaire.item[3].extension[0]`.
    pub path: String,
    /// The extension's URL.
    pub extension: String,
    /// What the engine does instead, in plain words for the care team.
    pub message: String,
}

/// A red-flag rule the form declares on one of its items (CareCycle extension
/// `https://carecycle.dev/fhir/StructureDefinition/red-flag`): when an answer
/// to the item meets `operator`/`answer`, the patient sees `guidance` at once
/// and the care team gets `team_flag`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemRedFlag {
    pub operator: Operator,
    /// The value an answer is compared with. A number compared with a coded
    /// answer is compared with that option's weight (`ordinalValue`/`itemWeight`).
    pub answer: AnswerValue,
    pub urgency: crate::red_flags::Urgency,
    pub title: crate::red_flags::Localized,
    pub guidance: crate::red_flags::Localized,
    pub call: Option<crate::red_flags::CallTarget>,
    pub team_flag: String,
}

/// A code from a code system, as the engine compares them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Code {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
}

impl Code {
    /// Two codings mean the same when their codes match and their systems do
    /// not contradict each other (one may leave the system out).
    pub fn same_as(&self, other: &Code) -> bool {
        match (&self.code, &other.code) {
            (Some(a), Some(b)) if a == b => match (&self.system, &other.system) {
                (Some(x), Some(y)) => x == y,
                _ => true,
            },
            (None, None) => self.display.is_some() && self.display == other.display,
            _ => false,
        }
    }

    pub fn is(&self, system: &str, code: &str) -> bool {
        self.code.as_deref() == Some(code) && self.system.as_deref().is_none_or(|s| s == system)
    }
}

/// `Questionnaire.item.type` values the engine supports. `reference` and the
/// abstract `question` are rejected when parsing, with a clear error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemType {
    Group,
    Display,
    Boolean,
    Decimal,
    Integer,
    Date,
    #[serde(rename = "dateTime")]
    DateTime,
    Time,
    String,
    Text,
    Url,
    Choice,
    OpenChoice,
    Quantity,
    Attachment,
}

impl ItemType {
    pub fn from_code(code: &str) -> Option<ItemType> {
        Some(match code {
            "group" => ItemType::Group,
            "display" => ItemType::Display,
            "boolean" => ItemType::Boolean,
            "decimal" => ItemType::Decimal,
            "integer" => ItemType::Integer,
            "date" => ItemType::Date,
            "dateTime" => ItemType::DateTime,
            "time" => ItemType::Time,
            "string" => ItemType::String,
            "text" => ItemType::Text,
            "url" => ItemType::Url,
            "choice" => ItemType::Choice,
            "open-choice" => ItemType::OpenChoice,
            "quantity" => ItemType::Quantity,
            "attachment" => ItemType::Attachment,
            _ => return None,
        })
    }

    /// Whether items of this type take answers.
    pub fn is_question(self) -> bool {
        !matches!(self, ItemType::Group | ItemType::Display)
    }
}

/// One answer value (`answer.value[x]`, `answerOption.value[x]`, `initial.value[x]`,
/// `enableWhen.answer[x]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "camelCase")]
pub enum AnswerValue {
    Boolean(bool),
    Decimal(f64),
    Integer(i64),
    /// FHIR date (YYYY, YYYY-MM or YYYY-MM-DD), as written.
    Date(String),
    DateTime(String),
    /// hh:mm:ss
    Time(String),
    String(String),
    Uri(String),
    Coding(Code),
    Quantity(Quantity),
    Reference(String),
    Attachment(Attachment),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quantity {
    pub value: Option<f64>,
    pub unit: Option<String>,
    pub system: Option<String>,
    pub code: Option<String>,
}

/// An attached file: what the engine needs to check it; the bytes travel separately.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub content_type: Option<String>,
    pub url: Option<String>,
    pub title: Option<String>,
    pub size: Option<u64>,
    /// Base64 data, when inline.
    pub data: Option<String>,
}

impl AnswerValue {
    /// A number for comparisons and ranges, where the value is numeric.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            AnswerValue::Decimal(d) => Some(*d),
            AnswerValue::Integer(i) => Some(*i as f64),
            AnswerValue::Quantity(q) => q.value,
            _ => None,
        }
    }

    /// The FHIR `value[x]` suffix of this value.
    pub fn fhir_suffix(&self) -> &'static str {
        match self {
            AnswerValue::Boolean(_) => "Boolean",
            AnswerValue::Decimal(_) => "Decimal",
            AnswerValue::Integer(_) => "Integer",
            AnswerValue::Date(_) => "Date",
            AnswerValue::DateTime(_) => "DateTime",
            AnswerValue::Time(_) => "Time",
            AnswerValue::String(_) => "String",
            AnswerValue::Uri(_) => "Uri",
            AnswerValue::Coding(_) => "Coding",
            AnswerValue::Quantity(_) => "Quantity",
            AnswerValue::Reference(_) => "Reference",
            AnswerValue::Attachment(_) => "Attachment",
        }
    }

    /// Equality as enableWhen and option checks mean it: codings by code and
    /// system, numbers by value (an integer 2 equals a decimal 2.0).
    pub fn matches(&self, other: &AnswerValue) -> bool {
        match (self, other) {
            (AnswerValue::Coding(a), AnswerValue::Coding(b)) => a.same_as(b),
            (AnswerValue::Quantity(a), AnswerValue::Quantity(b)) => {
                a.value == b.value && (a.code == b.code || a.code.is_none() || b.code.is_none())
            }
            (AnswerValue::Reference(a), AnswerValue::Reference(b)) => a == b,
            _ => match (self.as_number(), other.as_number()) {
                (Some(a), Some(b)) => a == b,
                _ => self == other,
            },
        }
    }

    /// Ordering for enableWhen's `>`, `<`, `>=`, `<=`: numbers, and dates,
    /// times and strings by their text (FHIR's formats sort lexically within a
    /// precision). Other kinds do not order.
    pub fn compare(&self, other: &AnswerValue) -> Option<std::cmp::Ordering> {
        if let (Some(a), Some(b)) = (self.as_number(), other.as_number()) {
            return a.partial_cmp(&b);
        }
        match (self, other) {
            (AnswerValue::Date(a), AnswerValue::Date(b))
            | (AnswerValue::DateTime(a), AnswerValue::DateTime(b))
            | (AnswerValue::Date(a), AnswerValue::DateTime(b))
            | (AnswerValue::DateTime(a), AnswerValue::Date(b))
            | (AnswerValue::Time(a), AnswerValue::Time(b))
            | (AnswerValue::String(a), AnswerValue::String(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

/// One allowed answer of a choice item, with its weight when it has one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerOption {
    pub value: AnswerValue,
    /// The `ordinalValue` or `itemWeight` extension (or the older
    /// `iso21090-CO-value`), from the option or its coding.
    pub weight: Option<f64>,
    pub initial_selected: bool,
    /// Text to show, translated when a translation for the language was given.
    pub label: String,
    pub label_translations: HashMap<String, String>,
}

/// `enableWhen.operator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Operator {
    #[serde(rename = "exists")]
    Exists,
    #[serde(rename = "=")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
    #[serde(rename = ">")]
    Greater,
    #[serde(rename = "<")]
    Less,
    #[serde(rename = ">=")]
    GreaterOrEqual,
    #[serde(rename = "<=")]
    LessOrEqual,
}

impl Operator {
    pub fn from_code(code: &str) -> Option<Operator> {
        Some(match code {
            "exists" => Operator::Exists,
            "=" => Operator::Equal,
            "!=" => Operator::NotEqual,
            ">" => Operator::Greater,
            "<" => Operator::Less,
            ">=" => Operator::GreaterOrEqual,
            "<=" => Operator::LessOrEqual,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnableWhen {
    /// linkId of the question this depends on.
    pub question: String,
    pub operator: Operator,
    pub answer: AnswerValue,
}

/// `enableBehavior`: whether every condition or any one must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EnableBehavior {
    All,
    Any,
}

/// `choiceOrientation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Orientation {
    Horizontal,
    Vertical,
}

/// One item of a questionnaire.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub link_id: String,
    pub item_type: ItemType,
    pub text: Option<String>,
    /// Item text by language code (`translation` extension on `_text`).
    pub text_translations: HashMap<String, String>,
    pub prefix: Option<String>,
    pub codes: Vec<Code>,
    pub required: bool,
    pub repeats: bool,
    pub read_only: bool,
    pub max_length: Option<u32>,
    pub enable_when: Vec<EnableWhen>,
    pub enable_behavior: EnableBehavior,
    pub options: Vec<AnswerOption>,
    pub initial: Vec<AnswerValue>,
    /// `minValue`/`maxValue` extensions, for integer, decimal, date, dateTime, time and quantity items.
    pub min_value: Option<AnswerValue>,
    pub max_value: Option<AnswerValue>,
    /// `questionnaire-hidden`: kept in the response, never shown.
    pub hidden: bool,
    /// `questionnaire-itemControl` code (e.g. `radio-button`, `drop-down`, `slider`).
    pub item_control: Option<String>,
    pub choice_orientation: Option<Orientation>,
    /// `questionnaire-unit` display, for quantities and numbers.
    pub unit: Option<String>,
    /// The SDC `calculatedExpression` (FHIRPath) when the item is calculated,
    /// e.g. a PHQ-9 total score item. A calculated item is never asked of the
    /// patient: it is also marked `read_only`, never counts as a question to
    /// answer, and is never reported as an unanswered required question.
    pub calculated_expression: Option<String>,
    /// SDC `enableWhenExpression`: the item is shown only while it is true
    /// (together with any `enableWhen`).
    pub enable_when_expression: Option<String>,
    /// SDC `initialExpression`: the item's starting value in a new response.
    pub initial_expression: Option<String>,
    /// SDC `answerExpression`: the answers offered are computed (see
    /// [`crate::Response::options`]).
    pub answer_expression: Option<String>,
    /// SDC `variable`s declared on this item (visible to it and its descendants).
    pub variables: Vec<Variable>,
    /// Red-flag rules the form declares on this item.
    pub red_flags: Vec<ItemRedFlag>,
    pub items: Vec<Item>,
}

impl AnswerOption {
    /// The option's text in a language, falling back to the original.
    pub fn label_in(&self, language: &str) -> &str {
        lookup_language(&self.label_translations, language).unwrap_or(&self.label)
    }
}

impl Item {
    /// The item's text in a language, falling back to the original.
    pub fn text_in(&self, language: &str) -> Option<&str> {
        lookup_language(&self.text_translations, language).or(self.text.as_deref())
    }

    /// The language the item's text shows in when asked for in `language`,
    /// when that is not `language`: it has no translation into it and the
    /// form is `written` in another. None: it reads in `language`.
    pub fn text_left_in(&self, language: &str, written: &str) -> Option<String> {
        (self.text.is_some()
            && lookup_language(&self.text_translations, language).is_none()
            && !carecycle_fhir::translation::same_language(written, language))
        .then(|| written.to_owned())
    }

    /// The option whose value matches an answer.
    pub fn option_for(&self, answer: &AnswerValue) -> Option<&AnswerOption> {
        self.options.iter().find(|o| o.value.matches(answer))
    }

    /// Whether the item is calculated by the form (SDC `calculatedExpression`),
    /// so it is shown read-only and never asked.
    pub fn is_calculated(&self) -> bool {
        self.calculated_expression.is_some()
    }

    /// Whether the item carries the code.
    pub fn has_code(&self, system: &str, code: &str) -> bool {
        self.codes.iter().any(|c| c.is(system, code))
    }
}

/// Finds a translation for `language` ("es", "es-MX"), trying the full tag,
/// then its primary language.
pub(crate) fn lookup_language<'a>(
    translations: &'a HashMap<String, String>,
    language: &str,
) -> Option<&'a str> {
    let lower = language.to_ascii_lowercase();
    translations
        .iter()
        .find(|(k, _)| k.to_ascii_lowercase() == lower)
        .or_else(|| {
            let primary = lower.split('-').next().unwrap_or_default();
            translations
                .iter()
                .find(|(k, _)| k.to_ascii_lowercase().split('-').next() == Some(primary))
        })
        .map(|(_, v)| v.as_str())
}

impl Questionnaire {
    /// Every item, depth first, with its ancestors' linkIds.
    pub fn walk(&self) -> Vec<(&Item, Vec<&str>)> {
        fn go<'a>(
            items: &'a [Item],
            ancestors: &mut Vec<&'a str>,
            out: &mut Vec<(&'a Item, Vec<&'a str>)>,
        ) {
            for item in items {
                out.push((item, ancestors.clone()));
                ancestors.push(&item.link_id);
                go(&item.items, ancestors, out);
                ancestors.pop();
            }
        }
        let mut out = Vec::new();
        go(&self.items, &mut Vec::new(), &mut out);
        out
    }

    /// The item with this linkId, at any depth.
    pub fn item(&self, link_id: &str) -> Option<&Item> {
        fn find<'a>(items: &'a [Item], link_id: &str) -> Option<&'a Item> {
            items.iter().find_map(|i| {
                if i.link_id == link_id {
                    Some(i)
                } else {
                    find(&i.items, link_id)
                }
            })
        }
        find(&self.items, link_id)
    }

    /// Whether `Questionnaire.code` carries this code.
    pub fn has_code(&self, system: &str, code: &str) -> bool {
        self.codes.iter().any(|c| c.is(system, code))
    }

    /// The canonical reference a response uses (`url|version` when versioned).
    pub fn canonical(&self) -> Option<String> {
        self.url.as_ref().map(|u| match &self.version {
            Some(v) => format!("{u}|{v}"),
            None => u.clone(),
        })
    }
}
