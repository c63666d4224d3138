//! A step's output becomes numbered, timed lines, packed into chunks for the store: a chunk is
//! sent when it holds 1 MiB or its first line is 100 ms old, so live logs stay live and a fast
//! writer costs one database row per megabyte. Past the per-step limit, one marker line says
//! the log was cut and the rest is read and dropped (so the step never blocks on a full pipe).
//! Secret values are masked (`mask.rs`) before the output is cut into lines.

use super::mask::Masker;
use crate::domain::log::encode_line;
use crate::store::LogChunk;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

/// Bytes after which a line without a newline is cut into its own line.
pub const MAX_LINE: usize = 64 * 1024;
const CHUNK_BYTES: usize = 1 << 20;
const CHUNK_AGE: Duration = Duration::from_millis(100);

/// Turns output bytes into chunks of lines.
#[derive(Debug)]
pub struct LogBuffer {
    started: Instant,
    limit: u64,
    partial: Vec<u8>,
    chunk: Vec<u8>,
    chunk_lines: i64,
    chunk_first_pos: i64,
    chunk_since: Option<Instant>,
    next_pos: i64,
    next_seq: i64,
    kept: u64,
    /// Bytes the step wrote past the limit and that were dropped.
    pub dropped: u64,
    mask: Option<Masker>,
    masked: Vec<u8>,
}

impl LogBuffer {
    /// A buffer for a step that started at `started`, keeping at most `limit` bytes.
    pub fn new(started: Instant, limit: u64) -> LogBuffer {
        LogBuffer {
            started,
            limit,
            partial: Vec::new(),
            chunk: Vec::with_capacity(64 * 1024),
            chunk_lines: 0,
            chunk_first_pos: 0,
            chunk_since: None,
            next_pos: 0,
            next_seq: 1,
            kept: 0,
            dropped: 0,
            mask: None,
            masked: Vec::new(),
        }
    }

    /// Masks the values `mask` knows in everything fed from now on.
    pub fn with_mask(mut self, mask: Option<Masker>) -> LogBuffer {
        self.mask = mask;
        self
    }

