//! The remote runner protocol under `/api/runner`, authenticated by the runner's own token
//! (`Authorization: Bearer hgr_rn_...`; any other credential is a 401). Each handler calls the
//! scheduler method the in-process runner calls directly (`scheduler::LocalLink`), after
//! checking the stage's lease is this runner's and still current (`leases.rs`: 409 once it has
//! ended, 403 when it never was this runner's).
//!
//! - `POST /api/runner/heartbeat`: alive; answers the runner's name, labels and the interval.
//! - `POST /api/runner/lease`: long poll (about 30 s) for a stage; 204 when none came.
//! - `.../leases/{stage}/{lease}/steps` (POST), `/steps/{step}` (PUT), `/steps/{step}/logs`
//!   (POST, the chunk's bytes), `/credentials` (POST), `/finish` (POST), `/watch` (GET, long
//!   poll: why to stop, or nothing).

use crate::domain::{Runner, StageId, Step, StepId};
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::extract::{Json, Path, Query};
use crate::runner::wire::{ChunkHeader, Grant, Heartbeat, HeartbeatAnswer, LeaseAsk, WatchAnswer};
use crate::runner::{Assignment, StageResult, StepAsk, StepUpdate};
use crate::scheduler::LEASE_WAIT;
use crate::store::NewStep;
use axum::Router;
use axum::extract::{FromRequestParts, State as AppState};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

/// Largest log chunk accepted (the runner cuts chunks at 1 MiB of lines).
const MAX_CHUNK_BYTES: usize = 4 << 20;

pub fn router() -> Router<State> {
    Router::new()
        .route("/heartbeat", post(heartbeat))
        .route("/lease", post(lease))
        .route("/leases/{stage}/{lease}/steps", post(create_steps))
        .route("/leases/{stage}/{lease}/steps/{step}", put(update_step))
        .route(
            "/leases/{stage}/{lease}/steps/{step}/logs",
            post(append_log),
        )
        .route("/leases/{stage}/{lease}/credentials", post(credentials))
        .route("/leases/{stage}/{lease}/finish", post(finish))
        .route("/leases/{stage}/{lease}/watch", get(watch))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_CHUNK_BYTES))
}

/// The runner a request comes from, by its bearer token.
pub struct RemoteRunner(pub Runner);

impl FromRequestParts<State> for RemoteRunner {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &State) -> Result<Self> {
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Error::Unauthenticated(
                    "a runner token is required: Authorization: Bearer hgr_rn_...".into(),
                )
            })?;
        Ok(RemoteRunner(
            app.scheduler.authenticate_runner(bearer.trim()).await?,
        ))
    }
}

async fn heartbeat(
    AppState(app): AppState<State>,
    RemoteRunner(mut runner): RemoteRunner,
    Json(beat): Json<Heartbeat>,
) -> Result<axum::Json<HeartbeatAnswer>> {
    runner.os = beat.os;
    runner.arch = beat.arch;
    runner.capacity = beat.capacity;
    runner.version = beat.version;
    app.scheduler.heartbeat(&runner, &beat.leases).await?;
    let interval = app.scheduler.remote.heartbeat_interval();
    Ok(axum::Json(HeartbeatAnswer {
        name: runner.name,
        labels: runner.labels,
        interval_ms: u64::try_from(interval.as_millis()).unwrap_or(10_000),
    }))
}

async fn lease(
    AppState(app): AppState<State>,
    RemoteRunner(runner): RemoteRunner,
    Json(ask): Json<LeaseAsk>,
) -> Result<Response> {
    let filter = ask.filter(&runner.name);
    match app
        .scheduler
        .lease_remote(&runner, &filter, LEASE_WAIT)
        .await?
    {
        Some(assignment) => Ok(axum::Json(assignment).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

async fn create_steps(
    AppState(app): AppState<State>,
    RemoteRunner(runner): RemoteRunner,
    Path((stage, lease)): Path<(i64, i64)>,
    Json(steps): Json<Vec<NewStep>>,
) -> Result<axum::Json<Vec<Step>>> {
    let key = (StageId(stage), lease);
    let a: std::sync::Arc<Assignment> = app.scheduler.held_now(&runner, key).await?;
    let created = app.scheduler.create_steps(&a, steps).await?;
    app.scheduler.note_steps(key, &created);
    Ok(axum::Json(created))
}

async fn update_step(
    AppState(app): AppState<State>,
    RemoteRunner(runner): RemoteRunner,
    Path((stage, lease, step)): Path<(i64, i64, i64)>,
    Json(update): Json<StepUpdate>,
) -> Result<StatusCode> {
    if update.step != StepId(step) {
        return Err(Error::Invalid(format!(
            "the report is about step {}, not step {step}",
            update.step
        )));
    }
    let key = (StageId(stage), lease);
    let (a, _) = app
        .scheduler
        .held_step(&runner, key, update.step, true)
        .await?;
    if update.status != crate::domain::Status::Skipped {
        app.scheduler.note_stepped(key, update.step).await?;
    }
    app.scheduler.update_step(&a, update).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn append_log(
    AppState(app): AppState<State>,
    RemoteRunner(runner): RemoteRunner,
    Path((stage, lease, step)): Path<(i64, i64, i64)>,
    Query(header): Query<ChunkHeader>,
    data: axum::body::Bytes,
) -> Result<StatusCode> {
    let step = StepId(step);
    app.scheduler
        .held_step(&runner, (StageId(stage), lease), step, false)
        .await?;
    app.scheduler
        .append_log(step, header.with_data(data.to_vec()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn credentials(
    AppState(app): AppState<State>,
    RemoteRunner(runner): RemoteRunner,
    Path((stage, lease)): Path<(i64, i64)>,
    Json(ask): Json<StepAsk>,
) -> Result<axum::Json<Grant>> {
    let key = (StageId(stage), lease);
    let (a, name) = app
        .scheduler
        .held_step(&runner, key, ask.step, true)
        .await?;
    if name != ask.name {
        return Err(Error::Forbidden(format!(
            "step {} of stage {stage} is not named {:?}",
            ask.step, ask.name
        )));
    }
    crate::leases::check_ask(&a, &ask)?;
    app.scheduler.note_stepped(key, ask.step).await?;
    let grant = app.scheduler.step_credentials(&a, ask).await?;
    Ok(axum::Json(Grant::from(&grant)))
}

async fn finish(
    AppState(app): AppState<State>,
    RemoteRunner(runner): RemoteRunner,
    Path((stage, lease)): Path<(i64, i64)>,
    Json(result): Json<StageResult>,
) -> Result<StatusCode> {
    let key = (StageId(stage), lease);
    let a = app.scheduler.held_now(&runner, key).await?;
    app.scheduler.finish_stage(&a, result).await?;
    app.scheduler.release(key).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn watch(
    AppState(app): AppState<State>,
    RemoteRunner(runner): RemoteRunner,
    Path((stage, lease)): Path<(i64, i64)>,
) -> Result<axum::Json<WatchAnswer>> {
    let stop = app
        .scheduler
        .watch_lease(&runner, (StageId(stage), lease), LEASE_WAIT)
        .await?;
    Ok(axum::Json(WatchAnswer { stop }))
}
