//! A hostile OpenID provider, in Rust on 127.0.0.1: a mock of something that cannot be real,
//! since no certified provider will sign `alg: none` tokens, MAC them with its public key, name
//! the wrong issuer or audience, forget the nonce, or answer userinfo about someone else. Each
//! test says how the next ID token is to be made ([`Plan`]); the provider signs it with one of
//! two RSA keys (`tests/data/keys/`; signing through `openidconnect`'s key type), only the
//! first of which it publishes at first, and counts requests to its endpoints.

use axum::extract::State;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hangar::clock::Clock;
use hmac::Mac;
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{AccessToken, AccessTokenHash, JsonWebKeyId, PrivateSigningKey};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How the next ID token is signed.
#[derive(Debug, Clone)]
pub enum Sign {
    /// With RSA key 0 (`k1`, published) or 1 (`k2`, published only when told).
    Key(usize),
    /// HS256 with these bytes as the MAC key.
    Hs256(Vec<u8>),
    /// No signature (`alg: none`).
    Unsigned,
}

/// The next token response.
#[derive(Debug, Clone)]
pub struct Plan {
    pub header: Value,
    pub claims: Value,
    pub sign: Sign,
    pub access_token: String,
    pub userinfo: Option<Value>,
    /// Each token gets a fresh random `kid` (a flood of unknown keys).
    pub random_kid: bool,
}

pub struct Shared {
    pub issuer: String,
    keys: Vec<CoreRsaPrivateSigningKey>,
    /// Which keys the JWKS lists.
    pub published: Mutex<Vec<bool>>,
    /// Merged into the metadata (a `null` removes a field).
    pub metadata: Mutex<Value>,
    pub plan: Mutex<Option<Plan>>,
    pub jwks_fetches: AtomicUsize,
    pub token_requests: AtomicUsize,
    pub userinfo_requests: AtomicUsize,
}

pub struct Hostile {
    pub issuer: String,
    pub shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn key(n: usize) -> CoreRsaPrivateSigningKey {
    let pem = std::fs::read_to_string(format!(
        "{}/tests/data/keys/hostile-rsa-{n}.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("test key");
    CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new(format!("k{n}"))))
        .expect("an RSA key")
}

pub fn now_secs() -> i64 {
    hangar::clock::SystemClock.now_ms() / 1000
}

impl Hostile {
    pub async fn start() -> Hostile {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            keys: vec![key(1), key(2)],
            published: Mutex::new(vec![true, false]),
            metadata: Mutex::new(json!({})),
            plan: Mutex::new(None),
            jwks_fetches: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            userinfo_requests: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(metadata))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hostile {
            issuer,
            shared,
            task,
        }
    }

    /// Merges `fields` into the metadata the provider serves.
    pub fn metadata(&self, fields: Value) {
        let mut m = self.shared.metadata.lock().expect("lock");
        if let (Value::Object(m), Value::Object(f)) = (&mut *m, fields) {
            m.extend(f);
        }
    }

    pub fn publish(&self, key: usize, yes: bool) {
        self.shared.published.lock().expect("lock")[key] = yes;
    }

    /// A plan a careful provider would follow: RS256 with `k1`, every claim right.
    pub fn honest(&self, nonce: &str, sub: &str) -> Plan {
        let access_token = format!("at-{}", hangar::auth::token::mint());
        let now = now_secs();
        let verification = self.shared.keys[0].as_verification_key();
        let at_hash = AccessTokenHash::from_token(
            &AccessToken::new(access_token.clone()),
            &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            &verification,
        )
        .expect("at_hash");
        Plan {
            header: json!({ "alg": "RS256", "kid": "k1", "typ": "JWT" }),
            claims: json!({
                "iss": self.issuer, "sub": sub, "aud": "hangar", "exp": now + 300, "iat": now,
                "nonce": nonce, "at_hash": at_hash.as_str(), "preferred_username": sub,
                "groups": ["developers"],
            }),
            sign: Sign::Key(0),
            access_token,
            userinfo: None,
            random_kid: false,
        }
    }

    /// The next token response follows `plan`.
    pub fn plan(&self, plan: Plan) {
        *self.shared.plan.lock().expect("lock") = Some(plan);
    }

    /// An ID token made as `plan` says (also for tests that present one to the API).
    pub fn mint(&self, plan: &Plan) -> String {
        craft(&self.shared, plan)
    }

    pub fn jwks_fetches(&self) -> usize {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }
}

fn craft(shared: &Shared, plan: &Plan) -> String {
    let mut header = plan.header.clone();
    if plan.random_kid {
        header["kid"] = json!(hangar::auth::token::mint());
    }
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(plan.claims.to_string().as_bytes())
    );
    let signature = match &plan.sign {
        Sign::Key(n) => shared.keys[*n]
            .sign(
                &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                input.as_bytes(),
            )
            .expect("signing"),
        Sign::Hs256(key) => {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("hmac key");
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Sign::Unsigned => Vec::new(),
    };
    format!("{input}.{}", b64(&signature))
}

async fn metadata(State(s): State<Arc<Shared>>) -> axum::Json<Value> {
    let i = &s.issuer;
    let mut m = json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "groups"],
    });
    let overrides = s.metadata.lock().expect("lock").clone();
    if let (Value::Object(m), Value::Object(o)) = (&mut m, overrides) {
        for (k, v) in o {
            if v.is_null() {
                m.remove(&k);
            } else {
                m.insert(k, v);
            }
        }
    }
    axum::Json(m)
}

async fn jwks(State(s): State<Arc<Shared>>) -> axum::Json<Value> {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let published = s.published.lock().expect("lock").clone();
    let keys: Vec<Value> = s
        .keys
        .iter()
        .zip(published)
        .filter(|(_, p)| *p)
        .map(|(k, _)| serde_json::to_value(k.as_verification_key()).expect("jwk"))
        .collect();
    axum::Json(json!({ "keys": keys }))
}

async fn token(State(s): State<Arc<Shared>>) -> (axum::http::StatusCode, axum::Json<Value>) {
    s.token_requests.fetch_add(1, Ordering::SeqCst);
    let Some(plan) = s.plan.lock().expect("lock").clone() else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "invalid_grant" })),
        );
    };
    let id_token = craft(&s, &plan);
    (
        axum::http::StatusCode::OK,
        axum::Json(json!({
            "access_token": plan.access_token, "token_type": "Bearer", "expires_in": 300,
            "id_token": id_token,
        })),
    )
}

async fn userinfo(State(s): State<Arc<Shared>>) -> (axum::http::StatusCode, axum::Json<Value>) {
    s.userinfo_requests.fetch_add(1, Ordering::SeqCst);
    match s
        .plan
        .lock()
        .expect("lock")
        .as_ref()
        .and_then(|p| p.userinfo.clone())
    {
        Some(info) => (axum::http::StatusCode::OK, axum::Json(info)),
        None => (axum::http::StatusCode::NOT_FOUND, axum::Json(json!({}))),
    }
}
