//! Observation-based extraction (SDC): the scores of a completed
//! QuestionnaireResponse as FHIR R4 Observations, one per scored scale, so an
//! EHR sees the scores without running a questionnaire engine.
//!
//! Each Observation is a `survey` Observation coded with the LOINC code of
//! its score where LOINC defines one (otherwise CareCycle's score code system,
//! whose codes are the engine's scale ids), valued in UCUM, interpreted with
//! the score's band, and `derivedFrom` the response. Its identifier
//! (`score-of` = `[response id]/[scale id]`) names it uniquely, so extracting
//! the same response again (an amended response) updates it, never adds one.

use crate::ParseError;
use crate::model::Questionnaire;
use crate::response::Response;
use crate::scoring::{self, LOINC, Score, ScoreOutcome};
use serde_json::{Value, json};

/// Identifier system of extracted scores: the value is `[response id]/[scale id]`.
pub use carecycle_fhir::SCORE_OF_SYSTEM;
/// CareCycle's codes for scores LOINC has no code for: the engine's scale ids.
pub use carecycle_fhir::SCORE_SYSTEM;
pub const OBSERVATION_CATEGORY_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/observation-category";
pub const UCUM: &str = "http://unitsofmeasure.org";

/// A score read back from an Observation CareCycle extracted.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    pub response_id: String,
    /// The engine's scale id.
    pub scale: String,
    pub value: f64,
    /// The band's label, as extracted (`interpretation.text`).
    pub band: Option<String>,
    pub effective: Option<String>,
}

/// The identifier value of a response's score on one scale.
pub fn score_of(response_id: &str, scale: &str) -> String {
    format!("{response_id}/{scale}")
}

/// The UCUM code of an engine unit: points and level sums are unitless
/// scores (`{score}`, as LOINC gives for summed instruments), a T-score is
/// annotated as one (`{T-score}`), a percentage is `%`.
pub fn ucum(unit: &str) -> &'static str {
    match unit {
        "%" => "%",
        "T-score points" => "{T-score}",
        _ => "{score}",
    }
}

/// Whether a QuestionnaireResponse (JSON) is one whose scores are extracted.
pub fn is_final(response: &Value) -> bool {
    matches!(response["status"].as_str(), Some("completed" | "amended"))
}

/// Scores a completed or amended response and gives its Observations; none
/// for a response in any other state.
pub fn extract(q: &Questionnaire, response: &Value) -> Result<Vec<Value>, ParseError> {
    if !is_final(response) {
        return Ok(Vec::new());
    }
    let answers = Response::from_fhir(q, response)?;
    Ok(observations(response, &scoring::score(q, &answers)))
}

/// One Observation per scored scale of `response` (JSON, with its `id`);
/// scales that could not be scored give none.
pub fn observations(response: &Value, outcomes: &[ScoreOutcome]) -> Vec<Value> {
    let Some(id) = response["id"].as_str() else {
        return Vec::new();
    };
    outcomes
        .iter()
        .filter_map(|o| match o {
            ScoreOutcome::Scored(s) => Some(observation(id, response, s)),
            _ => None,
        })
        .collect()
}

fn code_of(score: &Score) -> Value {
    let coding = match &score.loinc {
        Some(code) => json!({"system": LOINC, "code": code}),
        None => json!({"system": SCORE_SYSTEM, "code": score.scale}),
    };
    json!({"coding": [coding], "text": score.scale_name})
}

fn observation(response_id: &str, response: &Value, score: &Score) -> Value {
    let mut obs = json!({
        "resourceType": "Observation",
        "identifier": [{"system": SCORE_OF_SYSTEM, "value": score_of(response_id, &score.scale)}],
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY_SYSTEM, "code": "survey", "display": "Survey"}]}],
        "code": code_of(score),
        "valueQuantity": {"value": score.value, "unit": score.unit, "system": UCUM, "code": ucum(&score.unit)},
        "derivedFrom": [{"reference": format!("QuestionnaireResponse/{response_id}")}]
    });
    if let Some(subject) = response.get("subject") {
        obs["subject"] = subject.clone();
    }
    if let Some(authored) = response["authored"].as_str() {
        obs["effectiveDateTime"] = json!(authored);
    }
    if let Some(band) = &score.band {
        obs["interpretation"] = json!([{"text": band.label}]);
    }
    obs
}

