//! `hangar runner`: the runner as a process of its own, leasing stages from a server over HTTP
//! (`/api/runner`, with the runner's own `hgr_rn_` token) and running them with the same code as
//! the in-process runner ([`super::run`]); only the [`Link`] differs.
//!
//! A heartbeat goes out at the interval the server asks for. Every report names the stage's
//! lease; when the server refuses one (409: the lease ended; 403: it is not this runner's; 401:
//! the runner was revoked) or a lease's watch says so, the stage's processes are stopped. A
//! revoked runner stops altogether.
//!
//! A server that cannot be reached (or answers 5xx) is tried again with a growing delay, each
//! try logged: at start, until it answers; for a report about a leased stage, for up to
//! [`RETRY_FOR`] (a restart takes seconds; a report dropped sooner would leave a gap in a log).

use super::wire::{ChunkHeader, Grant, Heartbeat, HeartbeatAnswer, LeaseAsk, WatchAnswer};
use super::{Assignment, Link, StageResult, StepAsk, StepGrant, StepUpdate};
use crate::config::Secret;
use crate::domain::{StageId, Step, StepId};
use crate::error::{Error, Result};
use crate::store::{ClaimFilter, LogChunk, NewStep};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a lease request may wait at the server, plus the way there and back.
const LEASE_TIMEOUT: Duration = Duration::from_secs(40);
/// Any other call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a report about a leased stage is tried again while the server cannot be reached.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// The delays between tries of a call that could not reach the server: 250 ms, doubling up to
/// 4 s.
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(250);
    const MOST: Duration = Duration::from_secs(4);

    fn new() -> Backoff {
        Backoff(Self::FIRST)
    }

    /// The delay before the next try.
    fn next(&mut self) -> Duration {
        let delay = self.0;
        self.0 = (delay * 2).min(Self::MOST);
        delay
    }
}

