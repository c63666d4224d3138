//! Step logs: `GET .../logs/{stage}/{step}` streams the stored lines as Drone's JSON array
//! (`[{"pos","out","time"}]`) without holding the log in memory; `GET /api/stream/.../{step}`
//! sends the stored lines and then live ones as server-sent events, ending with
//! `event: error` / `data: eof` as Drone does. Only committed lines are ever shown, so what a
//! reader saw survives a crash.

use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::domain::StepId;
use crate::domain::log::decode_lines;
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::auth::repo_for;
use crate::http::extract::Path;
use crate::live::LogEvent;
use crate::store::{LogChunk, Store};
use axum::body::{Body, Bytes};
use axum::extract::State as AppState;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// Chunks read per database round trip.
const PAGE: i64 = 2;

async fn step_of(
    app: &State,
    principal: &Principal,
    owner: &str,
    name: &str,
    number: i64,
    stage: i64,
    step: i64,
) -> Result<(StepId, bool)> {
    let repo = repo_for(app, principal, owner, name, Action::RepoRead, None).await?;
    let build = app
        .store
        .find_build(repo.id, number)
        .await?
        .ok_or_else(|| Error::not_found(format!("build {number} not found")))?;
    app.store
        .find_step_id(build.id, stage, step)
        .await?
        .ok_or_else(|| {
            Error::not_found(format!(
                "build {number} has no step {step} in stage {stage}"
            ))
        })
}

/// Writes one line as Drone's JSON object.
fn write_line(out: &mut Vec<u8>, pos: i64, time: u64, bytes: &[u8]) {
    out.extend_from_slice(b"{\"pos\":");
    out.extend_from_slice(pos.to_string().as_bytes());
    out.extend_from_slice(b",\"out\":");
    let text = String::from_utf8_lossy(bytes);
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text.as_ref());
    out.extend_from_slice(b",\"time\":");
    out.extend_from_slice(time.to_string().as_bytes());
    out.push(b'}');
}

fn chunk_json(chunk: &LogChunk, first: &mut bool, out: &mut Vec<u8>) {
    for (i, (time, bytes)) in decode_lines(&chunk.data).enumerate() {
        if !*first {
            out.push(b',');
        }
        *first = false;
        write_line(out, chunk.first_pos + i as i64, time, bytes);
    }
}

struct Reader {
    store: Store,
    step: StepId,
    after: i64,
    first: bool,
    state: u8, // 0 = before "[", 1 = reading, 2 = finished
}

pub async fn show(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, number, stage, step)): Path<(String, String, i64, i64, i64)>,
) -> Result<Response> {
    let (step, _) = step_of(&app, &principal, &owner, &name, number, stage, step).await?;
    let reader = Reader {
        store: app.store.clone(),
        step,
        after: 0,
        first: true,
        state: 0,
    };
    let body = futures_util::stream::unfold(reader, |mut r| async move {
        match r.state {
            0 => {
                r.state = 1;
                Some((Ok::<Bytes, Error>(Bytes::from_static(b"[")), r))
            }
            1 => match r.store.list_log_chunks(r.step, r.after, PAGE).await {
                Ok(chunks) if chunks.is_empty() => {
                    r.state = 2;
                    Some((Ok(Bytes::from_static(b"]")), r))
                }
                Ok(chunks) => {
                    let mut out =
                        Vec::with_capacity(chunks.iter().map(|c| c.data.len() + 64).sum());
                    for c in &chunks {
                        chunk_json(c, &mut r.first, &mut out);
                        r.after = c.seq;
                    }
                    Some((Ok(Bytes::from(out)), r))
                }
                Err(e) => {
                    r.state = 2;
                    Some((Err(e), r))
                }
            },
            _ => None,
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

/// Sends stored lines from `pos` on; returns the next position, or `None` if the watcher left.
async fn catch_up(
    store: &Store,
    step: StepId,
    after: &mut i64,
    pos: &mut i64,
    tx: &mpsc::Sender<Event>,
) -> Option<()> {
    loop {
        let chunks = store.list_log_chunks(step, *after, PAGE).await.ok()?;
        if chunks.is_empty() {
            return Some(());
        }
        for c in &chunks {
            for (i, (time, bytes)) in decode_lines(&c.data).enumerate() {
                let line_pos = c.first_pos + i as i64;
                if line_pos < *pos {
                    continue;
                }
                let mut out = Vec::with_capacity(bytes.len() + 48);
                write_line(&mut out, line_pos, time, bytes);
                tx.send(Event::default().data(String::from_utf8_lossy(&out)))
                    .await
                    .ok()?;
                *pos = line_pos + 1;
            }
            *after = c.seq;
        }
    }
}

async fn follow(
    store: Store,
    step: StepId,
    done: bool,
    mut live: broadcast::Receiver<LogEvent>,
    tx: mpsc::Sender<Event>,
) -> Option<()> {
    let (mut after, mut pos) = (0i64, 0i64);
    catch_up(&store, step, &mut after, &mut pos, &tx).await?;
    if !done {
        loop {
            tokio::select! {
                event = live.recv() => match event {
                    Ok(LogEvent::Lines(lines)) => {
                        for line in lines.iter() {
                            if line.pos < pos {
                                continue;
                            }
                            let json = serde_json::to_string(line).ok()?;
                            tx.send(Event::default().data(json)).await.ok()?;
                            pos = line.pos + 1;
                        }
                    }
                    Ok(LogEvent::End) | Err(broadcast::error::RecvError::Closed) => break,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        catch_up(&store, step, &mut after, &mut pos, &tx).await?;
                    }
                },
                _ = tokio::time::sleep(Duration::from_secs(2)) => {
                    if store.step_done(step).await.unwrap_or(true) {
                        break;
                    }
                }
            }
        }
        catch_up(&store, step, &mut after, &mut pos, &tx).await?;
    }
    tx.send(Event::default().event("error").data("eof"))
        .await
        .ok()
}

pub async fn stream(
    AppState(app): AppState<State>,
    principal: Principal,
    Path((owner, name, number, stage, step)): Path<(String, String, i64, i64, i64)>,
) -> Result<Response> {
    let (step, done) = step_of(&app, &principal, &owner, &name, number, stage, step).await?;
    let live = app.live.subscribe_log(step);
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(follow(app.store.clone(), step, done, live, tx));
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<Event, Infallible>(e), rx))
    });
    Ok(Sse::new(events)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(30))
                .text("ping"),
        )
        .into_response())
}
