//! The benchmark scenarios, each against a fresh server process.

use super::load;
use super::quantile;
use super::target::{Repo, Server, mkfifo, push_hook, time_lint};
use anyhow::{Context, bail};
use reqwest::Method;
use std::io::BufRead;
use std::time::{Duration, Instant};

/// Push -> first step running, `pushes` times in a row (after 5 unmeasured warm-up pushes);
/// with `sandbox`, the steps run inside bubblewrap.
pub async fn push_latency(pushes: usize, clone: bool, sandbox: bool) -> anyhow::Result<()> {
    // Outside /tmp, which a sandboxed step does not see; writing to a FIFO on the read-only host
    // is allowed.
    let dir = tempfile::Builder::new()
        .prefix("hangar-bench")
        .tempdir_in("/var/tmp")
        .or_else(|_| tempfile::tempdir())?;
    let fifo = dir.path().join("started");
    mkfifo(&fifo)?;
    let clone_line = if clone {
        ""
    } else {
        "clone:\n  disable: true\n"
    };
    let pipeline = format!(
        "kind: pipeline\ntype: exec\n{clone_line}steps:\n- name: first\n  commands:\n  - echo $DRONE_BUILD_NUMBER > {}\n",
        fifo.display()
    );
    let repo = Repo::new(&pipeline)?;
    let mode = if sandbox { "on" } else { "off" };
    let server = Server::start(&[("HANGAR_SANDBOX", mode.to_string())]).await?;
    let secret = server.activate(&repo).await?;
    // The step writes its build number into the FIFO; a thread timestamps each line.
    let (tx, rx) = std::sync::mpsc::channel::<(i64, Instant)>();
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)?;
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(reader).lines() {
            let Ok(line) = line else { return };
            if let Ok(n) = line.trim().parse::<i64>()
                && tx.send((n, Instant::now())).is_err()
            {
                return;
            }
        }
    });
    let client = reqwest::Client::new();
    let mut samples = Vec::new();
    let warmup = 5;
    for i in 0..(pushes + warmup) {
        let sha = repo.push_change(i)?;
        let (body, headers) = push_hook(&secret, &sha, &format!("push-{i}"));
        let mut req = client.post(format!("{}/hook", server.url)).body(body);
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        let sent = Instant::now();
        let resp = req.send().await?;
        let build: serde_json::Value = resp.json().await?;
        let number = build["number"].as_i64().context("the hook made no build")?;
        let started = loop {
            let (n, at) = rx
                .recv_timeout(Duration::from_secs(30))
                .context("the step did not start within 30 s")?;
            if n == number {
                break at;
            }
        };
        if i >= warmup {
            samples.push(started.duration_since(sent).as_secs_f64() * 1000.0);
        }
    }
    let (p50, p90, p99) = (
        quantile(&mut samples, 0.5),
        quantile(&mut samples, 0.9),
        quantile(&mut samples, 0.99),
    );
    let max = samples.iter().cloned().fold(0.0, f64::max);
    if sandbox {
        let what = if clone {
            "with clone"
        } else {
            "clone disabled"
        };
        println!(
            "push-latency ({what}, steps in bubblewrap): p50 {p50:.1} ms, p90 {p90:.1} ms, p99 {p99:.1} ms, max {max:.1} ms over {pushes} pushes"
        );
    } else if clone {
        println!(
            "push-latency with clone: p50 {p50:.1} ms (target <= 40 ms), p90 {p90:.1} ms, p99 {p99:.1} ms, max {max:.1} ms over {pushes} pushes"
        );
    } else {
        println!(
            "push-latency (clone disabled): p50 {p50:.1} ms (target <= 15 ms), p90 {p90:.1} ms, p99 {p99:.1} ms (target <= 60 ms), max {max:.1} ms over {pushes} pushes"
        );
    }
    server.stop();
    Ok(())
}

