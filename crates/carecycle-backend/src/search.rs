//! FHIR R4 search (<http://hl7.org/fhir/R4/search.html>): the parameters each
//! type supports (one table, which the CapabilityStatement is written from),
//! how a request's parameters become a store [`Query`], what `_include` and
//! `_revinclude` point at, and the searchset Bundle.
//!
//! Nothing here decides access: `api` scopes every query to the caller and
//! asks the policy about every match, include and revinclude.

use crate::api::ApiError;
use crate::store::{self, Filter, Prefix, Query, Stored};
use Kind::*;
use ResourceType as T;
use Types::{AllBut, Only};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use carecycle_fhir::time::{FhirDateTime, format_instant};
use carecycle_fhir::{
    Bundle, BundleEntry, BundleLink, EntrySearch, IssueSeverity, LocalReference, OperationOutcome,
    ResourceType,
};
use jiff::tz::TimeZone;
use rusqlite::Connection;
use serde_json::{Value, json};

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;
/// Most resources one `_revinclude` adds to a page.
const MAX_REVINCLUDED: usize = 500;
/// Most bytes of resources one search page carries; the rest follows on the next page.
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// The tag of a resource returned with only some of its elements (R4 search.html#elements).
const SUBSETTED_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";

/// The resource types a parameter is defined on.
#[derive(Debug, Clone, Copy)]
enum Types {
    Only(&'static [ResourceType]),
    AllBut(&'static [ResourceType]),
}

impl Types {
    fn contains(self, t: ResourceType) -> bool {
        match self {
            Types::Only(types) => types.contains(&t),
            Types::AllBut(types) => !types.contains(&t),
        }
    }
}

/// How a search parameter reads a resource (paths are SQLite JSON paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Id,
    LastUpdated,
    /// `identifier`, answered from the identifier index.
    Identifier,
    /// A reference to the patient whose compartment the resource is in,
    /// answered from the compartment column; `path` is followed by `_include`.
    Compartment(&'static str),
    Reference(&'static str),
    /// A reference parameter on a canonical element: the value is a canonical
    /// URL or a `Type/id` whose `url` it is (R4 search.html#reference, canonical).
    CanonicalReference(&'static str),
    Uri(&'static str),
    /// Codings of a CodeableConcept or Coding.
    Token(&'static str),
    /// A primitive `code` or `boolean`.
    Code(&'static str),
    Date(&'static str),
    /// A date parameter on a Period element.
    Period {
        path: &'static str,
        start: &'static str,
        end: &'static str,
    },
}

impl Kind {
    /// The R4 search parameter type.
    fn fhir_type(self) -> &'static str {
        match self {
            Kind::Compartment(_) | Kind::Reference(_) | Kind::CanonicalReference(_) => "reference",
            Kind::Uri(_) => "uri",
            Kind::Id | Kind::Identifier | Kind::Token(_) | Kind::Code(_) => "token",
            Kind::LastUpdated | Kind::Date(_) | Kind::Period { .. } => "date",
        }
    }

    /// The element `_include` and `_revinclude` follow, for reference parameters.
    fn reference_path(self) -> Option<&'static str> {
        match self {
            Kind::Compartment(p) | Kind::Reference(p) | Kind::CanonicalReference(p) => Some(p),
            _ => None,
        }
    }

    /// The element `:missing` asks about.
    fn element(self) -> Option<&'static str> {
        match self {
            Kind::Reference(p)
            | Kind::CanonicalReference(p)
            | Kind::Uri(p)
            | Kind::Token(p)
            | Kind::Code(p)
            | Kind::Date(p)
            | Kind::Period { path: p, .. } => Some(p),
            Kind::Id | Kind::LastUpdated | Kind::Identifier | Kind::Compartment(_) => None,
        }
    }
}

struct Param {
    name: &'static str,
    types: Types,
    kind: Kind,
}

const fn param_def(name: &'static str, types: Types, kind: Kind) -> Param {
    Param { name, types, kind }
}

/// Every search parameter this server applies, each as R4 (4.0.1) defines it
/// for that type (the "Search Parameters" table of each resource's page).
const PARAMS: &[Param] = &[
    param_def("_id", AllBut(&[]), Id),
    param_def("_lastUpdated", AllBut(&[]), LastUpdated),
    // R4 AuditEvent has no identifier.
    param_def("identifier", AllBut(&[T::AuditEvent]), Identifier),
    // R4 defines `status` on these; Patient, Practitioner, Organization,
    // HealthcareService, PractitionerRole and RelatedPerson have `active`, Goal
    // `lifecycle-status`.
    param_def(
        "status",
        AllBut(&[
            T::Patient,
            T::RelatedPerson,
            T::Practitioner,
            T::PractitionerRole,
            T::Organization,
            T::HealthcareService,
            T::Goal,
            T::AuditEvent,
        ]),
        Code("$.status"),
    ),
    param_def(
        "active",
        Only(&[
            T::Patient,
            T::RelatedPerson,
            T::Practitioner,
            T::PractitionerRole,
            T::Organization,
            T::HealthcareService,
        ]),
        Code("$.active"),
    ),
    param_def(
        "lifecycle-status",
        Only(&[T::Goal]),
        Code("$.lifecycleStatus"),
    ),
    param_def(
        "patient",
        Only(&[T::RelatedPerson, T::EpisodeOfCare]),
        Compartment("$.patient"),
    ),
    param_def(
        "patient",
        Only(&[
            T::CareTeam,
            T::CarePlan,
            T::Goal,
            T::Communication,
            T::DocumentReference,
            T::QuestionnaireResponse,
            T::Observation,
        ]),
        Compartment("$.subject"),
    ),
    param_def("patient", Only(&[T::Task]), Compartment("$.for")),
    param_def(
        "patient",
        Only(&[T::Appointment]),
        Compartment("$.participant"),
    ),
    param_def("patient", Only(&[T::AuditEvent]), Compartment("$.entity")),
    param_def(
        "subject",
        Only(&[
            T::CareTeam,
            T::CarePlan,
            T::Communication,
            T::DocumentReference,
            T::QuestionnaireResponse,
            T::Observation,
        ]),
        Compartment("$.subject"),
    ),
    param_def("subject", Only(&[T::Task]), Compartment("$.for")),
    param_def(
        "actor",
        Only(&[T::Appointment]),
        Compartment("$.participant"),
    ),
    param_def(
        "category",
        Only(&[
            T::Communication,
            T::CarePlan,
            T::DocumentReference,
            T::Observation,
        ]),
        Token("$.category"),
    ),
    param_def(
        "part-of",
        Only(&[T::Communication, T::CarePlan]),
        Reference("$.partOf"),
    ),
    param_def("sent", Only(&[T::Communication]), Date("$.sent")),
    param_def(
        "based-on",
        Only(&[
            T::Task,
            T::Appointment,
            T::Communication,
            T::CarePlan,
            T::QuestionnaireResponse,
            T::Observation,
        ]),
        Reference("$.basedOn"),
    ),
    param_def(
        "focus",
        Only(&[T::Task, T::Observation]),
        Reference("$.focus"),
    ),
    param_def("owner", Only(&[T::Task]), Reference("$.owner")),
    param_def("code", Only(&[T::Task, T::Observation]), Token("$.code")),
    param_def(
        "derived-from",
        Only(&[T::Observation]),
        Reference("$.derivedFrom"),
    ),
    param_def(
        "questionnaire",
        Only(&[T::QuestionnaireResponse]),
        CanonicalReference("$.questionnaire"),
    ),
    param_def(
        "url",
        Only(&[
            T::Questionnaire,
            T::ValueSet,
            T::CodeSystem,
            T::StructureDefinition,
        ]),
        Uri("$.url"),
    ),
    param_def("date", Only(&[T::Appointment]), Date("$.start")),
    param_def("date", Only(&[T::Observation]), Date("$.effectiveDateTime")),
    param_def(
        "authored",
        Only(&[T::QuestionnaireResponse]),
        Date("$.authored"),
    ),
    // R4 Task-period: Task.executionPeriod (not the restriction period).
    param_def(
        "period",
        Only(&[T::Task]),
        Period {
            path: "$.executionPeriod",
            start: "$.executionPeriod.start",
            end: "$.executionPeriod.end",
        },
    ),
    param_def(
        "organization",
        Only(&[T::EpisodeOfCare]),
        Reference("$.managingOrganization"),
    ),
    param_def(
        "organization",
        Only(&[T::PractitionerRole]),
        Reference("$.organization"),
    ),
    param_def(
        "organization",
        Only(&[T::HealthcareService]),
        Reference("$.providedBy"),
    ),
    param_def(
        "practitioner",
        Only(&[T::PractitionerRole]),
        Reference("$.practitioner"),
    ),
];

/// The search parameter `name` of type `t`, when this server applies it.
pub(crate) fn param(t: ResourceType, name: &str) -> Option<Kind> {
    PARAMS
        .iter()
        .find(|p| p.name == name && p.types.contains(t))
        .map(|p| p.kind)
}

/// The parameters of type `t`, in table order.
fn params_of(t: ResourceType) -> impl Iterator<Item = (&'static str, Kind)> {
    PARAMS
        .iter()
        .filter(move |p| p.types.contains(t))
        .map(|p| (p.name, p.kind))
}

/// `Source:param` for every reference parameter of every type: what `_revinclude` accepts.
fn reverse_includes() -> Vec<String> {
    ResourceType::ALL
        .iter()
        .flat_map(|s| {
            params_of(*s)
                .filter(|(_, k)| k.reference_path().is_some())
                .map(move |(n, _)| format!("{s}:{n}"))
        })
        .collect()
}

/// A type's `searchParam`, `searchInclude` and `searchRevInclude` in the
/// CapabilityStatement: exactly the table above.
pub(crate) fn capability(t: ResourceType) -> Value {
    let params: Vec<Value> = params_of(t)
        .map(|(name, kind)| json!({"name": name, "type": kind.fhir_type()}))
        .collect();
    let includes: Vec<String> = params_of(t)
        .filter(|(_, k)| k.reference_path().is_some())
        .map(|(n, _)| format!("{t}:{n}"))
        .collect();
    json!({
        "searchParam": params,
        "searchInclude": includes,
        "searchRevInclude": reverse_includes(),
    })
}

/// `_include=Task:focus[:Questionnaire]`: the element to follow and the target type wanted.
#[derive(Debug, Clone)]
pub(crate) struct Include {
    path: &'static str,
    target: Option<ResourceType>,
}

/// `_revinclude=Task:focus`: resources of `source` whose parameter points at a match.
#[derive(Debug, Clone)]
pub(crate) struct RevInclude {
    pub source: ResourceType,
    kind: Kind,
}

/// A search request, parsed and checked against what this server supports.
#[derive(Debug, Default)]
pub(crate) struct SearchRequest {
    pub query: Query,
    /// The patient a compartment parameter (`patient`, `subject`, `actor`) names.
    pub requested_patient: Option<String>,
    pub includes: Vec<Include>,
    pub revincludes: Vec<RevInclude>,
    /// `_summary=count`: the total only.
    pub count_only: bool,
    /// `_elements`: the only elements of the matches to return.
    elements: Option<Vec<String>>,
    /// The parameters applied, as the self link shows them.
    applied: Vec<(String, String)>,
    /// Why each ignored parameter was ignored (lenient handling).
    ignored: Vec<String>,
}

/// What became of one parameter.
enum Handled {
    Applied,
    /// The paging cursor: applied, and shown only as the page's own position.
    Paging,
    Unsupported(String),
}

/// The name=value pairs of a query string or form body.
pub(crate) fn pairs(encoded: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(encoded).into_owned().collect()
}

/// Parses a search. An unknown or unsupported parameter or modifier is a 400
/// under `Prefer: handling=strict` and otherwise ignored, said in the Bundle
/// and left out of its self link (R4 search.html#errors).
pub(crate) fn parse(
    t: ResourceType,
    params: &[(String, String)],
    strict: bool,
) -> Result<SearchRequest, ApiError> {
    let mut req = SearchRequest {
        query: Query {
            count: DEFAULT_PAGE,
            ..Default::default()
        },
        ..Default::default()
    };
    for (name, value) in params {
        match req.apply(t, name, value)? {
            Handled::Applied => req.applied.push((name.clone(), value.clone())),
            Handled::Paging => {}
            Handled::Unsupported(why) if strict => return Err(ApiError::BadRequest(why)),
            Handled::Unsupported(why) => req.ignored.push(why),
        }
    }
    if req.count_only {
        req.query.count = 0;
        req.query.total = store::Total::Accurate;
    }
    Ok(req)
}

impl SearchRequest {
    fn apply(&mut self, t: ResourceType, name: &str, value: &str) -> Result<Handled, ApiError> {
        let (base, modifier) = match name.split_once(':') {
            Some((base, modifier)) => (base, Some(modifier)),
            None => (name, None),
        };
        let Some(kind) = param(t, base) else {
            return self.result_param(t, base, modifier, value);
        };
        let filter = match (modifier, kind.element(), kind) {
            (None, _, _) => {
                self.filter(kind, value)?;
                return Ok(Handled::Applied);
            }
            // R4 search.html#modifiers: `:missing=true|false` on any parameter with an element.
            (Some("missing"), Some(path), _) => Filter::Missing {
                path,
                missing: match value {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::BadRequest(format!(
                            "{name} must be true or false"
                        )));
                    }
                },
            },
            // R4 search.html#token: `:not` is a token modifier, and matches
            // resources without the element too.
            (Some("not"), _, Token(path)) => Filter::Not(Box::new(token_filter(path, value))),
            (Some("not"), _, Code(path)) => Filter::Not(Box::new(code_values(path, value))),
            (Some(m), _, _) => {
                return Ok(Handled::Unsupported(format!(
                    "the modifier :{m} of search parameter {base} is not supported on {t}"
                )));
            }
        };
        self.query.filters.push(filter);
        Ok(Handled::Applied)
    }

    /// A parameter without a modifier, from the table.
    fn filter(&mut self, kind: Kind, value: &str) -> Result<(), ApiError> {
        let q = &mut self.query;
        match kind {
            Id => q.ids = Some(value.split(',').map(str::to_owned).collect()),
            LastUpdated => q.last_updated.push(parse_last_updated(value)?),
            Identifier => q.identifier = Some(split_token(value)),
            Compartment(_) => {
                let r = LocalReference::parse_search_value(value, ResourceType::Patient)
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                if r.resource_type != ResourceType::Patient {
                    return Err(ApiError::BadRequest(format!("{value} must name a Patient")));
                }
                self.requested_patient = Some(r.id);
            }
            Reference(path) => q.filters.push(Filter::Reference {
                path,
                values: split(value),
            }),
            CanonicalReference(path) => q.filters.push(canonical_reference(path, value)),
            Uri(path) => q.filters.push(Filter::Canonical {
                path,
                values: split(value),
            }),
            Token(path) => q.filters.push(token_filter(path, value)),
            Code(path) => q.filters.push(code_values(path, value)),
            Date(path) => q.filters.extend(date_filter(path, value)?),
            Period { path, start, end } => {
                q.filters.extend(period_filter(path, start, end, value)?)
            }
        }
        Ok(())
    }

    /// The search result parameters (R4 search.html#return) and `_format`.
    fn result_param(
        &mut self,
        t: ResourceType,
        name: &str,
        modifier: Option<&str>,
        value: &str,
    ) -> Result<Handled, ApiError> {
        let unsupported = |what: String| Ok(Handled::Unsupported(what));
        if let Some(m) = modifier {
            return unsupported(format!("{name}:{m} is not supported on {t}"));
        }
        let q = &mut self.query;
        match name {
            "_count" => {
                q.count = value
                    .parse::<usize>()
                    .map_err(|_| ApiError::BadRequest("_count must be a whole number".into()))?
                    .clamp(1, MAX_PAGE)
            }
            "_cursor" => {
                q.after = Some(decode_cursor(value)?);
                return Ok(Handled::Paging);
            }
            "_sort" => match value {
                "_lastUpdated" => q.descending = false,
                "-_lastUpdated" => q.descending = true,
                _ => {
                    return unsupported(format!(
                        "_sort={value} is not supported (only _lastUpdated or -_lastUpdated)"
                    ));
                }
            },
            "_include" => match parse_include(t, value) {
                Some(include) => self.includes.push(include),
                None => return unsupported(format!("_include={value} is not supported")),
            },
            "_revinclude" => match parse_revinclude(t, value) {
                Some(Some(rev)) => self.revincludes.push(rev),
                // A target type other than `t`: nothing can point at a match.
                Some(None) => {}
                None => return unsupported(format!("_revinclude={value} is not supported")),
            },
            "_summary" => match value {
                "count" => self.count_only = true,
                "false" => {}
                _ => return unsupported(format!("_summary={value} is not supported")),
            },
            "_elements" => self.elements = Some(parse_elements(value)?),
            // R4 makes Bundle.total optional: it is counted only when asked
            // for, and otherwise given when the page holds every match.
            "_total" if matches!(value, "none" | "estimate" | "accurate") => {
                self.query.total = match value {
                    "accurate" => store::Total::Accurate,
                    "none" => store::Total::None,
                    _ => store::Total::WhenKnown,
                };
            }
            "_format" if !crate::guard::is_json_format(value) => {
                return Err(ApiError::NotAcceptable(format!(
                    "_format={value} is not supported; this server speaks application/fhir+json"
                )));
            }
            "_format" => {}
            _ => return unsupported(format!("search parameter {name} is not supported on {t}")),
        }
        Ok(Handled::Applied)
    }
}

fn split(value: &str) -> Vec<String> {
    value.split(',').map(str::to_owned).collect()
}

/// `system|value` → (Some(system), value); `value` → (None, value).
pub(crate) fn split_token(token: &str) -> (Option<String>, String) {
    match token.split_once('|') {
        Some((system, value)) => (Some(system.to_owned()), value.to_owned()),
        None => (None, token.to_owned()),
    }
}

/// One filter that holds when any of `filters` does.
fn any_of(mut filters: Vec<Filter>) -> Filter {
    if filters.len() == 1 {
        filters.remove(0)
    } else {
        Filter::AnyOf(filters)
    }
}

/// A token search on Codings, each comma-separated value an alternative (R4 search.html#token).
fn token_filter(path: &'static str, value: &str) -> Filter {
    any_of(
        value
            .split(',')
            .map(|v| {
                let (system, code) = split_token(v);
                Filter::Token {
                    path,
                    system: system.filter(|s| !s.is_empty()),
                    code,
                }
            })
            .collect(),
    )
}

/// A token search on a primitive code, whose system the element implies.
fn code_values(path: &'static str, value: &str) -> Filter {
    Filter::Code {
        path,
        values: value.split(',').map(|v| split_token(v).1).collect(),
    }
}

/// `questionnaire=https://…/phq-9|2.0` or `questionnaire=Questionnaire/phq-9`.
fn canonical_reference(path: &'static str, value: &str) -> Filter {
    any_of(
        value
            .split(',')
            .map(|v| match LocalReference::parse(v, None) {
                Ok(r) => Filter::CanonicalOf {
                    path,
                    target: r.resource_type,
                    ids: vec![r.id],
                },
                Err(_) => Filter::Canonical {
                    path,
                    values: vec![v.to_owned()],
                },
            })
            .collect(),
    )
}

fn prefixed(value: &str) -> (&str, &str) {
    match value.get(..2) {
        Some(p @ ("gt" | "ge" | "lt" | "le" | "eq")) => (p, &value[2..]),
        _ => ("eq", value),
    }
}

pub(crate) fn parse_last_updated(value: &str) -> Result<(Prefix, String), ApiError> {
    let (prefix, rest) = prefixed(value);
    let prefix = match prefix {
        "gt" => Prefix::Gt,
        "ge" => Prefix::Ge,
        "lt" => Prefix::Lt,
        "le" => Prefix::Le,
        _ => Prefix::Eq,
    };
    let when = FhirDateTime::parse(rest).map_err(|_| {
        ApiError::BadRequest(format!("_lastUpdated {value:?} is not a date or instant"))
    })?;
    Ok((prefix, format_instant(when.start_instant(&TimeZone::UTC))))
}

/// `ge2026-11-01` → the SQL comparisons; a day means the whole day (UTC)
/// (R4 search.html#date: the search value is a range).
fn date_filter(path: &'static str, value: &str) -> Result<Vec<Filter>, ApiError> {
    let (prefix, rest) = prefixed(value);
    let when = FhirDateTime::parse(rest)
        .map_err(|_| ApiError::BadRequest(format!("{value:?} is not a date or instant")))?;
    let lo = when.start_instant(&TimeZone::UTC);
    let hi = match when {
        FhirDateTime::Date(d) => d
            .tomorrow()
            .ok()
            .and_then(|t| t.to_zoned(TimeZone::UTC).ok())
            .map(|z| z.timestamp())
            .unwrap_or(lo),
        FhirDateTime::DateTime(_) => lo,
    };
    let f = |op: &'static str, at: jiff::Timestamp| Filter::Date {
        path,
        op,
        instant: format_instant(at),
    };
    let point = lo == hi;
    Ok(match prefix {
        "gt" => vec![if point { f(">", lo) } else { f(">=", hi) }],
        "ge" => vec![f(">=", lo)],
        "lt" => vec![f("<", lo)],
        "le" => vec![if point { f("<=", lo) } else { f("<", hi) }],
        _ if point => vec![f("=", lo)],
        _ => vec![f(">=", lo), f("<", hi)],
    })
}

/// A date search on a Period (R4 search.html#date): `eq` wants the period
/// inside the value; `gt`/`ge` a period reaching past it (an open end does),
/// `lt`/`le` one starting before it (an open start does).
fn period_filter(
    path: &'static str,
    start: &'static str,
    end: &'static str,
    value: &str,
) -> Result<Vec<Filter>, ApiError> {
    let (prefix, rest) = prefixed(value);
    let open = |bound: &'static str| -> Result<Vec<Filter>, ApiError> {
        let mut alternatives = vec![Filter::Missing {
            path: bound,
            missing: true,
        }];
        alternatives.extend(date_filter(bound, value)?);
        Ok(vec![
            Filter::Missing {
                path,
                missing: false,
            },
            any_of(alternatives),
        ])
    };
    match prefix {
        "gt" | "ge" => open(end),
        "lt" | "le" => open(start),
        _ => {
            let mut inside = date_filter(start, &format!("ge{rest}"))?;
            inside.extend(date_filter(end, &format!("le{rest}"))?);
            Ok(inside)
        }
    }
}

/// `Task:focus[:Questionnaire]` → the type, the reference parameter and the target type.
fn parse_reference_param(value: &str) -> Option<(ResourceType, Kind, Option<ResourceType>)> {
    let mut parts = value.split(':');
    let source: ResourceType = parts.next()?.parse().ok()?;
    let kind = param(source, parts.next()?)?;
    kind.reference_path()?;
    let target = match parts.next() {
        Some(t) => Some(t.parse().ok()?),
        None => None,
    };
    parts.next().is_none().then_some((source, kind, target))
}

/// `_include=Task:focus[:Type]` on a search of Task (R4 search.html#include).
fn parse_include(t: ResourceType, value: &str) -> Option<Include> {
    let (source, kind, target) = parse_reference_param(value)?;
    (source == t).then_some(Include {
        path: kind.reference_path()?,
        target,
    })
}

/// `_revinclude=Task:focus[:Type]`; `Some(None)` when its target type is not `t`.
fn parse_revinclude(t: ResourceType, value: &str) -> Option<Option<RevInclude>> {
    let (source, kind, target) = parse_reference_param(value)?;
    Some(
        target
            .is_none_or(|x| x == t)
            .then_some(RevInclude { source, kind }),
    )
}

fn parse_elements(value: &str) -> Result<Vec<String>, ApiError> {
    value
        .split(',')
        .map(|e| {
            let ok = e.starts_with(|c: char| c.is_ascii_alphabetic())
                && e.chars().all(|c| c.is_ascii_alphanumeric());
            ok.then(|| e.to_owned()).ok_or_else(|| {
                ApiError::BadRequest(format!("_elements: {e:?} is not an element name"))
            })
        })
        .collect()
}

pub(crate) fn encode_cursor(after: &(String, String)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", after.0, after.1))
}

fn decode_cursor(cursor: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::BadRequest("the paging cursor is not valid".into());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (lu, id) = text.split_once('|').ok_or_else(bad)?;
    Ok((lu.to_owned(), id.to_owned()))
}

/// Ends a page early when its resources pass [`MAX_PAGE_BYTES`] (at least one
/// resource per page), so the `next` link continues from the last one sent.
pub(crate) fn bound_page_bytes(page: &mut store::Page) {
    let mut bytes = 0;
    let keep = page
        .resources
        .iter()
        .position(|r| {
            bytes += serde_json::to_vec(&r.content).map_or(0, |v| v.len());
            bytes > MAX_PAGE_BYTES
        })
        .map(|i| i.max(1));
    if let Some(keep) = keep
        && keep < page.resources.len()
    {
        page.resources.truncate(keep);
        page.next_after = page
            .resources
            .last()
            .map(|r| (r.last_updated.clone(), r.id.clone()));
    }
}

/// The resources `stored` points at through `include` (references `Type/id`
/// and canonicals of Questionnaires), whoever may see them: the caller judges.
pub(crate) fn follow(
    conn: &Connection,
    stored: &Stored,
    include: &Include,
) -> Result<Vec<Stored>, ApiError> {
    let pointer = include.path.trim_start_matches("$.").replace('.', "/");
    let mut targets = Vec::new();
    let mut stack: Vec<&Value> = stored
        .content
        .pointer(&format!("/{pointer}"))
        .into_iter()
        .collect();
    while let Some(x) = stack.pop() {
        match x {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("reference") {
                    targets.push(r.clone());
                }
                stack.extend(m.values());
            }
            Value::Array(a) => stack.extend(a.iter()),
            Value::String(s)
                if s.contains("/Questionnaire/") || s.starts_with("Questionnaire/") =>
            {
                targets.push(s.clone())
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for target in targets {
        if let Some(found) = resolve(conn, &target)?
            && include.target.is_none_or(|t| t == found.resource_type)
        {
            out.push(found);
        }
    }
    Ok(out)
}

/// A reference `Type/id`, or the Questionnaire whose canonical URL this is.
fn resolve(conn: &Connection, target: &str) -> Result<Option<Stored>, ApiError> {
    let canonical = target.split('|').next().unwrap_or(target);
    if let Ok(r) = LocalReference::parse(canonical, None) {
        return Ok(store::read(conn, r.resource_type, &r.id)?);
    }
    let query = Query {
        count: 1,
        filters: vec![Filter::Canonical {
            path: "$.url",
            values: vec![canonical.to_owned()],
        }],
        ..Default::default()
    };
    Ok(store::search(conn, ResourceType::Questionnaire, &query)?
        .resources
        .into_iter()
        .next())
}

/// The query for resources of `rev.source` pointing at any of `matches` (of
/// type `t`), before the caller's reach narrows it; `None` when there are none.
pub(crate) fn revinclude_query(
    t: ResourceType,
    rev: &RevInclude,
    matches: &[Stored],
) -> Option<Query> {
    if matches.is_empty() {
        return None;
    }
    let ids = matches.iter().map(|m| m.id.clone());
    let filter = match rev.kind {
        CanonicalReference(path) => Filter::CanonicalOf {
            path,
            target: t,
            ids: ids.collect(),
        },
        kind => Filter::Reference {
            path: kind.reference_path()?,
            values: ids.map(|id| format!("{t}/{id}")).collect(),
        },
    };
    Some(Query {
        count: MAX_REVINCLUDED,
        filters: vec![filter],
        ..Default::default()
    })
}

/// What a search found and the caller may see.
pub(crate) struct Found {
    pub page: store::Page,
    pub included: Vec<Stored>,
}

/// The searchset Bundle: links with exactly the parameters applied, the
/// matches (`_elements` applied), the included resources, and an
/// OperationOutcome (search mode `outcome`) naming what was ignored.
pub(crate) fn bundle(base: &str, t: ResourceType, req: &SearchRequest, found: Found) -> Bundle {
    let link = |relation: &str, cursor: Option<&(String, String)>| {
        let mut all = req.applied.clone();
        all.extend(cursor.map(|c| ("_cursor".to_owned(), encode_cursor(c))));
        let mut url = format!("{base}/{t}");
        if !all.is_empty() {
            url.push('?');
            url.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(all)
                    .finish(),
            );
        }
        BundleLink {
            relation: relation.into(),
            url,
        }
    };
    let mut bundle = Bundle::new("searchset");
    bundle.id = Some(uuid::Uuid::new_v4().to_string());
    bundle.total = found.page.total;
    bundle.link.push(link("self", req.query.after.as_ref()));
    if let Some(after) = &found.page.next_after {
        bundle.link.push(link("next", Some(after)));
    }
    let entry = |r: Stored, mode: &str| {
        let url = format!("{base}/{}/{}", r.resource_type, r.id);
        let content = match (&req.elements, mode) {
            (Some(elements), "match") => subset(r.content, elements),
            _ => r.content,
        };
        search_entry(url, content, mode)
    };
    bundle.entry = found
        .page
        .resources
        .into_iter()
        .map(|r| entry(r, "match"))
        .chain(found.included.into_iter().map(|r| entry(r, "include")))
        .chain(outcome(&req.ignored))
        .collect();
    bundle
}

fn search_entry(full_url: String, resource: Value, mode: &str) -> BundleEntry {
    BundleEntry {
        full_url: Some(full_url),
        resource: Some(resource),
        search: Some(EntrySearch {
            mode: Some(mode.into()),
        }),
        ..Default::default()
    }
}

/// One warning per ignored parameter, as an entry with search mode `outcome`.
fn outcome(ignored: &[String]) -> Option<BundleEntry> {
    let (first, rest) = ignored.split_first()?;
    let mut outcome = OperationOutcome::single(IssueSeverity::Warning, "not-supported", first);
    for why in rest {
        let mut issue = outcome.issue[0].clone();
        issue.diagnostics = Some(why.clone());
        outcome.issue.push(issue);
    }
    let resource = serde_json::to_value(outcome).ok()?;
    let url = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    Some(search_entry(url, resource, "outcome"))
}

/// Only the elements asked for, with what identifies the resource, tagged
/// SUBSETTED so that nobody stores it as the whole (R4 search.html#elements).
fn subset(mut content: Value, elements: &[String]) -> Value {
    if let Some(map) = content.as_object_mut() {
        map.retain(|k, _| {
            matches!(k.as_str(), "resourceType" | "id" | "meta") || elements.iter().any(|e| e == k)
        });
        let meta = map.entry("meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            let tags = meta.entry("tag").or_insert_with(|| json!([]));
            if let Some(tags) = tags.as_array_mut() {
                tags.push(json!({"system": SUBSETTED_SYSTEM, "code": "SUBSETTED"}));
            }
        }
    }
    content
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_parameters_are_unique_per_type() {
        for t in ResourceType::ALL {
            let mut names: Vec<&str> = params_of(*t).map(|(n, _)| n).collect();
            let all = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), all, "{t} declares a parameter twice");
        }
    }

