//! The questionnaire engine for patient-reported outcome measures (PROMs): parses
//! FHIR R4 Questionnaires, keeps a QuestionnaireResponse valid as the patient
//! answers, scores standard instruments as published, and evaluates red flags.
//!
//! It has no I/O and takes no clock: the app's core and the reference back end
//! both use it, and hand in whatever time they need (e.g. `authored`).
//!
//! - [`parse`]: FHIR JSON → [`Questionnaire`] (SDC subset), precise errors.
//! - [`response`]: answers, enableWhen, validation, FHIR QuestionnaireResponse.
//! - [`scoring`]: PHQ-9, GAD-7, PHQ-2, GAD-2, PHQ-4, PROMIS Global Health
//!   v1.2, ODI, 0–10 pain, EQ-5D-5L profile and VAS, recognised by canonical
//!   URL, LOINC codes or title and exact structure; a form's own weighted total
//!   only where the form defines one; KOOS JR/HOOS JR and the -PS short forms
//!   are recognised and reported unsupported.
//! - [`fhirpath`]: a bounded FHIRPath evaluator; SDC `variable`,
//!   `calculatedExpression`, `enableWhenExpression`, `initialExpression` and
//!   `answerExpression` run on it after every change.
//! - [`red_flags`]: configurable rules → urgent guidance and a team flag.
//! - [`extract`]: a completed response's scores as R4 Observations (SDC
//!   observation-based extraction), and those Observations read back.

pub mod extract;
pub mod fhirpath;
pub mod library;
pub mod model;
pub mod parse;
pub mod red_flags;
pub mod response;
pub mod scoring;
mod sdc;
pub mod spanish;

pub use carecycle_fhir as fhir;
pub use model::{
    AnswerOption, AnswerValue, Code, EnableBehavior, Item, ItemRedFlag, ItemType, Operator,
    ParseWarning, Questionnaire, Variable,
};
pub use parse::ParseError;
pub use response::{
    AnswerError, Evaluation, ExpressionFailure, ExpressionKind, ItemPath, Problem, ProblemKind,
    Response, ResponseStatus,
};
pub use scoring::{
    Assessment, Change, ChangeVerdict, Direction, FormScore, Instrument, Recognised, Recognition,
    Score, ScoreOutcome,
};