/// A flood of signed webhooks, then of forged ones.
pub async fn webhooks(seconds: u64, connections: usize) -> anyhow::Result<()> {
    let repo = Repo::new(
        "kind: pipeline\ntype: exec\nclone:\n  disable: true\ntrigger:\n  branch: [never-built]\nsteps:\n- name: x\n  commands: [true]\n",
    )?;
    let server = Server::start(&[]).await?;
    let secret = server.activate(&repo).await?;
    let sha = repo.push_change(0)?;
    let host = server.url.trim_start_matches("http://").to_string();
    let (body, headers) = push_hook(&secret, &sha, "template");
    let (h2, b2) = (host.clone(), body.clone());
    let started = Instant::now();
    let tally = load::flood(&host, connections, Duration::from_secs(seconds), move |n| {
        let mut hs = headers.clone();
        if let Some(d) = hs.iter_mut().find(|(k, _)| k == "X-GitHub-Delivery") {
            d.1 = format!("flood-{n}");
        }
        load::request(&h2, "/hook", &hs, &b2)
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let accepted = tally.ok.load(std::sync::atomic::Ordering::Relaxed);
    let latest = server
        .call(Method::GET, "/api/repos/acme/bench/builds/latest", None)
        .await?;
    let stored = latest["number"].as_i64().unwrap_or(0);
    println!(
        "webhooks: {:.0} signed webhooks/s accepted and committed (target >= 2,000/s); {accepted} answered 2xx, {stored} builds stored{}; {} other answers",
        accepted as f64 / elapsed,
        if stored as u64 == accepted {
            " (none lost)"
        } else {
            " (MISMATCH)"
        },
        tally.other.load(std::sync::atomic::Ordering::Relaxed),
    );
    // Forged: same payload, wrong signature.
    let (body, mut headers) = push_hook("not-the-secret", &sha, "forged");
    headers.retain(|(k, _)| k != "X-GitHub-Delivery");
    let forged = load::request(&host, "/hook", &headers, &body);
    let started = Instant::now();
    let tally = load::flood(
        &host,
        connections,
        Duration::from_secs(seconds),
        move |_| forged.clone(),
    )
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let rejected = tally
        .unauthorized
        .load(std::sync::atomic::Ordering::Relaxed);
    let after = server
        .call(Method::GET, "/api/repos/acme/bench/builds/latest", None)
        .await?;
    println!(
        "webhooks: {:.0} forged webhooks/s rejected with 401 (target >= 20,000/s); builds created by them: {}",
        rejected as f64 / elapsed,
        after["number"].as_i64().unwrap_or(0) - stored
    );
    server.stop();
    Ok(())
}

/// Sums the `out` bytes (after the first line, the echoed command) and counts the lines of a
/// logs API answer, without holding it; returns the first line too.
fn count_log(path: &std::path::Path) -> anyhow::Result<(u64, u64, String)> {
    use serde::de::{Deserializer, SeqAccess, Visitor};
    #[derive(serde::Deserialize)]
    struct Line {
        out: String,
    }
    struct Count;
    impl<'de> Visitor<'de> for Count {
        type Value = (u64, u64, String);
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of lines")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let (mut bytes, mut lines, mut first) = (0u64, 0u64, String::new());
            while let Some(line) = seq.next_element::<Line>()? {
                if lines == 0 {
                    first = line.out;
                } else {
                    bytes += line.out.len() as u64;
                }
                lines += 1;
            }
            Ok((bytes, lines, first))
        }
    }
    let file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut de = serde_json::Deserializer::from_reader(file);
    Ok(de.deserialize_seq(Count)?)
}

/// A step printing `megabytes` MB: end-to-end rate, every byte readable, server peak RSS.
pub async fn big_log(megabytes: u64) -> anyhow::Result<()> {
    let bytes = megabytes * 1_000_000;
    let line = "0123456789 the quick brown fox jumps over the lazy dog 0123456789";
    let repo = Repo::new(&format!(
        "kind: pipeline\ntype: exec\nclone:\n  disable: true\nsteps:\n- name: print\n  commands:\n  - yes '{line}' | head -c {bytes}\n"
    ))?;
    let server = Server::start(&[]).await?;
    server.activate(&repo).await?;
    let started = Instant::now();
    server
        .call(
            Method::POST,
            "/api/repos/acme/bench/builds?branch=main",
            None,
        )
        .await?;
    let build = server.wait_build(1, Duration::from_secs(600)).await?;
    let elapsed = started.elapsed().as_secs_f64();
    if build["status"] != "success" {
        bail!("the build ended {}", build["status"]);
    }
    let peak = server.memory_kb("VmHWM:");
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("log.json");
    let read_started = Instant::now();
    let mut resp = server
        .http
        .get(format!(
            "{}/api/repos/acme/bench/builds/1/logs/1/1",
            server.url
        ))
        .bearer_auth(super::target::TOKEN)
        .send()
        .await?;
    let mut out = tokio::io::BufWriter::new(tokio::fs::File::create(&file).await?);
    while let Some(chunk) = resp.chunk().await? {
        tokio::io::AsyncWriteExt::write_all(&mut out, &chunk).await?;
    }
    tokio::io::AsyncWriteExt::flush(&mut out).await?;
    let read_secs = read_started.elapsed().as_secs_f64();
    let peak_after_read = server.memory_kb("VmHWM:");
    let (got, lines, echo) = tokio::task::spawn_blocking(move || count_log(&file)).await??;
    if !echo.starts_with("+ yes") {
        bail!("the log does not start with the echoed command: {echo:?}");
    }
    println!(
        "big-log: {megabytes} MB printed and stored in {elapsed:.2} s = {:.0} MB/s end to end (target >= 150 MB/s); logs API returned {got} bytes in {lines} lines ({}) in {read_secs:.2} s; server peak RSS {:.1} MB while running, {:.1} MB after reading (target < 120 MB)",
        megabytes as f64 / elapsed,
        if got == bytes {
            "every byte"
        } else {
            "BYTES MISSING"
        },
        peak as f64 / 1024.0,
        peak_after_read as f64 / 1024.0,
    );
    server.stop();
    Ok(())
}

/// `builds` builds of `sleep 1` with as many runner slots.
pub async fn concurrent(builds: usize) -> anyhow::Result<()> {
    let repo = Repo::new(
        "kind: pipeline\ntype: exec\nclone:\n  disable: true\nsteps:\n- name: nap\n  commands: [sleep 1]\n",
    )?;
    let server = Server::start(&[("HANGAR_RUNNER_CAPACITY", builds.to_string())]).await?;
    let secret = server.activate(&repo).await?;
    let sha = repo.push_change(0)?;
    let started = Instant::now();
    server
        .push_hooks(&secret, &sha, (0..builds).map(|i| format!("c-{i}")))
        .await?;
    let mut succeeded;
    loop {
        succeeded = 0;
        let mut finished = 0;
        for page in 1..=builds.div_ceil(100) {
            let list = server
                .call(
                    Method::GET,
                    &format!("/api/repos/acme/bench/builds?per_page=100&page={page}"),
                    None,
                )
                .await?;
            for b in list.as_array().into_iter().flatten() {
                match b["status"].as_str() {
                    Some("success") => {
                        succeeded += 1;
                        finished += 1;
                    }
                    Some("failure" | "error" | "killed" | "skipped") => finished += 1,
                    _ => {}
                }
            }
        }
        if finished >= builds || started.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "concurrent: {builds} builds of `sleep 1` (capacity {builds}): {succeeded} succeeded, wall time {:.2} s (target < 6 s)",
        started.elapsed().as_secs_f64()
    );
    server.stop();
    Ok(())
}

/// Resident memory of a server that has started and is idle.
pub async fn idle() -> anyhow::Result<()> {
    let server = Server::start(&[]).await?;
    server.call(Method::GET, "/api/user", None).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "idle: server RSS {:.1} MB (target < 30 MB)",
        server.memory_kb("VmRSS:") as f64 / 1024.0
    );
    server.stop();
    Ok(())
}

/// `hangar lint` on a generated file with `steps` steps.
pub async fn lint(steps: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join(".drone.yml");
    let mut text = String::from("kind: pipeline\ntype: exec\nname: big\nsteps:\n");
    for i in 0..steps {
        text.push_str(&format!(
            "- name: step-{i}\n  environment:\n    N: \"{i}\"\n  commands:\n  - echo step {i}\n  - test -n \"$N\"\n  when:\n    branch: [main, release/*]\n{}",
            if i > 0 { format!("  depends_on: [step-{}]\n", i - 1) } else { String::new() }
        ));
    }
    std::fs::write(&file, text)?;
    let mut samples = Vec::new();
    for _ in 0..30 {
        samples.push(time_lint(&file)?);
    }
    println!(
        "lint: `hangar lint` on a {steps}-step file: median {:.2} ms, max {:.2} ms over 30 runs, whole process (target < 5 ms)",
        quantile(&mut samples, 0.5),
        samples.iter().cloned().fold(0.0, f64::max)
    );
    Ok(())
}
