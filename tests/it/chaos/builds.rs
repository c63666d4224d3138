//! The chaos story's traffic: builds triggered in the background through both servers (a
//! trigger through a server that is restarting is sent again once it answers), and waiting
//! until enough of them have ended.

use crate::support::{ADMIN_TOKEN, TestApp};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Triggers sent at once.
const AT_ONCE: usize = 4;

/// A build: its repository and number.
pub type Key = (String, i64);

/// Triggers `count` builds in the background, round `slugs`, through `servers` in turn.
pub fn trigger_in_background(
    http: reqwest::Client,
    servers: [String; 2],
    slugs: Vec<String>,
    count: usize,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut sent = tokio::task::JoinSet::new();
        for i in 0..count {
            if sent.len() >= AT_ONCE {
                sent.join_next().await;
            }
            let url = format!(
                "{}/api/repos/{}/builds?branch=main",
                servers[i % 2],
                slugs[i % slugs.len()]
            );
            sent.spawn(trigger(http.clone(), url));
        }
        while sent.join_next().await.is_some() {}
    })
}

/// POSTs `url` until the server takes it (at most a minute).
async fn trigger(http: reqwest::Client, url: String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sent = http.post(&url).bearer_auth(ADMIN_TOKEN).send().await;
        match sent {
            Ok(resp) if resp.status() == 200 => return,
            Ok(resp) if resp.status().is_client_error() => {
                panic!("{url}: {}", resp.status())
            }
            _ => {}
        }
        assert!(Instant::now() < deadline, "{url} was never taken");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every build of `slugs` with its status, as A lists them.
pub async fn statuses(a: &TestApp, slugs: &[String]) -> BTreeMap<Key, String> {
    let mut out = BTreeMap::new();
    for slug in slugs {
        for page in 1.. {
            let builds = a
                .get(&format!(
                    "/api/repos/{slug}/builds?per_page=100&page={page}"
                ))
                .await;
            let builds = builds.as_array().cloned().unwrap_or_default();
            for b in &builds {
                let key = (slug.clone(), b["number"].as_i64().unwrap_or(0));
                out.insert(key, b["status"].as_str().unwrap_or("").to_string());
            }
            if builds.len() < 100 {
                break;
            }
        }
    }
    out
}

pub fn is_final(status: &str) -> bool {
    matches!(status, "success" | "failure" | "error" | "killed")
}

/// Waits until at least `count` builds of `slugs` have ended, and none is left open if
/// `all` (every build triggered by then); panics at `deadline` with those still open.
pub async fn wait_until_ended(
    a: &TestApp,
    slugs: &[String],
    count: usize,
    all: bool,
    deadline: Instant,
) -> Vec<Key> {
    loop {
        let builds = statuses(a, slugs).await;
        let open: Vec<String> = builds
            .iter()
            .filter(|(_, s)| !is_final(s))
            .map(|((slug, n), s)| format!("{slug}#{n} {s}"))
            .collect();
        let ended = builds.len() - open.len();
        if ended >= count && (!all || open.is_empty()) {
            return builds.into_keys().collect();
        }
        assert!(
            Instant::now() < deadline,
            "{} builds have not ended in time: {open:?}",
            open.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