/// A score CareCycle extracted, read back from its Observation (JSON): by its
/// `score-of` identifier. `None` for any other Observation, or one without a
/// numeric value.
pub fn read(observation: &Value) -> Option<Extracted> {
    let (response_id, scale) = crate::fhir::identifiers(observation)
        .into_iter()
        .filter(|i| i["system"] == SCORE_OF_SYSTEM)
        .find_map(|i| i["value"].as_str()?.split_once('/'))?;
    if matches!(
        observation["status"].as_str(),
        Some("cancelled" | "entered-in-error")
    ) {
        return None;
    }
    Some(Extracted {
        response_id: response_id.to_owned(),
        scale: scale.to_owned(),
        value: observation["valueQuantity"]["value"].as_f64()?,
        band: observation["interpretation"][0]["text"]
            .as_str()
            .map(str::to_owned),
        effective: observation["effectiveDateTime"].as_str().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::{ItemPath, library};

    /// A completed response to a bundled form, each item answered with the
    /// option at that position (as a patient would tap it).
    fn answered(form: &str, answers: &[(&str, usize)]) -> (Questionnaire, Value) {
        let q = Questionnaire::from_json(form).unwrap();
        let mut r = Response::new(&q);
        for (link_id, position) in answers {
            let value = q.item(link_id).unwrap().options[*position].value.clone();
            r.set_answers(&q, &ItemPath::of(&q, link_id).unwrap(), vec![value])
                .unwrap();
        }
        let mut qr = r.complete(&q, "2026-11-23T10:00:00Z").unwrap();
        qr["id"] = json!("r1");
        qr["subject"] = json!({"reference": "Patient/p1"});
        (q, qr)
    }

    fn only(observations: &[Value]) -> &Value {
        assert_eq!(observations.len(), 1, "{observations:?}");
        &observations[0]
    }

    /// PHQ-9: items 0–3 summed, 10–14 is moderate (Kroenke K, Spitzer RL,
    /// Williams JBW. J Gen Intern Med 2001;16:606–613). LOINC 44261-6 is the
    /// PHQ-9 total score the engine's PHQ-9 definition already names.
    #[test]
    fn a_phq9_total_becomes_one_loinc_coded_survey_observation_kroenke_2001() {
        let links = [
            "/44250-9", "/44255-8", "/44259-0", "/44254-1", "/44251-7", "/44258-2", "/44252-5",
            "/44253-3", "/44260-8",
        ];
        let taps = [2, 2, 2, 2, 1, 1, 0, 0, 0];
        let answers: Vec<(&str, usize)> = links.into_iter().zip(taps).collect();
        let (q, qr) = answered(library::PHQ9, &answers);
        let obs = extract(&q, &qr).unwrap();
        let o = only(&obs);
        assert_eq!(o["status"], "final");
        assert_eq!(o["category"][0]["coding"][0]["code"], "survey");
        assert_eq!(
            o["code"]["coding"],
            json!([{"system": LOINC, "code": "44261-6"}])
        );
        assert_eq!(o["code"]["text"], "Depression symptoms (PHQ-9)");
        assert_eq!(o["subject"]["reference"], "Patient/p1");
        assert_eq!(o["effectiveDateTime"], "2026-11-23T10:00:00Z");
        assert_eq!(
            o["valueQuantity"],
            json!({"value": 10.0, "unit": "points", "system": UCUM, "code": "{score}"})
        );
        assert_eq!(o["interpretation"][0]["text"], "Moderate");
        assert_eq!(o["derivedFrom"][0]["reference"], "QuestionnaireResponse/r1");
        assert_eq!(
            o["identifier"],
            json!([{"system": SCORE_OF_SYSTEM, "value": "r1/phq-9"}])
        );
    }

    /// GAD-7: items 0–3 summed, 15–21 is severe (Spitzer RL, Kroenke K,
    /// Williams JBW, Löwe B. Arch Intern Med 2006;166:1092–1097); LOINC
    /// 70274-6, the GAD-7 total the engine's GAD-7 definition names.
    #[test]
    fn a_gad7_total_is_extracted_with_its_band_spitzer_2006() {
        let answers: Vec<(&str, usize)> = [
            "/69725-0", "/68509-9", "/69733-4", "/69734-2", "/69735-9", "/69689-8", "/69736-7",
        ]
        .into_iter()
        .zip([3, 3, 3, 2, 2, 1, 1])
        .collect();
        let (q, qr) = answered(library::GAD7, &answers);
        let obs = extract(&q, &qr).unwrap();
        let o = only(&obs);
        assert_eq!(o["code"]["coding"][0]["code"], "70274-6");
        assert_eq!(o["valueQuantity"]["value"], 15.0);
        assert_eq!(o["interpretation"][0]["text"], "Severe");
        let back = read(o).unwrap();
        assert_eq!(
            back,
            Extracted {
                response_id: "r1".into(),
                scale: "gad-7".into(),
                value: 15.0,
                band: Some("Severe".into()),
                effective: Some("2026-11-23T10:00:00Z".into()),
            }
        );
        // Extracting again names the same Observation: idempotent by identifier.
        assert_eq!(extract(&q, &qr).unwrap()[0]["identifier"], o["identifier"]);
    }

    #[test]
    fn only_completed_or_amended_responses_with_an_id_are_extracted() {
        let all: Vec<(&str, usize)> = [
            "/69725-0", "/68509-9", "/69733-4", "/69734-2", "/69735-9", "/69689-8", "/69736-7",
        ]
        .into_iter()
        .map(|l| (l, 0))
        .collect();
        let (q, mut qr) = answered(library::GAD7, &all);
        qr["status"] = json!("in-progress");
        assert!(extract(&q, &qr).unwrap().is_empty());
        qr["status"] = json!("amended");
        assert_eq!(extract(&q, &qr).unwrap().len(), 1);
        // Final but unscorable (no answers kept): no Observation.
        qr["item"] = json!([]);
        assert!(extract(&q, &qr).unwrap().is_empty());
        let score = scoring::scale_score("gad-7", 3.0).unwrap();
        let outcome = [ScoreOutcome::Scored(Box::new(score))];
        assert_eq!(observations(&qr, &outcome).len(), 1);
        qr.as_object_mut().unwrap().remove("id");
        assert!(observations(&qr, &outcome).is_empty());
    }

    /// Scores LOINC has no code for (the ODI in CareCycle's engine) carry
    /// CareCycle's score code; T-scores and percentages keep honest UCUM units.
    #[test]
    fn other_codes_and_units() {
        let qr =
            json!({"resourceType": "QuestionnaireResponse", "id": "r2", "status": "completed"});
        let odi = scoring::scale_score("odi", 42.0).unwrap();
        let promis = scoring::scale_score("promis-global-physical", 50.8).unwrap();
        let obs = observations(
            &qr,
            &[
                ScoreOutcome::Scored(Box::new(odi)),
                ScoreOutcome::Scored(Box::new(promis)),
            ],
        );
        assert_eq!(
            obs[0]["code"]["coding"],
            json!([{"system": SCORE_SYSTEM, "code": "odi"}])
        );
        assert_eq!(obs[0]["valueQuantity"]["code"], "%");
        assert_eq!(obs[1]["code"]["coding"][0]["code"], "71971-6");
        assert_eq!(obs[1]["valueQuantity"]["code"], "{T-score}");
        assert_eq!(obs[1]["interpretation"][0]["text"], "Very good");
    }

    #[test]
    fn other_observations_are_not_read_as_scores() {
        assert_eq!(
            read(&json!({"resourceType": "Observation", "status": "final"})),
            None
        );
        let mut o = json!({"identifier": [{"system": SCORE_OF_SYSTEM, "value": "r/phq-9"}],
            "status": "final", "valueQuantity": {"value": 3}});
        assert_eq!(read(&o).map(|e| e.value), Some(3.0));
        o["status"] = json!("entered-in-error");
        assert_eq!(read(&o), None);
    }
}
