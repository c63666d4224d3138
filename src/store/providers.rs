//! The login provider connected from the browser: a draft (saved, then tested with a real
//! login) and the active copy logins use once the tested draft is switched on; the scopes each
//! provider granted at its last login. The client secret comes in and goes out sealed.

use super::{Store, Tx, audit, db};
use crate::domain::{Actor, AuditAction, AuditEvent};
use crate::error::{Error, Result};

/// Which copy: the one being tried, or the one in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Draft,
    Active,
}

impl Slot {
    fn as_str(self) -> &'static str {
        match self {
            Slot::Draft => "draft",
            Slot::Active => "active",
        }
    }
}

/// A draft to save. `sealed_secret: None` keeps the stored secret.
pub struct NewDraft {
    pub issuer: String,
    pub client_id: String,
    pub sealed_secret: Option<Vec<u8>>,
    pub scopes: Vec<String>,
    pub groups_claim: String,
}

/// A stored provider (its `Debug` leaves the sealed secret out).
#[derive(Clone, sqlx::FromRow)]
pub struct StoredProvider {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Vec<u8>,
    pub scopes: String,
    pub groups_claim: String,
    pub revision: i64,
    pub secret_updated: i64,
    pub updated: i64,
    pub tested_revision: i64,
    pub tested: i64,
    pub test_result: String,
}

impl StoredProvider {
    /// The scopes asked for (`None`: the default set).
    pub fn scope_list(&self) -> Option<Vec<String>> {
        let list: Vec<String> = self
            .scopes
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        (!list.is_empty()).then_some(list)
    }

    /// Whether a test login succeeded with this very revision.
    pub fn tested_ok(&self) -> bool {
        self.tested_revision == self.revision && self.tested > 0
    }
}

impl std::fmt::Debug for StoredProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredProvider")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("revision", &self.revision)
            .field("tested_revision", &self.tested_revision)
            .finish_non_exhaustive()
    }
}

/// The scopes a provider granted at its last login.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GrantedScopes {
    pub scopes: String,
    /// The token response named them (else they are the ones asked).
    pub listed: bool,
    pub time: i64,
}

const COLUMNS: &str = "issuer, client_id, client_secret, scopes, groups_claim, revision, \
     secret_updated, updated, tested_revision, tested, test_result";

async fn find_in(tx: &mut Tx, slot: Slot) -> Result<Option<StoredProvider>> {
    let sql = format!("SELECT {COLUMNS} FROM identity_providers WHERE slot = $1");
    Ok(on!(&mut *tx, t => sqlx::query_as(&sql)
        .bind(slot.as_str())
        .fetch_optional(&mut **t)
        .await
        .map_err(db)?))
}

fn target(issuer: &str) -> String {
    format!("identity:{issuer}")
}

impl Store {
    /// The draft or the active provider, if any.
    pub async fn find_provider(&self, slot: Slot) -> Result<Option<StoredProvider>> {
        let sql = format!("SELECT {COLUMNS} FROM identity_providers WHERE slot = $1");
        Ok(on!(&*self.read, p => sqlx::query_as(&sql)
            .bind(slot.as_str())
            .fetch_optional(p)
            .await
            .map_err(db)?))
    }

