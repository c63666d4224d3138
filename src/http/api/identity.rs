//! `/api/admin/identity`: the login provider, for those allowed `user.manage`. `GET` shows the
//! provider in force and where it comes from, the redirect URI to register, the scopes asked and
//! granted, the client secret's age and the draft; `PUT` saves a draft (`{issuer, client_id,
//! client_secret, scopes, groups_claim}`: checked, discovered, the secret sealed and never
//! returned); `POST .../test` starts a test login of the draft (answers `{location}` for a new
//! window, with the transaction's cookie); `POST .../enable` switches a tested draft on;
//! `DELETE` goes back to the embedded provider; `GET .../health` fetches discovery and the keys
//! now. A provider set in the config file or the environment wins: changes then answer 409.

use crate::auth::login::Finished;
use crate::auth::login::connected::{self, TEST_RESULT_PATH};
use crate::auth::login::outbound::Spent;
use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::config::{OidcSettings, ProviderOrigin, Secret, SecretSource};
use crate::domain::Actor;
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::auth::require;
use crate::http::extract::Json;
use crate::store::{Slot, StoredProvider};
use axum::extract::State as AppState;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A client secret older than this is flagged for rotation.
pub const ROTATE_AFTER_DAYS: i64 = 90;
const DAY_MS: i64 = 86_400_000;

/// The body of `PUT /api/admin/identity` (its `Debug` leaves the secret out).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftBody {
    issuer: String,
    client_id: String,
    /// Empty or absent: keep the stored secret.
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    groups_claim: Option<String>,
}

impl std::fmt::Debug for DraftBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DraftBody")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// The provider in force.
#[derive(Debug, Serialize)]
pub struct InForce {
    pub origin: &'static str,
    pub issuer: String,
    pub client_id: String,
    /// `None`: the default set.
    pub scopes_asked: Option<Vec<String>>,
    pub groups_claim: String,
    pub scopes_granted: Option<Vec<String>>,
    /// The token response listed the granted scopes (else they are the ones asked).
    pub scopes_listed: bool,
    pub scopes_granted_at: Option<i64>,
    /// When the client secret last changed (Unix seconds), if known.
    pub secret_changed: Option<i64>,
    pub secret_age_days: Option<i64>,
    pub rotate_reminder: bool,
}

/// The draft, without its secret.
#[derive(Debug, Serialize)]
pub struct DraftView {
    pub issuer: String,
    pub client_id: String,
    pub client_secret_set: bool,
    pub scopes: Vec<String>,
    pub groups_claim: String,
    pub revision: i64,
    pub updated: i64,
    /// A test login succeeded after the last change.
    pub tested: bool,
    pub tested_at: Option<i64>,
    pub test_result: Value,
    /// This draft is the provider in force.
    pub active: bool,
}

/// Everything `GET` shows (and the page renders).
#[derive(Debug, Serialize)]
pub struct Overview {
    pub in_force: InForce,
    pub redirect_uri: String,
    /// Whether the provider can be changed here (not when the configuration sets it).
    pub editable: bool,
    pub locked_reason: String,
    pub draft: Option<DraftView>,
    pub break_glass: &'static str,
    pub rotate_after_days: i64,
}

fn secret_age(changed_ms: Option<i64>, now: i64) -> (Option<i64>, Option<i64>, bool) {
    match changed_ms {
        Some(ms) => {
            let days = (now - ms).max(0) / DAY_MS;
            (Some(ms / 1000), Some(days), days >= ROTATE_AFTER_DAYS)
        }
        None => (None, None, false),
    }
}

fn file_mtime_ms(path: &std::path::Path) -> Option<i64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

fn locked_reason(origin: ProviderOrigin) -> String {
    match origin {
        ProviderOrigin::Environment => {
            "the provider is set by HANGAR_OIDC_* environment variables, which win over the database: change or unset them and restart".into()
        }
        _ => "the provider is set in the config file (oidc_* or github_* keys), which wins over the database: change it there and restart".into(),
    }
}

