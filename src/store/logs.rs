//! Step logs, stored in chunks of many lines. The chunk's bytes are produced and read by
//! `runner::log` (framing) and `http::api::logs` (JSON); here they are opaque.

use super::{Store, db};
use crate::domain::{BuildId, StepId};
use crate::error::Result;

/// One stored piece of a step's log.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LogChunk {
    /// 1, 2, 3, ... per step; a retried append of the same `seq` is ignored.
    pub seq: i64,
    /// `pos` of the chunk's first line (lines are numbered from 0 per step).
    pub first_pos: i64,
    pub line_count: i64,
    pub byte_count: i64,
    pub data: Vec<u8>,
}

impl Store {
    /// Appends a chunk to a step's log (idempotent per `seq`).
    pub async fn append_log(&self, step: StepId, chunk: &LogChunk) -> Result<()> {
        on!(&*self.write, p => sqlx::query(
            "INSERT INTO log_chunks (step_id, seq, first_pos, line_count, byte_count, data) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (step_id, seq) DO NOTHING")
            .bind(step.0)
            .bind(chunk.seq)
            .bind(chunk.first_pos)
            .bind(chunk.line_count)
            .bind(chunk.byte_count)
            .bind(&chunk.data)
            .execute(p)
            .await
            .map_err(db)?
            .rows_affected());
        Ok(())
    }

    /// Up to `limit` chunks of a step's log with `seq` above `after`, in order.
    pub async fn list_log_chunks(
        &self,
        step: StepId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LogChunk>> {
        Ok(on!(&*self.read, p => sqlx::query_as::<_, LogChunk>(
            "SELECT seq, first_pos, line_count, byte_count, data FROM log_chunks \
             WHERE step_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
            .bind(step.0)
            .bind(after)
            .bind(limit)
            .fetch_all(p)
            .await
            .map_err(db)?))
    }

    /// The step `step_number` of stage `stage_number` of a build, with whether it has finished.
    pub async fn find_step_id(
        &self,
        build: BuildId,
        stage_number: i64,
        step_number: i64,
    ) -> Result<Option<(StepId, bool)>> {
        let row: Option<(i64, String)> = on!(&*self.read, p => sqlx::query_as(
            "SELECT st.id, st.status FROM steps st JOIN stages sg ON sg.id = st.stage_id \
             WHERE sg.build_id = $1 AND sg.number = $2 AND st.number = $3")
            .bind(build.0)
            .bind(stage_number)
            .bind(step_number)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(row.map(|(id, status)| {
            let done = status
                .parse::<crate::domain::Status>()
                .map(|s| s.is_done())
                .unwrap_or(true);
            (StepId(id), done)
        }))
    }

    /// Whether a step has finished.
    pub async fn step_done(&self, step: StepId) -> Result<bool> {
        let status: Option<String> = on!(&*self.read, p => sqlx::query_scalar(
            "SELECT status FROM steps WHERE id = $1")
            .bind(step.0)
            .fetch_optional(p)
            .await
            .map_err(db)?);
        Ok(status
            .and_then(|s| s.parse::<crate::domain::Status>().ok())
            .is_none_or(|s| s.is_done()))
    }
}
