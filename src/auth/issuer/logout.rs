//! RP-initiated logout (`/oidc/end_session`). With a valid `id_token_hint` (signed here, any
//! age) the provider session it names and the browser's session end at once; without one the
//! person is asked to confirm with a button (a `POST` that carries the `SameSite=Lax` cookie,
//! so another site cannot sign anyone out). Ending a session revokes its refresh and access
//! tokens. `post_logout_redirect_uri` must be registered for the client, exactly; otherwise a
//! "signed out" page is shown.

use super::{BrowserCookies, IdTokenClaims, Issuer, Params, Reply, SSO_COOKIE, SetCookie, page};
use crate::domain::{Actor, UserId};
use crate::error::Result;

fn refused(message: &str) -> Reply {
    Reply::page(400, page::message("Sign-out request refused", message))
}

impl Issuer {
    /// `GET` (`confirmed` false) or `POST` (`confirmed` true) `/oidc/end_session`.
    pub async fn end_session(
        &self,
        params: &Params,
        cookies: &BrowserCookies,
        confirmed: bool,
    ) -> Result<Reply> {
        if params.repeated().is_some() {
            return Ok(refused("A parameter is repeated."));
        }
        let get = |name| params.one(name).ok().flatten();
        let now = self.now();
        let hint: Option<IdTokenClaims> = match get("id_token_hint") {
            Some(t) => match self.keys.read_own(t, &self.url, now).await? {
                Some(claims) => Some(claims),
                None => return Ok(refused("The id_token_hint was not issued here.")),
            },
            None => None,
        };
        let client_id = match (get("client_id"), &hint) {
            (Some(id), Some(h)) if id != h.aud => {
                return Ok(refused("client_id does not match the id_token_hint."));
            }
            (Some(id), _) => Some(id.to_string()),
            (None, Some(h)) => Some(h.aud.clone()),
            (None, None) => None,
        };
        let target = match get("post_logout_redirect_uri") {
            None => None,
            Some(uri) => {
                let client = match &client_id {
                    Some(id) => self.store.find_oauth_client(id).await?,
                    None => None,
                };
                match client {
                    Some(c)
                        if c.revoked == 0
                            && c.post_logout_redirect_uris.iter().any(|u| u == uri) =>
                    {
                        Some(uri.to_string())
                    }
                    _ => {
                        return Ok(refused(
                            "The post_logout_redirect_uri is not registered for this application.",
                        ));
                    }
                }
            }
        };
        if hint.is_none() && !confirmed {
            let mut fields: Vec<(&str, &str)> = Vec::new();
            for name in ["client_id", "post_logout_redirect_uri", "state"] {
                if let Some(v) = get(name) {
                    fields.push((name, v));
                }
            }
            let html = page::confirm_logout(&format!("{}/end_session", self.url), &fields);
            return Ok(Reply::page(200, html));
        }
        let mut sids: Vec<(String, i64)> = Vec::new();
        if let Some(session) = self.session(cookies).await? {
            sids.push((session.sid, session.user_id));
        }
        if let Some(sid) = hint.as_ref().and_then(|h| h.sid.clone())
            && !sids.iter().any(|(s, _)| *s == sid)
            && let Some(session) = self.store.find_provider_session_by_sid(&sid).await?
        {
            sids.push((session.sid, session.user_id));
        }
        for (sid, user_id) in &sids {
            let login = self
                .store
                .find_user_by_id(UserId(*user_id))
                .await?
                .map(|u| u.login)
                .unwrap_or_default();
            let actor = Actor::user(UserId(*user_id), &login, None);
            self.store.end_provider_session(sid, &actor, now).await?;
        }
        let cookies = vec![SetCookie::clear(SSO_COOKIE)];
        Ok(match target {
            Some(uri) => {
                let state = get("state");
                let to = match state {
                    Some(state) => self.redirect_with_state(&uri, state),
                    None => uri,
                };
                Reply::Redirect { to, cookies }
            }
            None => Reply::Page {
                status: 200,
                html: page::message(
                    "Signed out",
                    "You are signed out of Hangar's sign-in service.",
                ),
                cookies,
            },
        })
    }

    /// A post-logout redirect carries only `state` (no `iss`: it is not an authorization
    /// response).
    fn redirect_with_state(&self, uri: &str, state: &str) -> String {
        match url::Url::parse(uri) {
            Ok(mut url) => {
                url.query_pairs_mut().append_pair("state", state);
                url.into()
            }
            Err(_) => uri.to_string(),
        }
    }
}
