//! In-process fan-out of what watchers see live: build events (for `/api/stream`) and log lines
//! (for `/api/stream/{owner}/{name}/{build}/{stage}/{step}`). Nothing here is durable: the store
//! is the record; this only saves watchers from polling it.

use crate::domain::StepId;
use crate::domain::log::{Line, decode_lines};
use crate::store::LogChunk;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// A build changed: the repository's slug and the JSON watchers get (Drone's shape: the repo
/// object with the build under `build`).
#[derive(Debug, Clone)]
pub struct BuildEvent {
    pub repo: String,
    pub json: Arc<str>,
}

/// What a log watcher gets.
#[derive(Debug, Clone)]
pub enum LogEvent {
    Lines(Arc<Vec<Line>>),
    /// The step finished: no more lines.
    End,
}

/// The hub.
#[derive(Debug)]
pub struct Live {
    builds: broadcast::Sender<BuildEvent>,
    logs: Mutex<HashMap<StepId, broadcast::Sender<LogEvent>>>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            builds: broadcast::channel(1024).0,
            logs: Mutex::new(HashMap::new()),
        }
    }
}

impl Live {
    /// Whether anyone watches build events (so callers can skip building the JSON).
    pub fn has_build_watchers(&self) -> bool {
        self.builds.receiver_count() > 0
    }

    pub fn publish_build(&self, event: BuildEvent) {
        let _ = self.builds.send(event);
    }

    pub fn subscribe_builds(&self) -> broadcast::Receiver<BuildEvent> {
        self.builds.subscribe()
    }

    /// Whether anyone here watches a step's log.
    pub fn has_log_watchers(&self, step: StepId) -> bool {
        self.logs
            .lock()
            .ok()
            .and_then(|map| map.get(&step).map(|s| s.receiver_count() > 0))
            .unwrap_or(false)
    }

    /// Hands a stored chunk's lines to the step's watchers, if there are any.
    pub fn publish_log(&self, step: StepId, chunk: &LogChunk) {
        let sender = match self.logs.lock() {
            Ok(map) => map.get(&step).cloned(),
            Err(_) => None,
        };
        let Some(sender) = sender else { return };
        if sender.receiver_count() == 0 {
            return;
        }
        let lines: Vec<Line> = decode_lines(&chunk.data)
            .enumerate()
            .map(|(i, (time, bytes))| Line {
                pos: chunk.first_pos + i as i64,
                out: String::from_utf8_lossy(bytes).into_owned(),
                time: i64::try_from(time).unwrap_or(i64::MAX),
            })
            .collect();
        let _ = sender.send(LogEvent::Lines(Arc::new(lines)));
    }

    /// Tells a step's watchers it finished, and forgets the step.
    pub fn end_log(&self, step: StepId) {
        let sender = self.logs.lock().ok().and_then(|mut map| map.remove(&step));
        if let Some(sender) = sender {
            let _ = sender.send(LogEvent::End);
        }
    }

    /// Watches a step's log lines from now on.
    pub fn subscribe_log(&self, step: StepId) -> broadcast::Receiver<LogEvent> {
        match self.logs.lock() {
            Ok(mut map) => map
                .entry(step)
                .or_insert_with(|| broadcast::channel(256).0)
                .subscribe(),
            Err(_) => broadcast::channel(1).1,
        }
    }
}