    #[test]
    fn not_r4_parameters_are_gone() {
        for t in [
            T::Patient,
            T::Practitioner,
            T::Organization,
            T::Goal,
            T::AuditEvent,
        ] {
            assert!(param(t, "status").is_none(), "{t}");
        }
        assert!(param(T::Patient, "active").is_some());
        assert!(param(T::CareTeam, "organization").is_none());
        assert!(param(T::Communication, "in-response-to").is_none());
        assert!(param(T::Communication, "topic").is_none());
        assert_eq!(
            param(T::QuestionnaireResponse, "questionnaire").map(|k| k.fhir_type()),
            Some("reference")
        );
    }

    #[test]
    fn lenient_and_strict_handling() {
        let params = vec![
            ("status:not".to_owned(), "completed".to_owned()),
            ("focus:Questionnaire.url".to_owned(), "x".to_owned()),
        ];
        let lenient = parse(T::Task, &params, false).unwrap();
        assert_eq!(lenient.applied.len(), 1);
        assert_eq!(lenient.ignored.len(), 1);
        assert!(lenient.ignored[0].contains("focus"));
        let strict = parse(T::Task, &params, true).unwrap_err();
        assert!(
            strict.to_string().contains(":Questionnaire.url"),
            "{strict}"
        );
    }

    #[test]
    fn includes_name_a_reference_parameter_of_the_type() {
        assert!(parse_include(T::Task, "Task:focus").is_some());
        assert!(parse_include(T::Task, "Task:focus:Questionnaire").is_some());
        assert!(parse_include(T::Task, "Task:code").is_none());
        assert!(parse_include(T::Task, "Communication:part-of").is_none());
        assert!(parse_revinclude(T::Communication, "Task:focus").is_some());
        assert!(matches!(
            parse_revinclude(T::Communication, "Task:focus:Patient"),
            Some(None)
        ));
        assert!(parse_revinclude(T::Communication, "Task:nothing").is_none());
    }
}
