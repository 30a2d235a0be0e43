//! The questionnaire engine for patient-reported outcome measures (PROMs): parses
//! FHIR R4 Questionnaires, keeps a QuestionnaireResponse valid as the patient
//! answers, scores standard instruments as published, and evaluates red flags.
//!
//! It has no I/O; the app's core and the reference back end both use it. The
//! engine itself is built under its own issue; the walking skeleton only places
//! the crate where the dependency rules (`fhir ← prom ← core`, `fhir ← prom ←
//! backend`) need it.

pub use carecycle_fhir as fhir;