/// The provider in force, the draft and what the page needs to show them.
pub async fn overview(app: &State) -> Result<Overview> {
    let now = app.clock.now_ms();
    let active = app.store.find_provider(Slot::Active).await?;
    let draft = app.store.find_provider(Slot::Draft).await?;
    let (origin, issuer, client_id, scopes, claim, changed) = match app.login.external() {
        Some(o) => {
            let s = &o.settings;
            let changed = match (&s.origin, &s.client_secret) {
                (ProviderOrigin::Database, _) => active.as_ref().map(|a| a.secret_updated),
                (_, SecretSource::File(path)) => file_mtime_ms(path),
                _ => None,
            };
            let scopes = s.scopes.clone();
            (
                s.origin,
                s.issuer.clone(),
                s.client_id.clone(),
                scopes,
                s.groups_claim.clone(),
                changed,
            )
        }
        None => match &app.login.github {
            Some(g) => (
                ProviderOrigin::File,
                g.issuer().to_string(),
                g.settings.client_id.clone(),
                None,
                String::new(),
                None,
            ),
            None => {
                let local = app.login.local.as_ref();
                (
                    ProviderOrigin::Embedded,
                    local.map(|o| o.settings.issuer.clone()).unwrap_or_default(),
                    local
                        .map(|o| o.settings.client_id.clone())
                        .unwrap_or_default(),
                    local.and_then(|o| o.settings.scopes.clone()),
                    "groups".into(),
                    None,
                )
            }
        },
    };
    let granted = app.store.find_granted_scopes(&issuer).await?;
    let (secret_changed, secret_age_days, rotate_reminder) = secret_age(changed, now);
    let in_force = InForce {
        origin: origin.as_str(),
        scopes_granted: granted.as_ref().map(|g| {
            g.scopes
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        }),
        scopes_listed: granted.as_ref().is_some_and(|g| g.listed),
        scopes_granted_at: granted.as_ref().map(|g| g.time / 1000),
        issuer,
        client_id,
        scopes_asked: scopes,
        groups_claim: claim,
        secret_changed,
        secret_age_days,
        rotate_reminder,
    };
    let active_revision = active.as_ref().map(|a| a.revision);
    let in_use = origin == ProviderOrigin::Database;
    Ok(Overview {
        in_force,
        redirect_uri: app.login.redirect_uri().to_string(),
        editable: !app.login.fixed(),
        locked_reason: if app.login.fixed() {
            locked_reason(origin)
        } else {
            String::new()
        },
        draft: draft.map(|d| DraftView {
            active: in_use && active_revision == Some(d.revision),
            tested: d.tested_ok(),
            tested_at: (d.tested > 0).then_some(d.tested / 1000),
            test_result: serde_json::from_str(&d.test_result).unwrap_or(Value::Null),
            scopes: d.scope_list().unwrap_or_default(),
            client_secret_set: !d.client_secret.is_empty(),
            issuer: d.issuer,
            client_id: d.client_id,
            groups_claim: d.groups_claim,
            revision: d.revision,
            updated: d.updated / 1000,
        }),
        break_glass: "/login?local=1",
        rotate_after_days: ROTATE_AFTER_DAYS,
    })
}

/// Refuses changes while the configuration sets the provider.
fn editable(app: &State) -> Result<()> {
    if app.login.fixed() {
        let origin = app
            .login
            .external()
            .map_or(ProviderOrigin::File, |o| o.settings.origin);
        return Err(Error::conflict(locked_reason(origin)));
    }
    Ok(())
}

async fn admin(app: &State, principal: &Principal) -> Result<()> {
    require(app, principal, Action::UserManage, None, None).await?;
    Ok(())
}

fn settings_of(row: &StoredProvider, app: &State) -> Result<OidcSettings> {
    connected::settings(row, &app.secrets).map_err(Error::internal)
}

/// `GET /api/admin/identity`.
pub async fn show(
    AppState(app): AppState<State>,
    principal: Principal,
) -> Result<axum::Json<Overview>> {
    admin(&app, &principal).await?;
    Ok(axum::Json(overview(&app).await?))
}

/// `PUT /api/admin/identity`: saves the draft (a new revision, untested).
pub async fn save(
    AppState(app): AppState<State>,
    principal: Principal,
    Json(body): Json<DraftBody>,
) -> Result<axum::Json<Value>> {
    admin(&app, &principal).await?;
    editable(&app)?;
    let issuer = connected::check_issuer(&body.issuer).map_err(Error::Invalid)?;
    let client_id =
        connected::check_word("client_id", &body.client_id, 255).map_err(Error::Invalid)?;
    let groups_claim = match body.groups_claim.as_deref().map(str::trim) {
        None | Some("") => "groups".to_string(),
        Some(c) => connected::check_word("groups_claim", c, 255).map_err(Error::Invalid)?,
    };
    let scopes = connected::check_scopes(&body.scopes).map_err(Error::Invalid)?;
    let secret = body.client_secret.filter(|s| !s.is_empty());
    if let Some(s) = &secret {
        connected::check_secret(s).map_err(Error::Invalid)?;
    }
    let probe = OidcSettings {
        issuer: issuer.clone(),
        client_id: client_id.clone(),
        client_secret: SecretSource::Value(Secret::new("")),
        scopes: (!scopes.is_empty()).then(|| scopes.clone()),
        groups_claim: groups_claim.clone(),
        origin: ProviderOrigin::Database,
    };
    let found = app
        .login
        .probe(&probe)
        .await
        .map_err(|f| Error::invalid(format!("the issuer could not be used: {}", f.detail)))?;
    let mut warnings = Vec::new();
    if let Some(offered) = found.metadata.scopes_supported() {
        for s in found
            .scopes
            .iter()
            .filter(|s| !offered.iter().any(|o| o.as_str() == s.as_str()))
        {
            warnings.push(format!("the provider does not list the scope {s:?}"));
        }
    }
    let draft = crate::store::NewDraft {
        issuer,
        client_id,
        sealed_secret: secret.as_ref().map(|s| app.secrets.seal(s.as_bytes())),
        scopes,
        groups_claim,
    };
    let now = app.clock.now_ms();
    let saved = app
        .store
        .save_provider_draft(&draft, &principal.actor(), now)
        .await?;
    app.login
        .try_draft(saved.revision, &settings_of(&saved, &app)?);
    let mut answer = serde_json::to_value(overview(&app).await?).map_err(Error::internal)?;
    answer["warnings"] = json!(warnings);
    Ok(axum::Json(answer))
}