/// Runs `call` until it reaches the server, for at most `within` (`None`: until it does); a
/// refusal (4xx) is not tried again.
async fn retrying<T, F, Fut>(what: &str, within: Option<Duration>, mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let started = tokio::time::Instant::now();
    let mut backoff = Backoff::new();
    loop {
        match call().await {
            Err(Error::Internal(e)) if within.is_none_or(|w| started.elapsed() < w) => {
                let delay = backoff.next();
                tracing::warn!(
                    error = %format!("{e:#}"),
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "{what} failed; trying again"
                );
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
}

/// A remote runner's [`Link`]: the scheduler's calls over HTTP.
pub struct RemoteLink {
    http: reqwest::Client,
    server: String,
    token: Secret,
    /// Per lease, cancelled when the runner must stop the stage.
    stops: Mutex<HashMap<(StageId, i64), CancellationToken>>,
    /// Cancelled when the server refuses this runner's token: it stops altogether.
    pub refused: CancellationToken,
}

impl RemoteLink {
    pub fn new(server: &str, token: Secret) -> anyhow::Result<RemoteLink> {
        // A server reached over plain HTTP (redirects are not followed) needs no root
        // certificates: an idle runner does not load and keep them.
        let tls = server.starts_with("https:");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .tls_built_in_root_certs(tls)
            .build()?;
        Ok(RemoteLink {
            http,
            server: server.trim_end_matches('/').to_string(),
            token,
            stops: Mutex::new(HashMap::new()),
            refused: CancellationToken::new(),
        })
    }

    fn stop_of(&self, a: &Assignment) -> CancellationToken {
        match self.stops.lock() {
            Ok(mut map) => map.entry((a.stage.id, a.lease)).or_default().clone(),
            Err(_) => CancellationToken::new(),
        }
    }

    fn base(a: &Assignment) -> String {
        format!("/api/runner/leases/{}/{}", a.stage.id, a.lease)
    }

    /// Sends a request; the answer's status becomes the error kind the server meant.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<reqwest::Body>,
        json: bool,
        timeout: Duration,
    ) -> Result<Option<bytes::Bytes>> {
        let url = format!("{}{path}", self.server);
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(self.token.expose())
            .timeout(timeout);
        if let Some(body) = body {
            let kind = if json {
                "application/json"
            } else {
                "application/octet-stream"
            };
            req = req.header(reqwest::header::CONTENT_TYPE, kind).body(body);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Error::internal(anyhow::anyhow!("calling {url}: {e}")))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Error::internal(anyhow::anyhow!("reading {url}: {e}")))?;
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if status.is_success() {
            return Ok(Some(bytes));
        }
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        Err(match status {
            StatusCode::UNAUTHORIZED => {
                self.refused.cancel();
                Error::Unauthenticated(message)
            }
            StatusCode::FORBIDDEN => Error::Forbidden(message),
            StatusCode::NOT_FOUND => Error::NotFound(message),
            StatusCode::CONFLICT => Error::Conflict(message),
            _ => Error::internal(anyhow::anyhow!("{url} answered {status}: {message}")),
        })
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<Option<T>> {
        let body = serde_json::to_vec(body)
            .map_err(|e| Error::internal(anyhow::anyhow!("encoding a request: {e}")))?;
        let Some(bytes) = self
            .send(method, path, Some(body.into()), true, timeout)
            .await?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::internal(anyhow::anyhow!("{path} answered unreadable JSON: {e}")))
    }

    /// A report about a leased stage: a refusal of the lease stops the stage; a server that
    /// cannot be reached is tried again (see [`retrying`]).
    async fn report<B: Serialize, T: DeserializeOwned>(
        &self,
        a: &Assignment,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<Option<T>> {
        retrying("a report", Some(RETRY_FOR), || {
            self.call(method.clone(), path, body, CALL_TIMEOUT)
        })
        .await
        .map_err(|e| self.refusal(a, e))
    }

    /// A refused lease (409, 403, 401) means the stage must stop here.
    fn refusal(&self, a: &Assignment, e: Error) -> Error {
        if matches!(
            e,
            Error::Conflict(_) | Error::Forbidden(_) | Error::Unauthenticated(_)
        ) {
            tracing::warn!(stage = a.stage.id.0, lease = a.lease, reason = %e, "the server refused the lease: stopping the stage");
            self.stop_of(a).cancel();
        }
        e
    }

    /// The leases this runner is running.
    fn leases(&self) -> Vec<(StageId, i64)> {
        self.stops
            .lock()
            .map(|map| map.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Sends a heartbeat; the server answers with the runner's name and the interval it wants.
    pub async fn heartbeat(&self, beat: &Heartbeat) -> Result<HeartbeatAnswer> {
        self.call(Method::POST, "/api/runner/heartbeat", beat, CALL_TIMEOUT)
            .await?
            .ok_or_else(|| Error::internal(anyhow::anyhow!("the heartbeat had no answer")))
    }
}

impl Link for RemoteLink {
    async fn lease(&self, filter: &ClaimFilter) -> Result<Option<Assignment>> {
        let ask = LeaseAsk::from_filter(filter);
        let leased: Option<Assignment> = self
            .call(Method::POST, "/api/runner/lease", &ask, LEASE_TIMEOUT)
            .await?;
        if let Some(a) = &leased {
            self.stop_of(a);
        }
        Ok(leased)
    }

    async fn create_steps(&self, a: &Assignment, steps: Vec<NewStep>) -> Result<Vec<Step>> {
        let path = format!("{}/steps", Self::base(a));
        let created = self
            .call(Method::POST, &path, &steps, CALL_TIMEOUT)
            .await
            .map_err(|e| self.refusal(a, e))?;
        Ok(created.unwrap_or_default())
    }

    async fn update_step(&self, a: &Assignment, update: StepUpdate) -> Result<()> {
        let path = format!("{}/steps/{}", Self::base(a), update.step);
        self.report::<_, serde_json::Value>(a, Method::PUT, &path, &update)
            .await?;
        Ok(())
    }

    async fn append_log(&self, a: &Assignment, step: StepId, chunk: LogChunk) -> Result<()> {
        let h = ChunkHeader::of(&chunk);
        let path = format!(
            "{}/steps/{step}/logs?seq={}&first_pos={}&line_count={}&byte_count={}",
            Self::base(a),
            h.seq,
            h.first_pos,
            h.line_count,
            h.byte_count
        );
        let data = bytes::Bytes::from(chunk.data);
        retrying("storing a log chunk", Some(RETRY_FOR), || {
            self.send(
                Method::POST,
                &path,
                Some(data.clone().into()),
                false,
                CALL_TIMEOUT,
            )
        })
        .await
        .map(|_| ())
        .map_err(|e| self.refusal(a, e))
    }

    async fn finish_stage(&self, a: &Assignment, result: StageResult) -> Result<()> {
        let path = format!("{}/finish", Self::base(a));
        let sent = self
            .report::<_, serde_json::Value>(a, Method::POST, &path, &result)
            .await;
        if let Ok(mut map) = self.stops.lock() {
            map.remove(&(a.stage.id, a.lease));
        }
        sent.map(|_| ())
    }

    async fn step_credentials(&self, a: &Assignment, ask: StepAsk) -> Result<StepGrant> {
        let path = format!("{}/credentials", Self::base(a));
        let grant: Option<Grant> = self.report(a, Method::POST, &path, &ask).await?;
        Ok(grant.unwrap_or_default().into())
    }

    async fn cancelled(&self, a: &Assignment) {
        let stop = self.stop_of(a);
        let path = format!("{}/watch", Self::base(a));
        loop {
            let watched = tokio::select! {
                _ = stop.cancelled() => return,
                w = self.send(Method::GET, &path, None, false, LEASE_TIMEOUT) => w,
            };
            match watched {
                Ok(Some(bytes)) => {
                    let answer: Option<WatchAnswer> = serde_json::from_slice(&bytes).ok();
                    if let Some(why) = answer.and_then(|w| w.stop) {
                        tracing::info!(stage = a.stage.id.0, reason = %why, "stopping the stage");
                        stop.cancel();
                        return;
                    }
                }
                Ok(None) => {}
                Err(Error::Internal(e)) => {
                    tracing::warn!(error = %format!("{e:#}"), "watching a lease failed; trying again in a second");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Err(e) => {
                    self.refusal(a, e);
                    return;
                }
            }
        }
    }
}

/// How `hangar runner` is set up (from the environment; see `cli/runner.rs`).
pub struct RemoteSettings {
    pub server_url: String,
    pub token: Secret,
    pub capacity: usize,
    pub labels: std::collections::BTreeMap<String, String>,
    pub work_dir: std::path::PathBuf,
    pub log_limit: u64,
    pub cancel_grace: Duration,
    pub sandbox: Option<super::sandbox::Sandbox>,
}

/// Runs a remote runner until SIGINT or SIGTERM, or until the server revokes it.
pub async fn serve(settings: RemoteSettings) -> anyhow::Result<()> {
    let link = Arc::new(RemoteLink::new(&settings.server_url, settings.token)?);
    let beat = Heartbeat {
        os: super::platform_os().into(),
        arch: super::platform_arch().into(),
        capacity: i64::try_from(settings.capacity).unwrap_or(i64::MAX),
        version: env!("CARGO_PKG_VERSION").into(),
        leases: Vec::new(),
    };
    // A server that is not up yet (or restarting) is waited for; a refusal stops the runner.
    let hello = retrying("reaching the server", None, || link.heartbeat(&beat))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "the server at {} (HANGAR_SERVER_URL) refused this runner: {e}",
                settings.server_url
            )
        })?;
    if hello.labels != settings.labels {
        anyhow::bail!(
            "runner {} is registered with the labels {{{}}} but HANGAR_RUNNER_LABELS gives {{{}}}",
            hello.name,
            crate::domain::runner::labels_text(&hello.labels),
            crate::domain::runner::labels_text(&settings.labels)
        );
    }
    tracing::info!(name = %hello.name, server = %settings.server_url, capacity = settings.capacity, "runner started");
    let shutdown = CancellationToken::new();
    let heartbeats = tokio::spawn(heartbeat_loop(
        link.clone(),
        beat,
        Duration::from_millis(hello.interval_ms),
        shutdown.clone(),
    ));
    let stop = shutdown.clone();
    let refused = link.refused.clone();
    tokio::spawn(async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("stopping"),
            _ = term.recv() => tracing::info!("stopping"),
            _ = refused.cancelled() => tracing::error!("the server refused this runner's token (revoked?): stopping"),
        }
        stop.cancel();
    });
    let runner_settings = Arc::new(super::Settings {
        name: hello.name,
        labels: settings.labels,
        capacity: settings.capacity,
        work_dir: settings.work_dir.clone(),
        log_limit: settings.log_limit,
        cancel_grace: settings.cancel_grace,
        server_url: settings.server_url,
        proxy: super::env::proxy_variables(std::env::vars()),
        sandbox: settings.sandbox,
        clock: crate::clock::system(),
    });
    super::run(link.clone(), runner_settings, shutdown.clone()).await;
    shutdown.cancel();
    let _ = heartbeats.await;
    super::stop_all(&settings.work_dir).await;
    if link.refused.is_cancelled() {
        anyhow::bail!("the server refused this runner's token: it was revoked or is unknown");
    }
    Ok(())
}

