//! The commands the UI may invoke: each a few lines calling the core.

use carecycle_core::contract::{AppOverview, ProfileSummary, SyncReport, TodayView};
use carecycle_core::{CareCycle, CommandError};
use std::sync::Arc;
use tauri::State;

type Core<'a> = State<'a, Arc<CareCycle>>;

#[tauri::command]
pub async fn app_overview(core: Core<'_>) -> Result<AppOverview, CommandError> {
    Ok(core.overview().await?)
}

#[tauri::command]
pub async fn sign_in(
    core: Core<'_>,
    fhir_base_url: String,
) -> Result<ProfileSummary, CommandError> {
    Ok(core.sign_in(&fhir_base_url).await?)
}

#[tauri::command]
pub async fn sync_now(core: Core<'_>, profile_id: String) -> Result<SyncReport, CommandError> {
    Ok(core.sync(&profile_id).await?)
}

#[tauri::command]
pub async fn today(core: Core<'_>, profile_id: String) -> Result<TodayView, CommandError> {
    Ok(core.today(&profile_id).await?)
}