    /// Saves the draft as a new revision (any earlier test login no longer counts). Without a
    /// new secret the draft's is kept, else the active provider's; with neither, it is refused.
    pub async fn save_provider_draft(
        &self,
        draft: &NewDraft,
        actor: &Actor,
        now: i64,
    ) -> Result<StoredProvider> {
        let mut tx = self.begin().await?;
        let old = find_in(&mut tx, Slot::Draft).await?;
        let kept = match (&old, &draft.sealed_secret) {
            (_, Some(_)) => None,
            (Some(d), None) => Some((d.client_secret.clone(), d.secret_updated)),
            (None, None) => find_in(&mut tx, Slot::Active)
                .await?
                .map(|a| (a.client_secret, a.secret_updated)),
        };
        let (secret, secret_updated) = match (&draft.sealed_secret, kept) {
            (Some(s), _) => (s.clone(), now),
            (None, Some(kept)) => kept,
            (None, None) => {
                tx.rollback().await?;
                return Err(Error::invalid(
                    "client_secret is required: no secret is stored yet",
                ));
            }
        };
        let revision = old.as_ref().map_or(0, |d| d.revision) + 1;
        let sql = format!(
            "INSERT INTO identity_providers (slot, {COLUMNS}) \
             VALUES ('draft', $1, $2, $3, $4, $5, $6, $7, $8, 0, 0, '') \
             ON CONFLICT (slot) DO UPDATE SET issuer = excluded.issuer, \
             client_id = excluded.client_id, client_secret = excluded.client_secret, \
             scopes = excluded.scopes, groups_claim = excluded.groups_claim, \
             revision = excluded.revision, secret_updated = excluded.secret_updated, \
             updated = excluded.updated, tested_revision = 0, tested = 0, test_result = '' \
             RETURNING {COLUMNS}"
        );
        let saved: StoredProvider = on!(&mut tx, t => sqlx::query_as(&sql)
            .bind(&draft.issuer)
            .bind(&draft.client_id)
            .bind(&secret)
            .bind(draft.scopes.join(" "))
            .bind(&draft.groups_claim)
            .bind(revision)
            .bind(secret_updated)
            .bind(now)
            .fetch_one(&mut **t)
            .await
            .map_err(db)?);
        let event = AuditEvent::new(
            actor,
            AuditAction::ProviderDraftSaved,
            target(&draft.issuer),
        )
        .with_detail(serde_json::json!({
            "issuer": draft.issuer,
            "client_id": draft.client_id,
            "scopes": draft.scopes,
            "groups_claim": draft.groups_claim,
            "secret_changed": draft.sealed_secret.is_some(),
            "revision": revision,
        }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// Records a good test login of draft `revision` (`result`: JSON of what came back).
    /// `false` if the draft has changed since the test began.
    pub async fn record_provider_test(
        &self,
        revision: i64,
        result: &serde_json::Value,
        actor: &Actor,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let issuer: Option<String> = on!(&mut tx, t => sqlx::query_scalar(
            "UPDATE identity_providers SET tested_revision = $1, tested = $2, test_result = $3 \
             WHERE slot = 'draft' AND revision = $1 RETURNING issuer")
            .bind(revision)
            .bind(now)
            .bind(result.to_string())
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some(issuer) = issuer else {
            tx.rollback().await?;
            return Ok(false);
        };
        let event = AuditEvent::new(actor, AuditAction::ProviderTested, target(&issuer))
            .with_detail(serde_json::json!({
                "revision": revision,
                "subject": result["subject"],
                "groups": result["groups"],
                "roles": result["roles"],
            }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Makes the draft the active provider: only a draft whose current revision passed a test
    /// login (else a conflict saying so).
    pub async fn enable_provider(&self, actor: &Actor, now: i64) -> Result<StoredProvider> {
        let mut tx = self.begin().await?;
        let Some(draft) = find_in(&mut tx, Slot::Draft).await? else {
            tx.rollback().await?;
            return Err(Error::conflict(
                "there is no draft provider: save one (PUT /api/admin/identity) and test it first",
            ));
        };
        if !draft.tested_ok() {
            tx.rollback().await?;
            return Err(Error::conflict(
                "this draft has not passed a test login: run one (POST /api/admin/identity/test) \
                 after the last change, then switch it on",
            ));
        }
        let sql = format!(
            "INSERT INTO identity_providers (slot, {COLUMNS}) \
             SELECT 'active', {COLUMNS} FROM identity_providers WHERE slot = 'draft' \
             ON CONFLICT (slot) DO UPDATE SET issuer = excluded.issuer, \
             client_id = excluded.client_id, client_secret = excluded.client_secret, \
             scopes = excluded.scopes, groups_claim = excluded.groups_claim, \
             revision = excluded.revision, secret_updated = excluded.secret_updated, \
             updated = $1, tested_revision = excluded.tested_revision, \
             tested = excluded.tested, test_result = excluded.test_result"
        );
        on!(&mut tx, t => sqlx::query(&sql)
            .bind(now)
            .execute(&mut **t)
            .await
            .map_err(db)?
            .rows_affected());
        let event = AuditEvent::new(actor, AuditAction::ProviderEnabled, target(&draft.issuer))
            .with_detail(serde_json::json!({
                "client_id": draft.client_id,
                "revision": draft.revision,
            }));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(draft)
    }

    /// Switches the active provider off (the draft stays); `false` if none was on.
    pub async fn disable_provider(&self, actor: &Actor, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let issuer: Option<String> = on!(&mut tx, t => sqlx::query_scalar(
            "DELETE FROM identity_providers WHERE slot = 'active' RETURNING issuer")
            .fetch_optional(&mut **t)
            .await
            .map_err(db)?);
        let Some(issuer) = issuer else {
            tx.rollback().await?;
            return Ok(false);
        };
        let event = AuditEvent::new(actor, AuditAction::ProviderDisabled, target(&issuer));
        audit::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records the scopes `issuer` granted at a login.
    pub async fn record_granted_scopes(
        &self,
        issuer: &str,
        scopes: &[String],
        listed: bool,
        now: i64,
    ) -> Result<()> {
        on!(&*self.write, p => sqlx::query(
            "INSERT INTO identity_scopes_granted (issuer, scopes, listed, time) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (issuer) DO UPDATE SET \
             scopes = excluded.scopes, listed = excluded.listed, time = excluded.time")
            .bind(issuer)
            .bind(scopes.join(" "))
            .bind(listed)
            .bind(now)
            .execute(p)
            .await
            .map_err(db)?
            .rows_affected());
        Ok(())
    }

    /// The scopes `issuer` granted at its last login, if one was recorded.
    pub async fn find_granted_scopes(&self, issuer: &str) -> Result<Option<GrantedScopes>> {
        Ok(on!(&*self.read, p => sqlx::query_as(
            "SELECT scopes, listed, time FROM identity_scopes_granted WHERE issuer = $1")
            .bind(issuer)
            .fetch_optional(p)
            .await
            .map_err(db)?))
    }
}
