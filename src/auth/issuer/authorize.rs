//! The authorization request (`GET /oidc/authorize`). Until the client and its redirect URI are
//! known to be registered, every error is a page: nothing is ever sent to an unregistered URI.
//! After that, errors go back to the client as `error`, `state` and `iss` (RFC 9207).
//!
//! Only `response_type=code`; PKCE with S256 is required (`plain` and a missing challenge are
//! refused); `prompt=none` answers `login_required` without a live provider session;
//! `prompt=login` and `max_age` force the form.

use super::{
    BrowserCookies, CODE_TTL_MS, Issuer, LOGIN_COOKIE, LOGIN_TTL_MS, Params, Reply, SCOPES,
    SetCookie, page, pkce, redirect,
};
use crate::auth::token;
use crate::error::Result;
use crate::store::{AuthorizationCode, OAuthClient, PendingLogin, ProviderSession};

/// Longest `state` or `nonce` accepted.
const MAX_VALUE: usize = 1024;

/// A request whose client and redirect URI are trusted.
#[derive(Debug)]
pub(super) struct Request {
    pub client: OAuthClient,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The granted scopes (known ones only), space-separated.
    pub scope: String,
    pub challenge: String,
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub max_age_secs: Option<i64>,
}

/// Why a request is refused, and where the answer goes.
#[derive(Debug)]
pub(super) enum Refusal {
    /// Client or redirect URI not trusted: a page, no redirect.
    Page(&'static str),
    /// An error sent back to the (registered) redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

fn page_error(message: &str) -> Reply {
    Reply::page(400, page::message("Sign-in request refused", message))
}

impl Issuer {
    /// Appends `pairs` and `iss` to a redirect URI's query.
    pub(super) fn redirect_with(&self, uri: &str, pairs: &[(&str, &str)]) -> String {
        let Ok(mut url) = url::Url::parse(uri) else {
            return uri.to_string();
        };
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in pairs {
                query.append_pair(k, v);
            }
            query.append_pair("iss", &self.url);
        }
        url.into()
    }

    pub(super) fn refuse(&self, refusal: Refusal) -> Reply {
        match refusal {
            Refusal::Page(message) => page_error(message),
            Refusal::Redirect {
                redirect_uri,
                state,
                error,
                description,
            } => {
                let mut pairs = vec![("error", error), ("error_description", &description)];
                if let Some(state) = &state {
                    pairs.push(("state", state));
                }
                Reply::Redirect {
                    to: self.redirect_with(&redirect_uri, &pairs),
                    cookies: Vec::new(),
                }
            }
        }
    }

    /// Validates an authorization request.
    pub(super) async fn parse_request(&self, params: &Params) -> Result<Result<Request, Refusal>> {
        let (Ok(client_id), Ok(redirect_uri)) =
            (params.one("client_id"), params.one("redirect_uri"))
        else {
            return Ok(Err(Refusal::Page(
                "client_id and redirect_uri may be given only once.",
            )));
        };
        let Some(client_id) = client_id else {
            return Ok(Err(Refusal::Page(
                "The request names no client (client_id).",
            )));
        };
        let client = match self.store.find_oauth_client(client_id).await? {
            Some(c) if c.revoked == 0 => c,
            _ => {
                return Ok(Err(Refusal::Page(
                    "The application asking is not registered here.",
                )));
            }
        };
        let Some(redirect_uri) = redirect_uri else {
            return Ok(Err(Refusal::Page("The request has no redirect_uri.")));
        };
        if !redirect::is_registered(&client.redirect_uris, redirect_uri) {
            return Ok(Err(Refusal::Page(
                "The redirect_uri is not registered for this application.",
            )));
        }
        let redirect_uri = redirect_uri.to_string();
        let state = params.one("state").ok().flatten().map(str::to_string);
        let refuse = |error: &'static str, description: &str| {
            Ok(Err(Refusal::Redirect {
                redirect_uri: redirect_uri.clone(),
                state: state.clone(),
                error,
                description: description.to_string(),
            }))
        };
        if let Some(name) = params.repeated() {
            return refuse("invalid_request", &format!("{name} is repeated"));
        }
        let get = |name: &'static str| params.one(name).ok().flatten();
        if state.as_ref().is_some_and(|s| s.len() > MAX_VALUE)
            || get("nonce").is_some_and(|n| n.len() > MAX_VALUE)
        {
            return refuse("invalid_request", "state or nonce is too long");
        }
        if get("request").is_some() {
            return refuse("request_not_supported", "request objects are not supported");
        }
        if get("request_uri").is_some() {
            return refuse("request_uri_not_supported", "request_uri is not supported");
        }
        match get("response_type") {
            Some("code") => {}
            None => return refuse("invalid_request", "response_type is missing"),
            Some(_) => {
                return refuse(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                );
            }
        }
        if get("response_mode").is_some_and(|m| m != "query") {
            return refuse("invalid_request", "only response_mode=query is supported");
        }
        let asked: Vec<&str> = get("scope").unwrap_or("").split(' ').collect();
        if !asked.contains(&"openid") {
            return refuse("invalid_scope", "the scope must include openid");
        }
        let scope: Vec<&str> = SCOPES.into_iter().filter(|s| asked.contains(s)).collect();
        let Some(challenge) = get("code_challenge") else {
            return refuse(
                "invalid_request",
                "PKCE is required: send code_challenge (S256)",
            );
        };
        if get("code_challenge_method") != Some(pkce::METHOD) {
            return refuse(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)",
            );
        }
        if !pkce::is_challenge(challenge) {
            return refuse("invalid_request", "code_challenge is not an S256 challenge");
        }
        let prompts: Vec<&str> = get("prompt").unwrap_or("").split(' ').collect();
        let prompt_none = prompts.contains(&"none");
        if prompt_none && prompts.len() > 1 {
            return refuse("invalid_request", "prompt=none cannot be combined");
        }
        let max_age_secs = match get("max_age").map(str::parse::<i64>) {
            None => None,
            Some(Ok(v)) if v >= 0 => Some(v),
            Some(_) => return refuse("invalid_request", "max_age must be a number of seconds"),
        };
        Ok(Ok(Request {
            client,
            redirect_uri,
            state,
            nonce: get("nonce").map(str::to_string),
            scope: scope.join(" "),
            challenge: challenge.to_string(),
            prompt_none,
            prompt_login: prompts.contains(&"login"),
            max_age_secs,
        }))
    }

    /// The live provider session behind the browser's cookie.
    pub(super) async fn session(
        &self,
        cookies: &BrowserCookies,
    ) -> Result<Option<ProviderSession>> {
        match &cookies.sso {
            Some(c) => {
                self.store
                    .find_provider_session(&token::hash(c), self.now())
                    .await
            }
            None => Ok(None),
        }
    }

    /// Makes a code for `request`, in `session`'s name; `Err` if it cannot be stored.
    pub(super) fn new_code(
        &self,
        request: &Request,
        user_id: i64,
        sid: &str,
        auth_time: i64,
    ) -> (String, AuthorizationCode) {
        let code = token::mint();
        let now = self.now();
        let row = AuthorizationCode {
            code_hash: token::hash(&code),
            client_id: request.client.client_id.clone(),
            user_id,
            redirect_uri: request.redirect_uri.clone(),
            scope: request.scope.clone(),
            nonce: request.nonce.clone().unwrap_or_default(),
            code_challenge: request.challenge.clone(),
            auth_time,
            provider_sid: sid.to_string(),
            created: now,
            expires: now + CODE_TTL_MS,
            used: 0,
        };
        (code, row)
    }

    /// The redirect that hands `code` to the client.
    pub(super) fn code_redirect(&self, request: &Request, code: &str) -> String {
        let mut pairs = vec![("code", code)];
        if let Some(state) = &request.state {
            pairs.push(("state", state.as_str()));
        }
        self.redirect_with(&request.redirect_uri, &pairs)
    }

    /// `GET /oidc/authorize`.
    pub async fn authorize(&self, query: &str, cookies: &BrowserCookies) -> Result<Reply> {
        let params = Params::parse(query.as_bytes());
        let request = match self.parse_request(&params).await? {
            Ok(r) => r,
            Err(refusal) => return Ok(self.refuse(refusal)),
        };
        let now = self.now();
        let session = self.session(cookies).await?.filter(|s| {
            request
                .max_age_secs
                .is_none_or(|max| now - s.auth_time <= max.saturating_mul(1000))
        });
        if let Some(session) = session.filter(|_| !request.prompt_login) {
            let (code, row) =
                self.new_code(&request, session.user_id, &session.sid, session.auth_time);
            self.store.create_authorization_code(&row).await?;
            return Ok(Reply::Redirect {
                to: self.code_redirect(&request, &code),
                cookies: Vec::new(),
            });
        }
        if request.prompt_none {
            return Ok(self.refuse(Refusal::Redirect {
                redirect_uri: request.redirect_uri,
                state: request.state,
                error: "login_required",
                description: "nobody is signed in at the provider".into(),
            }));
        }
        self.show_form(&request, cookies).await
    }

    /// Stores a login transaction and shows the form.
    async fn show_form(&self, request: &Request, cookies: &BrowserCookies) -> Result<Reply> {
        let now = self.now();
        let browser = cookies.login.clone().unwrap_or_else(token::mint);
        let login = token::mint();
        self.store
            .create_pending_login(
                &PendingLogin {
                    id_hash: token::hash(&login),
                    browser_hash: token::hash(&browser),
                    client_id: request.client.client_id.clone(),
                    redirect_uri: request.redirect_uri.clone(),
                    scope: request.scope.clone(),
                    state: request.state.clone().unwrap_or_default(),
                    nonce: request.nonce.clone().unwrap_or_default(),
                    code_challenge: request.challenge.clone(),
                    failures: 0,
                    created: now,
                    expires: now + LOGIN_TTL_MS,
                },
                now,
            )
            .await?;
        let html = page::login(
            &format!("{}/login", self.url),
            &request.client.name,
            &login,
            "",
            None,
        );
        Ok(Reply::Page {
            status: 200,
            html,
            cookies: vec![SetCookie {
                name: LOGIN_COOKIE,
                value: browser,
                max_age_secs: LOGIN_TTL_MS / 1000,
            }],
        })
    }
}