/// `POST /api/admin/identity/test`: starts a test login of the saved draft.
pub async fn test(AppState(app): AppState<State>, principal: Principal) -> Result<Response> {
    admin(&app, &principal).await?;
    editable(&app)?;
    let draft = app
        .store
        .find_provider(Slot::Draft)
        .await?
        .ok_or_else(|| Error::conflict("there is no draft provider: save one first"))?;
    // A fresh relying party: the test discovers the provider anew.
    app.login
        .try_draft(draft.revision, &settings_of(&draft, &app)?);
    let begun = app
        .login
        .begin_test(draft.revision, &Spent::default())
        .await
        .map_err(|f| Error::invalid(format!("the test login could not start: {}", f.detail)))?;
    let max_age = crate::auth::login::TRANSACTION_MS / 1000;
    let cookie = crate::http::login::transaction_cookie(
        &app,
        &begun.cookie_name,
        &begun.cookie_value,
        max_age,
    );
    let mut response =
        axum::Json(json!({ "location": begun.location, "revision": draft.revision }))
            .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// `POST /api/admin/identity/enable`: the tested draft becomes the provider logins use.
pub async fn enable(
    AppState(app): AppState<State>,
    principal: Principal,
) -> Result<axum::Json<Overview>> {
    admin(&app, &principal).await?;
    editable(&app)?;
    let row = app
        .store
        .enable_provider(&principal.actor(), app.clock.now_ms())
        .await?;
    app.login.switch(Some(&settings_of(&row, &app)?));
    Ok(axum::Json(overview(&app).await?))
}

/// `DELETE /api/admin/identity`: back to the embedded provider (the draft stays).
pub async fn disable(
    AppState(app): AppState<State>,
    principal: Principal,
) -> Result<axum::Json<Overview>> {
    admin(&app, &principal).await?;
    editable(&app)?;
    if !app
        .store
        .disable_provider(&principal.actor(), app.clock.now_ms())
        .await?
    {
        return Err(Error::not_found(
            "no provider connected from the browser is on",
        ));
    }
    app.login.switch(None);
    Ok(axum::Json(overview(&app).await?))
}

/// `GET /api/admin/identity/health`: discovery and the signing keys of the provider in force.
pub async fn health(
    AppState(app): AppState<State>,
    principal: Principal,
) -> Result<axum::Json<connected::Health>> {
    admin(&app, &principal).await?;
    Ok(axum::Json(app.login.health().await))
}

/// What a test login's callback does instead of making a session: records what came back
/// (claims, groups and the roles they map to) on the draft it tested, audited as the signed-in
/// administrator, and sends the window to the page that shows it.
pub async fn tested(app: &State, finished: &Finished, headers: &HeaderMap) -> Result<String> {
    let revision = finished
        .test
        .ok_or_else(|| Error::invalid("not a test login"))?;
    let now = app.clock.now_ms();
    // The administrator who started it, when this window carries their session.
    let actor = app
        .sessions
        .resolve(headers, &Method::GET, now)
        .await?
        .map(|s| Principal::from_session(s.user, s.groups, s.session_id))
        .filter(|p| app.authz.check(p, Action::UserManage, None, None).is_ok())
        .map_or_else(Actor::anonymous, |p| p.actor());
    let mut claims = finished.grant.claims.clone();
    if let Value::Object(map) = &mut claims {
        for k in ["nonce", "at_hash", "c_hash", "sid", "jti"] {
            map.remove(k);
        }
    }
    let a = &finished.account;
    let result = json!({
        "issuer": a.iss,
        "subject": a.sub,
        "login": a.login_hint,
        "email": a.email,
        "email_verified": a.email_verified,
        "groups": a.groups,
        "roles": app.sessions.roles_of(&a.groups),
        "scopes_granted": finished.grant.scopes,
        "claims": claims,
    });
    if !app
        .store
        .record_provider_test(revision, &result, &actor, now)
        .await?
    {
        return Err(Error::conflict(
            "the draft changed while this test login ran: run the test again",
        ));
    }
    Ok(TEST_RESULT_PATH.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_body_never_prints_its_secret() {
        let body: DraftBody = serde_json::from_value(json!({
            "issuer": "https://login.example.com",
            "client_id": "hangar",
            "client_secret": "s3cret-value",
        }))
        .expect("body");
        assert!(!format!("{body:?}").contains("s3cret-value"));
    }

    #[test]
    fn a_secret_is_due_for_rotation_after_ninety_days() {
        let now = 200 * DAY_MS;
        assert_eq!(
            secret_age(Some(now - 89 * DAY_MS), now),
            (Some((now - 89 * DAY_MS) / 1000), Some(89), false)
        );
        assert!(secret_age(Some(now - 90 * DAY_MS), now).2);
        assert_eq!(secret_age(None, now), (None, None, false));
    }
}
