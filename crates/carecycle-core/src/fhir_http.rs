//! The executor's HTTP side: authenticated FHIR requests for one profile, with
//! one refresh-and-retry on 401. New tokens are written to the keyring before
//! they are used, because the server has already spent the old refresh token.

use crate::error::{CoreError, Result};
use crate::secrets::{SecretKind, Vault};
use crate::smart::{self, TokenSet};
use carecycle_fhir::time::Clock;
use carecycle_fhir::{FHIR_JSON, OperationOutcome};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::Mutex;

#[derive(Debug)]
pub struct FhirSession {
    http: reqwest::Client,
    base: String,
    profile_id: String,
    vault: Vault,
    clock: Arc<dyn Clock>,
    tokens: Mutex<Option<TokenSet>>,
}

impl FhirSession {
    pub fn new(
        http: reqwest::Client,
        base: &str,
        profile_id: &str,
        vault: Vault,
        clock: Arc<dyn Clock>,
    ) -> FhirSession {
        FhirSession {
            http,
            base: base.trim_end_matches('/').to_owned(),
            profile_id: profile_id.to_owned(),
            vault,
            clock,
            tokens: Mutex::new(None),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn current_tokens(&self) -> Result<TokenSet> {
        let mut guard = self.tokens.lock().await;
        if guard.is_none() {
            *guard = Some(load_tokens(&self.vault, &self.profile_id)?);
        }
        guard.clone().ok_or(CoreError::NotSignedIn)
    }

    async fn refresh(&self, stale: &TokenSet) -> Result<TokenSet> {
        let mut guard = self.tokens.lock().await;
        // Another request may have refreshed already.
        if let Some(current) = guard.as_ref()
            && current.access_token != stale.access_token
        {
            return Ok(current.clone());
        }
        let fresh = smart::refresh(&self.http, stale, self.clock.as_ref()).await?;
        save_tokens(&self.vault, &self.profile_id, &fresh)?;
        *guard = Some(fresh.clone());
        Ok(fresh)
    }

    /// Sends one request with the current access token, refreshing it first
    /// when it is about to expire, and once more after a 401.
    async fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<reqwest::Response> {
        // Whatever handed us this URL (a next link, a server setting), the
        // token goes over TLS or stays on this computer.
        let parsed = url::Url::parse(url)
            .map_err(|_| CoreError::Data("the server gave an address that is not a URL".into()))?;
        smart::check_transport(&parsed)?;
        let mut tokens = self.current_tokens().await?;
        if tokens.expires_within(self.clock.now(), jiff::SignedDuration::from_secs(30))
            && tokens.refresh_token.is_some()
        {
            tokens = self.refresh(&tokens).await?;
        }
        let mut refreshed = false;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url)
                .bearer_auth(&tokens.access_token)
                .header(reqwest::header::ACCEPT, FHIR_JSON);
            for (k, v) in headers {
                request = request.header(*k, *v);
            }
            if let Some(body) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, FHIR_JSON)
                    .body(serde_json::to_vec(body)?);
            }
            let response = request.send().await.map_err(CoreError::network)?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED
                && !refreshed
                && tokens.refresh_token.is_some()
            {
                refreshed = true;
                tokens = self.refresh(&tokens).await?;
                continue;
            }
            if status == reqwest::StatusCode::UNAUTHORIZED {
                return Err(CoreError::SessionExpired(
                    "the server refused the sign-in".into(),
                ));
            }
            return Ok(response);
        }
    }

    /// GETs a FHIR URL on this server as JSON.
    pub async fn get_json(&self, url: &str) -> Result<Value> {
        let response = self.request(reqwest::Method::GET, url, None, &[]).await?;
        let status = response.status();
        if !status.is_success() {
            let message = response
                .json::<OperationOutcome>()
                .await
                .map(|o| o.summary())
                .unwrap_or_else(|_| status.canonical_reason().unwrap_or("error").to_owned());
            return Err(CoreError::Server {
                status: status.as_u16(),
                message,
            });
        }
        response.json().await.map_err(CoreError::network)
    }

    /// Sends a resource; the status and the body (a resource or an
    /// OperationOutcome) whatever the status. Errors only when no answer came
    /// (or the sign-in is gone).
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Result<(u16, Option<Value>)> {
        let response = self.request(method, url, Some(body), headers).await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(CoreError::network)?;
        let value = if bytes.is_empty() {
            None
        } else {
            // A truncated or non-JSON body on a success is no answer at all.
            match serde_json::from_slice(&bytes) {
                Ok(v) => Some(v),
                Err(_) if (200..300).contains(&status) => {
                    return Err(CoreError::Network("the answer was cut off".into()));
                }
                Err(_) => None,
            }
        };
        Ok((status, value))
    }

    /// The first match of a search, if any.
    pub async fn search_one(&self, url: &str) -> Result<Option<Value>> {
        let bundle = self.get_json(url).await?;
        Ok(bundle["entry"]
            .as_array()
            .and_then(|e| e.first())
            .and_then(|e| e.get("resource"))
            .cloned())
    }
}

pub fn load_tokens(vault: &Vault, profile_id: &str) -> Result<TokenSet> {
    let secret = vault
        .get(profile_id, SecretKind::Tokens)?
        .ok_or(CoreError::NotSignedIn)?;
    serde_json::from_str(secret.expose()).map_err(|_| CoreError::NotSignedIn)
}

pub fn save_tokens(vault: &Vault, profile_id: &str, tokens: &TokenSet) -> Result<()> {
    let json = zeroize::Zeroizing::new(serde_json::to_string(tokens)?);
    vault.set(profile_id, SecretKind::Tokens, &json)
}
