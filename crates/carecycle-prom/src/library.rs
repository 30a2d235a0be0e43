//! Standard questionnaires CareCycle ships, as FHIR R4 JSON, for the reference
//! back end to publish and for tests. Their item texts are the instruments'
//! own (PHQ-9 and GAD-7: free to reproduce; PROMIS: free to use; KOOS JR: free
//! for non-commercial use). Spanish texts are given only where an official
//! translation exists in the instrument's public materials (PHQ-9, GAD-7).

pub const PHQ9: &str = include_str!("../questionnaires/phq-9.json");
pub const GAD7: &str = include_str!("../questionnaires/gad-7.json");
pub const PROMIS_GLOBAL_10: &str = include_str!("../questionnaires/promis-global-10.json");
pub const KOOS_JR: &str = include_str!("../questionnaires/koos-jr.json");

/// Every bundled questionnaire: (id, JSON).
pub const ALL: [(&str, &str); 4] = [
    ("phq-9", PHQ9),
    ("gad-7", GAD7),
    ("promis-global-10", PROMIS_GLOBAL_10),
    ("koos-jr", KOOS_JR),
];
