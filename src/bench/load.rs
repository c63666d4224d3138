//! A small HTTP/1.1 load generator for floods of requests (webhooks, API reads): many keep-alive
//! connections, each sending prepared requests back to back and reading just the status line
//! and body length, timing each answer. Lighter than a general client, so on a shared 2-core
//! machine more of the CPU is left for the server under test.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Counts by outcome.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: AtomicU64,
    pub unauthorized: AtomicU64,
    pub other: AtomicU64,
    /// How long each answered request took, in microseconds.
    pub latencies_us: Mutex<Vec<f64>>,
}

impl Tally {
    /// Every answer, whatever its status.
    pub fn answered(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
            + self.unauthorized.load(Ordering::Relaxed)
            + self.other.load(Ordering::Relaxed)
    }

    /// The `q`-quantile of the answer times, in milliseconds.
    pub fn latency_ms(&self, q: f64) -> f64 {
        match self.latencies_us.lock() {
            Ok(mut l) => super::quantile(&mut l, q) / 1000.0,
            Err(_) => f64::NAN,
        }
    }
}

/// Raw bytes of a GET request.
pub fn get(host: &str, path: &str, headers: &[(String, String)]) -> Vec<u8> {
    let mut out = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Raw bytes of one request.
pub fn request(host: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        have += n;
    }
    Ok(status)
}

/// Sends requests made by `make(n)` over `connections` connections for `duration`.
pub async fn flood<F>(addr: &str, connections: usize, duration: Duration, make: F) -> Arc<Tally>
where
    F: Fn(u64) -> Vec<u8> + Send + Sync + 'static,
{
    let tally = Arc::new(Tally::default());
    let counter = Arc::new(AtomicU64::new(0));
    let make = Arc::new(make);
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (tally, counter, make, addr) = (
            tally.clone(),
            counter.clone(),
            make.clone(),
            addr.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let Ok(mut stream) = TcpStream::connect(&addr).await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let mut buf = Vec::with_capacity(8192);
            let mut times = Vec::with_capacity(1 << 16);
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let req = make(n);
                let sent = Instant::now();
                if stream.write_all(&req).await.is_err() {
                    break;
                }
                let answer = read_response(&mut stream, &mut buf).await;
                times.push(sent.elapsed().as_secs_f64() * 1e6);
                match answer {
                    Ok(s) if (200..300).contains(&s) => tally.ok.fetch_add(1, Ordering::Relaxed),
                    Ok(401) => tally.unauthorized.fetch_add(1, Ordering::Relaxed),
                    Ok(_) => tally.other.fetch_add(1, Ordering::Relaxed),
                    Err(_) => {
                        times.pop();
                        break;
                    }
                };
            }
            if let Ok(mut all) = tally.latencies_us.lock() {
                all.extend(times);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    tally
}