    /// Takes bytes as they arrive; complete lines go into the current chunk.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) {
        let Some(mask) = self.mask.as_mut() else {
            self.feed_lines(bytes, now);
            return;
        };
        let mut masked = std::mem::take(&mut self.masked);
        masked.clear();
        mask.feed(bytes, &mut masked);
        self.feed_lines(&masked, now);
        self.masked = masked;
    }

    fn feed_lines(&mut self, mut bytes: &[u8], now: Instant) {
        while let Some(nl) = memchr::memchr(b'\n', bytes) {
            let (line, rest) = bytes.split_at(nl + 1);
            if self.partial.is_empty() {
                self.push_line(line, now);
            } else {
                self.partial.extend_from_slice(line);
                let whole = std::mem::take(&mut self.partial);
                self.push_line(&whole, now);
            }
            bytes = rest;
        }
        self.partial.extend_from_slice(bytes);
        while self.partial.len() >= MAX_LINE {
            let rest = self.partial.split_off(MAX_LINE);
            let whole = std::mem::replace(&mut self.partial, rest);
            self.push_line(&whole, now);
        }
    }

    /// Ends the output: a last line without a newline becomes a line.
    pub fn finish(&mut self, now: Instant) {
        if let Some(mut mask) = self.mask.take() {
            let mut rest = Vec::new();
            mask.finish(&mut rest);
            self.feed_lines(&rest, now);
        }
        if !self.partial.is_empty() {
            let whole = std::mem::take(&mut self.partial);
            self.push_line(&whole, now);
        }
    }

    fn push_line(&mut self, line: &[u8], now: Instant) {
        if self.kept >= self.limit {
            self.dropped += line.len() as u64;
            return;
        }
        if self.kept + line.len() as u64 > self.limit {
            self.dropped += line.len() as u64;
            self.kept = self.limit;
            let marker = format!(
                "[hangar] log truncated: this step's output passed the {} limit (HANGAR_LOG_LIMIT); the rest is not kept\n",
                human_size(self.limit)
            );
            self.append(marker.as_bytes(), now);
            return;
        }
        self.kept += line.len() as u64;
        self.append(line, now);
    }

    fn append(&mut self, line: &[u8], now: Instant) {
        if self.chunk_lines == 0 {
            self.chunk_first_pos = self.next_pos;
            self.chunk_since = Some(now);
        }
        let time = now.saturating_duration_since(self.started).as_secs();
        encode_line(&mut self.chunk, time, line);
        self.chunk_lines += 1;
        self.next_pos += 1;
    }

    /// Whether the current chunk should be sent now.
    pub fn ready(&self, now: Instant) -> bool {
        self.chunk.len() >= CHUNK_BYTES
            || self
                .chunk_since
                .is_some_and(|since| now.saturating_duration_since(since) >= CHUNK_AGE)
    }

    /// When the current chunk becomes due by age, if it holds anything.
    pub fn due(&self) -> Option<Instant> {
        self.chunk_since.map(|since| since + CHUNK_AGE)
    }

    /// Takes the current chunk, if it holds any line.
    pub fn take(&mut self) -> Option<LogChunk> {
        if self.chunk_lines == 0 {
            return None;
        }
        let data = std::mem::replace(&mut self.chunk, Vec::with_capacity(64 * 1024));
        let chunk = LogChunk {
            seq: self.next_seq,
            first_pos: self.chunk_first_pos,
            line_count: self.chunk_lines,
            byte_count: data.len() as i64,
            data,
        };
        self.next_seq += 1;
        self.chunk_lines = 0;
        self.chunk_since = None;
        Some(chunk)
    }

    /// Lines written so far.
    pub fn lines(&self) -> i64 {
        self.next_pos
    }
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// Reads a step's output until the pipe ends, sending chunks to `sink` as they fill or age.
/// Sending waits when the sink is full, which slows a fast writer down instead of piling its
/// output up in memory. Returns the buffer (with its counts) at the end.
pub async fn pump(
    mut output: pipe::Receiver,
    mut buffer: LogBuffer,
    sink: mpsc::Sender<LogChunk>,
) -> LogBuffer {
    let mut read = vec![0u8; 64 * 1024];
    loop {
        let deadline = buffer.due();
        let n = tokio::select! {
            r = output.read(&mut read) => r,
            _ = sleep_until(deadline) => {
                if let Some(chunk) = buffer.take() {
                    let _ = sink.send(chunk).await;
                }
                continue;
            }
        };
        let now = Instant::now();
        match n {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.feed(&read[..n], now),
        }
        if buffer.ready(now)
            && let Some(chunk) = buffer.take()
        {
            let _ = sink.send(chunk).await;
        }
    }
    buffer.finish(Instant::now());
    if let Some(chunk) = buffer.take() {
        let _ = sink.send(chunk).await;
    }
    buffer
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::log::decode_lines;

    fn lines(chunk: &LogChunk) -> Vec<String> {
        decode_lines(&chunk.data)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn output_split_across_reads_becomes_whole_lines() {
        let t = Instant::now();
        let mut buf = LogBuffer::new(t, 1 << 20);
        buf.feed(b"hel", t);
        buf.feed(b"lo\nwor", t);
        buf.feed(b"ld\nlast", t);
        buf.finish(t);
        let chunk = buf.take().expect("a chunk");
        assert_eq!(lines(&chunk), vec!["hello\n", "world\n", "last"]);
        assert_eq!((chunk.seq, chunk.first_pos, chunk.line_count), (1, 0, 3));
    }

    #[test]
    fn chunks_continue_the_line_numbers() {
        let t = Instant::now();
        let mut buf = LogBuffer::new(t, 1 << 20);
        buf.feed(b"a\nb\n", t);
        let first = buf.take().expect("first");
        buf.feed(b"c\n", t);
        let second = buf.take().expect("second");
        assert_eq!((second.seq, second.first_pos), (2, 2));
        assert_eq!(first.line_count + second.line_count, 3);
        assert!(buf.take().is_none());
    }

    #[test]
    fn a_line_without_newline_is_cut_at_the_maximum_length() {
        let t = Instant::now();
        let mut buf = LogBuffer::new(t, 1 << 30);
        buf.feed(&vec![b'x'; MAX_LINE * 2 + 10], t);
        buf.finish(t);
        let chunk = buf.take().expect("chunk");
        let lens: Vec<usize> = decode_lines(&chunk.data).map(|(_, b)| b.len()).collect();
        assert_eq!(lens, vec![MAX_LINE, MAX_LINE, 10]);
    }

    #[test]
    fn output_past_the_limit_is_dropped_after_one_marker_line() {
        let t = Instant::now();
        let mut buf = LogBuffer::new(t, 10);
        buf.feed(b"12345\n1234567890\nmore\n", t);
        let chunk = buf.take().expect("chunk");
        let got = lines(&chunk);
        assert_eq!(got[0], "12345\n");
        assert!(got[1].contains("log truncated"), "{got:?}");
        assert!(got[1].contains("10 bytes"));
        assert_eq!(got.len(), 2);
        assert_eq!(buf.dropped, 11 + 5);
    }

    #[test]
    fn a_secret_split_across_reads_and_lines_never_reaches_a_chunk() {
        let t = Instant::now();
        let mut buf = LogBuffer::new(t, 1 << 20).with_mask(Masker::new(["pa55\nw0rd"]));
        buf.feed(b"one pa5", t);
        buf.feed(b"5\nw0", t);
        buf.feed(b"rd two\nlast pa55", t);
        buf.finish(t);
        let chunk = buf.take().expect("chunk");
        assert_eq!(lines(&chunk), vec!["one ******** two\n", "last ********"]);
    }

    #[test]
    fn a_chunk_is_due_once_its_first_line_is_a_tenth_of_a_second_old() {
        let t = Instant::now();
        let mut buf = LogBuffer::new(t, 1 << 20);
        assert!(!buf.ready(t));
        buf.feed(b"x\n", t);
        assert!(!buf.ready(t));
        assert!(buf.ready(t + Duration::from_millis(100)));
    }
}
