//! `hangar bench scim`: what provisioning costs, as Okta does it one user at a time: the
//! existence check (`GET /Users?filter=userName eq "..."`) and the create (`POST /Users`), each
//! timed from outside over a real server process on SQLite, for `users` users in a row (so the
//! later ones meet a filled table). Target: user create p50 <= 5 ms.

use super::quantile;
use super::target::Server;
use anyhow::{Context, bail};
use std::time::Instant;

pub async fn run(users: usize) -> anyhow::Result<()> {
    let server = Server::start(&[]).await?;
    let token = server.scim_token()?;
    if !token.starts_with("hgr_scim_") {
        bail!("expected a SCIM token");
    }
    let base = format!("{}/scim/v2", server.url);
    let mut creates = Vec::with_capacity(users);
    let mut checks = Vec::with_capacity(users);
    for n in 0..users {
        let user_name = format!("bench.user{n}@example.com");
        let filter: String =
            url::form_urlencoded::byte_serialize(format!("userName eq \"{user_name}\"").as_bytes())
                .collect();
        let started = Instant::now();
        let found = server
            .http
            .get(format!(
                "{base}/Users?filter={filter}&startIndex=1&count=100"
            ))
            .bearer_auth(&token)
            .send()
            .await?;
        let status = found.status();
        found.bytes().await?;
        checks.push(started.elapsed().as_secs_f64() * 1000.0);
        if !status.is_success() {
            bail!("the existence check answered {status}");
        }
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name, "externalId": format!("00ubench{n:08}"), "active": true,
            "name": { "givenName": "Bench", "familyName": format!("User {n}") },
            "emails": [{ "primary": true, "value": user_name, "type": "work" }],
        });
        let started = Instant::now();
        let made = server
            .http
            .post(format!("{base}/Users"))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await?;
        let status = made.status();
        made.bytes().await.context("reading the answer")?;
        creates.push(started.elapsed().as_secs_f64() * 1000.0);
        if status.as_u16() != 201 {
            bail!("creating a user answered {status}");
        }
    }
    let (c50, c99) = (quantile(&mut creates, 0.5), quantile(&mut creates, 0.99));
    let (e50, e99) = (quantile(&mut checks, 0.5), quantile(&mut checks, 0.99));
    println!(
        "scim: POST /Users p50 {c50:.2} ms (target <= 5 ms), p99 {c99:.2} ms; existence check GET /Users?filter=userName eq p50 {e50:.2} ms, p99 {e99:.2} ms ({users} users in a row, SQLite)"
    );
    server.stop();
    Ok(())
}
