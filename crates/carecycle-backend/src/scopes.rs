//! SMART App Launch scopes, and the server's decision of what to grant.
//!
//! Granted = requested ∩ the client's registration ∩ the role's ceiling (from
//! [`crate::policy`]). SMART v2 (`patient/Observation.rs`) and v1
//! (`patient/*.read`, `.write`, `.*`) forms are read; the grant is written in v2
//! form. Query-restricted scopes (`patient/Observation.rs?category=…`) are
//! refused explicitly, never silently widened or dropped.

use crate::policy::{RoleKind, scope_ceiling};
use carecycle_fhir::ResourceType;

/// A registered client.
#[derive(Debug, Clone, Copy)]
pub struct ClientRegistration {
    pub id: &'static str,
    /// The most this client may ever be granted.
    pub scopes: &'static [&'static str],
    /// Exact redirect URIs (a private-use scheme, a claimed https link).
    pub redirect_uris: &'static [&'static str],
    /// Loopback redirects on any port (RFC 8252 §7.3), for desktop apps.
    pub loopback: bool,
}

/// CareCycle's patient app (desktop and phones): a public client.
pub const APP: ClientRegistration = ClientRegistration {
    id: carecycle_fhir::APP_CLIENT_ID,
    scopes: carecycle_fhir::APP_SCOPES,
    redirect_uris: &[carecycle_fhir::APP_REDIRECT_URI],
    loopback: true,
};

/// The care team's tools (a public client on the team's desktop).
pub const TEAM_TOOL: ClientRegistration = ClientRegistration {
    id: "carecycle-team",
    scopes: &["offline_access", "user/*.cruds"],
    redirect_uris: &[],
    loopback: true,
};

pub const CLIENTS: &[ClientRegistration] = &[APP, TEAM_TOOL];

pub fn client(id: &str) -> Option<&'static ClientRegistration> {
    CLIENTS.iter().find(|c| c.id == id)
}

impl ClientRegistration {
    /// Is this a redirect URI this client registered? Loopback IP literals on
    /// any port with path `/callback` (RFC 8252 §7.3), or exactly one of its URIs.
    pub fn redirect_allowed(&self, redirect_uri: &str) -> bool {
        if self.redirect_uris.contains(&redirect_uri) {
            return true;
        }
        let Ok(url) = url::Url::parse(redirect_uri) else {
            return false;
        };
        self.loopback
            && url.scheme() == "http"
            && matches!(url.host_str(), Some("127.0.0.1") | Some("[::1]"))
            && url.path() == "/callback"
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none()
    }
}

/// The permission letters of SMART v2, in their required order.
const LETTERS: [char; 5] = ['c', 'r', 'u', 'd', 's'];

/// A parsed resource scope: `context/Type.perms` (Type `None` = `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ResourceScope {
    context: String,
    resource: Option<String>,
    perms: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeRefusal {
    #[error(
        "query-restricted scopes such as {0} are not supported by this server; ask for the scope without the query"
    )]
    QueryRestricted(String),
}

fn parse_resource_scope(scope: &str) -> Option<ResourceScope> {
    let (context, rest) = scope.split_once('/')?;
    if !matches!(context, "patient" | "user" | "system") {
        return None;
    }
    let (resource, perms) = rest.split_once('.')?;
    let perms = match perms {
        "read" => "rs".to_owned(),
        "write" => "cud".to_owned(),
        "*" => "cruds".to_owned(),
        p if !p.is_empty() && p.chars().all(|c| LETTERS.contains(&c)) => p.to_owned(),
        _ => return None,
    };
    Some(ResourceScope {
        context: context.to_owned(),
        resource: (resource != "*").then(|| resource.to_owned()),
        perms,
    })
}

/// Does a granted scope string allow `perm` (`c`, `r`, `u`, `d`, `s`) on `resource_type`?
pub fn scope_allows(scopes: &str, resource_type: &str, perm: char) -> bool {
    scopes
        .split_whitespace()
        .filter_map(parse_resource_scope)
        .any(|s| s.resource.as_deref().is_none_or(|r| r == resource_type) && s.perms.contains(perm))
}

/// The letters `scopes` allow on type `t` in `context`.
fn letters_for(scopes: &[&str], context: &str, t: ResourceType) -> Vec<char> {
    let parsed: Vec<ResourceScope> = scopes
        .iter()
        .filter_map(|s| parse_resource_scope(s))
        .collect();
    LETTERS
        .iter()
        .copied()
        .filter(|l| {
            parsed.iter().any(|s| {
                s.context == context
                    && s.resource.as_deref().is_none_or(|r| r == t.as_str())
                    && s.perms.contains(*l)
            })
        })
        .collect()
}

/// The scopes that are not about resources.
/// (`openid`/`fhirUser` are not granted: this server issues no id_token.)
const LAUNCH_SCOPES: [&str; 2] = ["launch/patient", "offline_access"];