async fn heartbeat_loop(
    link: Arc<RemoteLink>,
    beat: Heartbeat,
    mut every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        let mut beat = beat.clone();
        beat.leases = link.leases();
        match link.heartbeat(&beat).await {
            Ok(answer) => every = Duration::from_millis(answer.interval_ms.max(10)),
            Err(Error::Unauthenticated(_)) => return,
            Err(e) => tracing::warn!(error = %e.detail(), "a heartbeat failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_are_spaced_250_ms_then_twice_as_far_up_to_4_s() {
        let mut backoff = Backoff::new();
        let delays: Vec<u128> = (0..7).map(|_| backoff.next().as_millis()).collect();
        assert_eq!(delays, [250, 500, 1000, 2000, 4000, 4000, 4000]);
    }

    #[tokio::test]
    async fn a_refusal_is_not_tried_again() {
        let mut tries = 0;
        let refused: Result<()> = retrying("a report", Some(RETRY_FOR), || {
            tries += 1;
            async { Err(Error::Conflict("the lease has ended".into())) }
        })
        .await;
        assert!(matches!(refused, Err(Error::Conflict(_))));
        assert_eq!(tries, 1);
    }

    #[tokio::test]
    async fn an_unreachable_server_is_tried_again_until_it_answers() {
        let mut tries = 0;
        let answered = retrying("a report", Some(RETRY_FOR), || {
            tries += 1;
            let now = tries;
            async move {
                if now < 3 {
                    Err(Error::internal(anyhow::anyhow!("connection refused")))
                } else {
                    Ok(now)
                }
            }
        })
        .await;
        assert_eq!(answered.ok(), Some(3));
    }
}
