//! `hangar bench web`: the pages as a browser signed in as the admin fetches them, on a server
//! holding `repos` repositories with a finished build each. Measures the time from request to
//! the whole page (the server renders it; loopback adds little) and each page's weight before
//! logs. The sign-in is the real one: `/login?local=1` through the embedded provider's form.

use super::quantile;
use super::target::{Repo, Server};
use anyhow::{Context, bail};
use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const PASSWORD: &str = "bench admin password, long enough";

/// A browser's cookies, by name (every cookie here is for the one server).
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, resp: &reqwest::Response) {
        for value in resp.headers().get_all(SET_COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            let pair = value.split(';').next().unwrap_or("");
            if let Some((name, v)) = pair.split_once('=') {
                self.0.insert(name.trim().to_string(), v.trim().to_string());
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A client that follows nothing by itself, and a jar.
struct Browser {
    http: reqwest::Client,
    jar: Jar,
}

impl Browser {
    async fn send(&mut self, req: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let resp = req.header(COOKIE, self.jar.header()).send().await?;
        self.jar.take(&resp);
        Ok(resp)
    }

    fn location(resp: &reqwest::Response) -> anyhow::Result<String> {
        Ok(resp
            .headers()
            .get(LOCATION)
            .context("a redirect without Location")?
            .to_str()?
            .to_string())
    }

    /// Signs in as `admin` through the embedded provider's form.
    async fn sign_in(&mut self, base: &str) -> anyhow::Result<()> {
        let resp = self
            .send(self.http.get(format!("{base}/login?local=1")))
            .await?;
        let authorize = Browser::location(&resp)?;
        let form = self.send(self.http.get(&authorize)).await?.text().await?;
        let login = form
            .split("name=\"login\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .context("the provider's form carries no transaction")?
            .to_string();
        let resp = self
            .send(self.http.post(format!("{base}/oidc/login")).form(&[
                ("login", login.as_str()),
                ("username", "admin"),
                ("password", PASSWORD),
            ]))
            .await?;
        let callback = Browser::location(&resp)?;
        let resp = self.send(self.http.get(&callback)).await?;
        if !resp.status().is_redirection() {
            bail!("signing in failed: {}", resp.status());
        }
        Ok(())
    }

    /// Fetches `path` whole; the time it took and the page.
    async fn page(&mut self, base: &str, path: &str) -> anyhow::Result<(Duration, String)> {
        let started = Instant::now();
        let resp = self.send(self.http.get(format!("{base}{path}"))).await?;
        let status = resp.status();
        let body = resp.text().await?;
        let took = started.elapsed();
        if !status.is_success() {
            bail!("{path} answered {status}");
        }
        Ok((took, body))
    }
}

/// The style sheet and scripts a page loads (`/assets/...`).
fn assets(page: &str) -> Vec<String> {
    page.split("/assets/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|file| format!("/assets/{file}"))
        .collect()
}

pub async fn run(repos: usize, samples: usize) -> anyhow::Result<()> {
    let pipeline = "kind: pipeline\ntype: exec\nclone:\n  disable: true\nsteps:\n- name: a\n  commands: [\"true\"]\n";
    let repo = Repo::new(pipeline)?;
    let server = Server::start(&[("HANGAR_ADMIN_PASSWORD", PASSWORD.to_string())]).await?;
    let clone_url = repo.bare.to_string_lossy().to_string();
    println!("seeding {repos} repositories with a build each");
    let seeding = Instant::now();
    for i in 0..repos {
        let slug = format!("acme/repo-{i:04}");
        server
            .call(
                Method::POST,
                &format!("/api/repos/{slug}"),
                Some(serde_json::json!({ "clone_url": clone_url })),
            )
            .await?;
        server
            .call(
                Method::POST,
                &format!("/api/repos/{slug}/builds?branch=main"),
                None,
            )
            .await?;
    }
    let last = format!(
        "/api/repos/acme/repo-{:04}/builds/1",
        repos.saturating_sub(1)
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let b = server.call(Method::GET, &last, None).await?;
        if matches!(b["status"].as_str(), Some("success" | "failure" | "error")) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the seeded builds did not finish within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("seeded in {:.1} s", seeding.elapsed().as_secs_f64());

    let mut browser = Browser {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        jar: Jar::default(),
    };
    browser.sign_in(&server.url).await?;
    let pages = [
        ("/", "repository list"),
        ("/acme/repo-0000", "a repository's builds"),
        ("/acme/repo-0000/1", "a build"),
        ("/acme/repo-0000/settings", "settings"),
        ("/account/tokens", "my tokens"),
        ("/admin", "admin"),
    ];
    println!(
        "{:<28} {:>9} {:>9} {:>11}",
        "page", "p50 ms", "p99 ms", "weight KB"
    );
    for (path, what) in pages {
        let (_, body) = browser.page(&server.url, path).await?;
        let mut weight = body.len();
        for asset in assets(&body) {
            weight += browser.page(&server.url, &asset).await?.1.len();
        }
        let mut times = Vec::with_capacity(samples);
        for _ in 0..samples {
            times.push(browser.page(&server.url, path).await?.0.as_secs_f64() * 1000.0);
        }
        println!(
            "{:<28} {:>9.2} {:>9.2} {:>11.1}",
            what,
            quantile(&mut times, 0.5),
            quantile(&mut times, 0.99),
            weight as f64 / 1024.0
        );
        if path == "/" {
            let shown = body.matches("class=\"repo\"").count();
            println!(
                "  the list shows {shown} repositories; target: <= 20 ms server-side for 1,000"
            );
        }
    }
    println!("target: pages weigh <= 100 KB before logs");
    server.stop();
    Ok(())
}