/// What a sign-in is granted: requested ∩ registration ∩ the role's ceiling,
/// as the exact scope string the token response carries.
pub fn grant(
    requested: &str,
    client: &ClientRegistration,
    role: RoleKind,
) -> Result<String, ScopeRefusal> {
    let asked: Vec<&str> = requested.split_whitespace().collect();
    if let Some(q) = asked.iter().find(|s| s.contains('?')) {
        return Err(ScopeRefusal::QueryRestricted((*q).to_owned()));
    }
    let context = role.scope_context();
    let mut out: Vec<String> = LAUNCH_SCOPES
        .iter()
        .filter(|s| asked.contains(s) && client.scopes.contains(s))
        // Only patients and family members have a patient in context.
        .filter(|s| **s != "launch/patient" || context == "patient")
        .map(|s| (*s).to_owned())
        .collect();
    let per_type: Vec<(ResourceType, Vec<char>)> = scope_ceiling(role)
        .into_iter()
        .map(|(t, ceiling)| {
            let requested = letters_for(&asked, context, t);
            let registered = letters_for(client.scopes, context, t);
            let letters = LETTERS
                .iter()
                .copied()
                .filter(|l| ceiling.contains(*l) && requested.contains(l) && registered.contains(l))
                .collect();
            (t, letters)
        })
        .collect();
    // Letters every type has are written once, as `context/*.letters`.
    let common: Vec<char> = LETTERS
        .iter()
        .copied()
        .filter(|l| per_type.iter().all(|(_, ls)| ls.contains(l)))
        .collect();
    if !common.is_empty() {
        out.push(format!("{context}/*.{}", common.iter().collect::<String>()));
    }
    for (t, letters) in per_type {
        let extra: String = letters.iter().filter(|l| !common.contains(l)).collect();
        if !extra.is_empty() {
            out.push(format!("{context}/{t}.{extra}"));
        }
    }
    Ok(out.join(" "))
}

/// Every scope this server can grant anyone (for `scopes_supported`).
pub fn supported() -> Vec<String> {
    let mut all: Vec<String> = LAUNCH_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    for client in CLIENTS {
        for role in RoleKind::ALL {
            if let Ok(granted) = grant(&client.scopes.join(" "), client, role) {
                all.extend(granted.split_whitespace().map(str::to_owned));
            }
        }
    }
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_registered_redirects_only() {
        assert!(APP.redirect_allowed("http://127.0.0.1:49152/callback"));
        assert!(APP.redirect_allowed("http://[::1]:8080/callback"));
        assert!(APP.redirect_allowed("dev.carecycle.app:/callback"));
        assert!(!APP.redirect_allowed("dev.carecycle.app://evil.example/callback"));
        assert!(!APP.redirect_allowed("http://localhost:8080/callback"));
        assert!(!APP.redirect_allowed("https://evil.example/callback"));
        assert!(!APP.redirect_allowed("http://127.0.0.1:1/other"));
        assert!(!APP.redirect_allowed("http://user:pw@127.0.0.1:1/callback"));
        assert!(!TEAM_TOOL.redirect_allowed("dev.carecycle.app:/callback"));
    }

    #[test]
    fn the_grant_is_the_intersection_of_request_registration_and_role() {
        let app_request = "launch/patient offline_access patient/*.rs patient/Communication.cu patient/QuestionnaireResponse.cu patient/Task.u";
        let set = |s: &str| {
            s.split_whitespace()
                .map(str::to_owned)
                .collect::<std::collections::BTreeSet<_>>()
        };
        // The app's own request, by a patient: all of it.
        assert_eq!(
            set(&grant(app_request, &APP, RoleKind::Patient).unwrap()),
            set(app_request)
        );
        // Asking for everything gets no more than the ceiling.
        assert_eq!(
            grant("launch/patient patient/*.cruds", &APP, RoleKind::Patient).unwrap(),
            "launch/patient patient/*.rs patient/Task.u patient/Communication.cu patient/QuestionnaireResponse.cu"
        );
        // A family member never gets the access log, or to answer questionnaires.
        let family = grant("launch/patient patient/*.cruds", &APP, RoleKind::Family).unwrap();
        assert!(!family.contains("AuditEvent"), "{family}");
        assert!(!family.contains("QuestionnaireResponse.c"), "{family}");
        assert!(family.contains("patient/Communication.crs"), "{family}");
        // The app's registration has no user/ scopes: a nurse gets nothing through it.
        assert_eq!(grant("user/*.cruds", &APP, RoleKind::Team).unwrap(), "");
        // The team tool cannot rename another unit — that is the policy's job — but it can never delete the log.
        let team = grant("user/*.cruds", &TEAM_TOOL, RoleKind::Team).unwrap();
        assert!(team.starts_with("user/*.rs"), "{team}");
        assert!(!team.contains("AuditEvent.c"), "{team}");
        // v1 forms are read.
        assert_eq!(
            grant("patient/*.read", &APP, RoleKind::Patient).unwrap(),
            "patient/*.rs"
        );
        assert_eq!(
            grant("patient/*.write", &APP, RoleKind::Patient).unwrap(),
            "patient/Task.u patient/Communication.cu patient/QuestionnaireResponse.cu"
        );
        // Query-restricted scopes are refused explicitly.
        assert!(matches!(
            grant(
                "patient/Observation.rs?category=survey",
                &APP,
                RoleKind::Patient
            ),
            Err(ScopeRefusal::QueryRestricted(_))
        ));
    }

    #[test]
    fn scopes_v1_and_v2_allow_what_they_say() {
        assert!(scope_allows("patient/*.rs", "CarePlan", 'r'));
        assert!(!scope_allows("patient/*.rs", "CarePlan", 'u'));
        assert!(scope_allows(
            "patient/Communication.cu patient/*.rs",
            "Communication",
            'c'
        ));
        assert!(scope_allows("patient/*.read", "Task", 's'));
        assert!(!scope_allows("launch/patient", "Task", 'r'));
        assert!(supported().contains(&"patient/Communication.cu".to_owned()));
    }
}
