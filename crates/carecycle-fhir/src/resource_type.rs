//! The resource types CareCycle exchanges, and which of them belong to a patient's
//! compartment.

use std::fmt;
use std::str::FromStr;

macro_rules! resource_types {
    ($($variant:ident),+ $(,)?) => {
        /// A FHIR R4 resource type that CareCycle reads or writes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ResourceType { $($variant),+ }

        impl ResourceType {
            pub const ALL: &'static [ResourceType] = &[$(ResourceType::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(ResourceType::$variant => stringify!($variant)),+ }
            }
        }

        impl FromStr for ResourceType {
            type Err = UnknownResourceType;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $(stringify!($variant) => Ok(ResourceType::$variant),)+
                    other => Err(UnknownResourceType(other.to_owned())),
                }
            }
        }
    };
}

resource_types!(
    Patient,
    RelatedPerson,
    Practitioner,
    PractitionerRole,
    Organization,
    HealthcareService,
    CareTeam,
    EpisodeOfCare,
    CarePlan,
    Goal,
    Appointment,
    Task,
    Communication,
    DocumentReference,
    Questionnaire,
    ValueSet,
    CodeSystem,
    StructureDefinition,
    QuestionnaireResponse,
    Observation,
    AuditEvent,
);

/// A name that is not one of [`ResourceType::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("resource type {0:?} is not supported")]
pub struct UnknownResourceType(pub String);

impl ResourceType {
    /// The search parameters that tie a resource of this type to a patient
    /// (FHIR R4 patient compartment definition), `None` for types outside it.
    pub fn patient_compartment_params(self) -> Option<&'static [&'static str]> {
        use ResourceType::*;
        Some(match self {
            Patient => &["_id"],
            RelatedPerson => &["patient"],
            CareTeam => &["patient", "participant"],
            EpisodeOfCare => &["patient"],
            CarePlan => &["patient", "performer"],
            Goal => &["patient"],
            Appointment => &["actor"],
            Task => &["patient"], // R4 has `focus`/`owner`/`requester`; `patient` is the search param on Task.for.
            Communication => &["subject", "sender", "recipient"],
            DocumentReference => &["subject", "author"],
            QuestionnaireResponse => &["subject", "author"],
            Observation => &["subject", "performer"],
            AuditEvent => &["patient"],
            Practitioner | PractitionerRole | Organization | HealthcareService | Questionnaire
            | ValueSet | CodeSystem | StructureDefinition => {
                return None;
            }
        })
    }

    pub fn in_patient_compartment(self) -> bool {
        self.patient_compartment_params().is_some()
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in ResourceType::ALL {
            assert_eq!(t.as_str().parse::<ResourceType>(), Ok(*t));
        }
        assert!("Bundle".parse::<ResourceType>().is_err());
    }

    #[test]
    fn compartment_membership() {
        assert!(ResourceType::CarePlan.in_patient_compartment());
        assert!(!ResourceType::Practitioner.in_patient_compartment());
    }
}
