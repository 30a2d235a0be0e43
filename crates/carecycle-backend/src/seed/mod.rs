//! Seed data that reads like a real IPU: a knee-osteoarthritis unit with its
//! named team, one demo patient part-way through prehabilitation for a right
//! total knee replacement, and a second IPU and patient that exist to prove
//! isolation. Every date is anchored to the surgery date, which is set 16 days
//! after the day of seeding (in the unit's time zone).
//!
//! One module per unit (`knee`, `breast`), the knee unit's Spanish beside it
//! (`spanish`); here what they share: the anchor, the store writes, the demo
//! sign-ins.

use crate::api::ApiError;
use crate::store::{self, Stamper};
use carecycle_fhir::ResourceType;
use carecycle_fhir::time::format_zoned;
use jiff::ToSpan;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use rusqlite::Connection;
use serde_json::{Value, json};

mod breast;
mod knee;
mod spanish;

use breast::seed_breast_ipu;
use knee::seed_knee_ipu;
use spanish::with_spanish;

pub const DEMO_PATIENT_USERNAME: &str = "eleanor";
pub const DEMO_PATIENT_PASSWORD: &str = "knee-demo-2026";
pub const SECOND_PATIENT_USERNAME: &str = "dana";
pub const SECOND_PATIENT_PASSWORD: &str = "breast-demo-2026";

/// The demo patient's daughter: a family member who sees the schedule and the
/// education documents, not the messages or questionnaires.
pub const PROXY_USERNAME: &str = "claire";
pub const PROXY_PASSWORD: &str = "daughter-demo-2026";
/// Care-team sign-ins of each IPU (for the team's own tools and tests).
pub const KNEE_TEAM_USERNAME: &str = "priya";
pub const KNEE_TEAM_PASSWORD: &str = "knee-team-2026";
pub const BREAST_TEAM_USERNAME: &str = "kenji";
pub const BREAST_TEAM_PASSWORD: &str = "breast-team-2026";
pub const KNEE_ORG_ID: &str = "org-riverside-knee";
pub const BREAST_ORG_ID: &str = "org-lakeshore-breast";

pub const KNEE_IPU_NAME: &str = "Riverside Knee & Hip Unit";
pub const KNEE_IPU_TIME_ZONE: &str = "America/Chicago";
/// Days from the day of seeding to the demo patient's surgery.
pub const DAYS_TO_SURGERY: i64 = 16;

const META_SEEDED: &str = "seed.demo";
pub const META_ORG_NAME: &str = "org.name";

/// Builds dates relative to the surgery day in the unit's time zone.
struct Anchor {
    tz: TimeZone,
    surgery_day: Date,
    /// The care-cycle CarePlan whose planned procedure (the surgery) dates hang on.
    cycle: String,
}

impl Anchor {
    fn at(&self, days: i64, hour: i8, minute: i8) -> String {
        let day = self.surgery_day.saturating_add(days.days());
        let time = Time::new(hour, minute, 0, 0).unwrap_or(Time::midnight());
        day.to_datetime(time)
            .to_zoned(self.tz.clone())
            .map(|z| format_zoned(&z))
            .unwrap_or_default()
    }

    /// `content` dated from the surgery: tagged for the team's tools, which
    /// move it with the surgery, and each date saying in R4's words how it
    /// stands to it (`cqf-relativeDateTime`).
    fn anchored(&self, mut content: Value) -> Value {
        content["meta"] = anchor_tag();
        if let Ok(day) = self.surgery_day.to_zoned(self.tz.clone()) {
            carecycle_fhir::planned::relate(
                &mut content,
                &format!("CarePlan/{}", self.cycle),
                day.timestamp(),
                &self.tz,
            );
        }
        content
    }

    fn day(&self, days: i64) -> String {
        self.surgery_day.saturating_add(days.days()).to_string()
    }
}

fn put(
    conn: &mut Connection,
    stamper: &Stamper,
    t: ResourceType,
    id: &str,
    mut content: Value,
) -> Result<(), ApiError> {
    with_spanish(&mut content);
    let tx = conn.transaction().map_err(ApiError::from_sql)?;
    store::write(&tx, stamper, t, id, content, None)?;
    tx.commit().map_err(ApiError::from_sql)?;
    Ok(())
}

/// Stores a questionnaire response with its scores extracted, as the API does.
fn put_response(
    conn: &mut Connection,
    stamper: &Stamper,
    id: &str,
    content: Value,
) -> Result<(), ApiError> {
    let tx = conn.transaction().map_err(ApiError::from_sql)?;
    let stored = store::write(
        &tx,
        stamper,
        ResourceType::QuestionnaireResponse,
        id,
        content,
        None,
    )?;
    crate::extract::after_write(&tx, stamper, &stored)?;
    tx.commit().map_err(ApiError::from_sql)?;
    Ok(())
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Tag on every resource whose dates hang on the surgery date (moved with it).
pub use carecycle_fhir::DATE_ANCHOR_SYSTEM as ANCHOR_SYSTEM;

fn anchor_tag() -> Value {
    json!({"tag": [carecycle_fhir::published::coding(ANCHOR_SYSTEM, "surgery")]})
}

/// The standard questionnaires every IPU here can assign.
fn seed_questionnaires(conn: &mut Connection, s: &Stamper) -> Result<(), ApiError> {
    for (id, text) in carecycle_prom::library::ALL {
        let mut q: Value = serde_json::from_str(text)
            .map_err(|e| ApiError::Internal(format!("bundled questionnaire {id}: {e}")))?;
        q["id"] = json!(id);
        put(conn, s, ResourceType::Questionnaire, id, q)?;
    }
    Ok(())
}

/// Identifier system shared by the copies of one education document.
pub use carecycle_fhir::EDUCATION_ID_SYSTEM;

/// Seeds the demo data once; a data directory seeded before is left as it is.
/// Who signs in to the one-year record of `--seed year`.
pub const YEAR_PATIENT_USERNAME: &str = "morgan";
pub const YEAR_PATIENT_PASSWORD: &str = "year-demo-2026";
const META_YEAR_SEEDED: &str = "seeded_year";

/// A knee patient with a one-year record from the record generator, once.
pub fn year(conn: &mut Connection, stamper: &Stamper) -> Result<(), ApiError> {
    if store::meta_get(conn, META_YEAR_SEEDED)?.is_some() {
        return Ok(());
    }
    crate::generate::year_record(
        conn,
        stamper,
        YEAR_PATIENT_USERNAME,
        YEAR_PATIENT_PASSWORD,
        crate::generate::RecordSize::YEAR,
        1,
    )?;
    store::meta_set(conn, META_YEAR_SEEDED, "1")?;
    Ok(())
}

pub fn demo(conn: &mut Connection, stamper: &Stamper) -> Result<(), ApiError> {
    if store::meta_get(conn, META_SEEDED)?.is_some() {
        return Ok(());
    }
    let tz = TimeZone::get(KNEE_IPU_TIME_ZONE)
        .map_err(|e| ApiError::Internal(format!("time zone data missing: {e}")))?;
    let today = stamper.clock().now().to_zoned(tz.clone()).date();
    let a = Anchor {
        tz,
        surgery_day: today.saturating_add(DAYS_TO_SURGERY.days()),
        cycle: new_id(),
    };
    seed_knee_ipu(conn, stamper, &a)?;
    seed_breast_ipu(conn, stamper, &a)?;
    store::meta_set(conn, META_SEEDED, &today.to_string())?;
    store::meta_set(conn, META_ORG_NAME, KNEE_IPU_NAME)?;
    Ok(())
}
