//! The protocol itself: discovery documents, who may call, filters and paging, and bad input
//! answered with SCIM error bodies (which also carry `message`, as every Hangar error does).

use super::*;
use crate::support::ADMIN_TOKEN;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the `hangar scim` command blocks a thread while the server runs
async fn the_discovery_documents_answer_as_scim_json() {
    let (_app, scim) = provisioning(TestDatabase::sqlite()).await;
    let spc = scim.send(Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(spc.status, 200);
    assert_eq!(spc.content_type, "application/scim+json");
    assert_eq!(spc.body["patch"]["supported"], true);
    assert_eq!(spc.body["filter"]["supported"], true);
    let types = scim.get("/ResourceTypes").await;
    let names: Vec<&str> = types["Resources"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["endpoint"].as_str())
        .collect();
    assert_eq!(names, ["/Users", "/Groups"]);
    let schemas = scim.get("/Schemas").await;
    assert_eq!(schemas["totalResults"], 2);
    let user = scim
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await;
    assert_eq!(user["attributes"][0]["name"], "userName");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the `hangar scim` command blocks a thread while the server runs
async fn only_scim_tokens_are_accepted_at_scim_and_scim_tokens_nowhere_else() {
    let (app, scim) = provisioning(TestDatabase::sqlite()).await;
    for (token, why) in [
        (None, "no token"),
        (Some(ADMIN_TOKEN), "an API token"),
        (
            Some("hgr_scim_000000000000000000000000000000_000000"),
            "a malformed SCIM token",
        ),
    ] {
        let a = scim.send_as(token, Method::GET, "/Users", None).await;
        assert_eq!(a.status, 401, "{why}: {:?}", a.body);
        assert_eq!(
            a.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{why}"
        );
        assert!(a.body["message"].is_string(), "{why}");
        assert!(
            !a.body.to_string().contains(ADMIN_TOKEN),
            "no token in an error body"
        );
    }
    let holder = scim.user("holder@a.example", "h1").await;
    let personal = token_for(&app, &login_of(&app, &scim, &holder).await).await;
    assert!(personal.starts_with("hgr_pat_"), "{personal}");
    let a = scim
        .send_as(Some(&personal), Method::GET, "/Users", None)
        .await;
    assert_eq!(a.status, 401, "a personal access token is not a SCIM token");
    let (status, _) = app
        .call_as(Some(&scim.token), Method::GET, "/api/user", None)
        .await;
    assert_eq!(status, 401, "a SCIM token is not an API token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the `hangar scim` command blocks a thread while the server runs
async fn filters_and_pages_find_users_in_a_stable_order() {
    let (_app, scim) = provisioning(TestDatabase::sqlite()).await;
    let mut ids = Vec::new();
    for (name, ext) in [
        ("ann@a.example", "e1"),
        ("bob@a.example", "e2"),
        ("bea@b.example", "e3"),
        ("cy@b.example", "e4"),
        ("dee@a.example", "e5"),
    ] {
        ids.push(scim.user(name, ext).await);
    }
    let count = |v: &Value| v["totalResults"].as_i64().expect("totalResults");
    let id_list = |v: &Value| -> Vec<String> {
        v["Resources"]
            .as_array()
            .expect("Resources")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_string())
            .collect()
    };

    let page = scim.get("/Users?startIndex=2&count=2").await;
    assert_eq!(count(&page), 5);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(id_list(&page), ids[1..3]);
    let last = scim.get("/Users?startIndex=5&count=100").await;
    assert_eq!(id_list(&last), ids[4..]);
    let none = scim.get("/Users?count=0").await;
    assert_eq!((count(&none), id_list(&none).len()), (5, 0));

    for (filter, expected) in [
        (r#"externalId eq "e3""#, vec![2]),
        (r#"userName sw "b""#, vec![1, 2]),
        (r#"userName co "@a.""#, vec![0, 1, 4]),
        (r#"userName ew "b.example" and externalId eq "e4""#, vec![3]),
        (r#"emails.value eq "DEE@A.EXAMPLE""#, vec![4]),
        (r#"externalId eq "e1" or externalId eq "e5""#, vec![0, 4]),
        (r#"not (userName co "a.example")"#, vec![2, 3]),
        (r#"userName co "%""#, vec![]),
    ] {
        let q: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        let found = scim.get(&format!("/Users?filter={q}")).await;
        let want: Vec<String> = expected.iter().map(|i| ids[*i].clone()).collect();
        assert_eq!(id_list(&found), want, "{filter}");
        assert_eq!(count(&found), want.len() as i64, "{filter}");
    }
    let trimmed = scim.get("/Users?attributes=userName").await;
    let first = &trimmed["Resources"][0];
    assert!(
        first.get("userName").is_some() && first.get("emails").is_none(),
        "{first}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the `hangar scim` command blocks a thread while the server runs
async fn bad_input_is_answered_with_a_scim_error_that_says_what_is_wrong() {
    let (_app, scim) = provisioning(TestDatabase::sqlite()).await;
    let ann = scim.user("ann@a.example", "e1").await;
    let raw = |s: &str| Value::String(s.to_string());
    type Case = (Method, String, Option<Value>, u16, Option<&'static str>);
    let cases: Vec<Case> = vec![
        (
            Method::POST,
            "/Users".into(),
            Some(serde_json::json!({"displayName": "x"})),
            400,
            Some("invalidValue"),
        ),
        (
            Method::POST,
            "/Users".into(),
            Some(serde_json::json!({"userName": "ANN@a.example"})),
            409,
            Some("uniqueness"),
        ),
        (
            Method::POST,
            "/Users".into(),
            Some(serde_json::json!({"userName": "x", "active": "maybe"})),
            400,
            Some("invalidValue"),
        ),
        (
            Method::POST,
            "/Groups".into(),
            Some(serde_json::json!({"displayName": "g", "members": [{"value": "nobody"}]})),
            400,
            Some("invalidValue"),
        ),
        (
            Method::GET,
            "/Users?filter=userName%20gt%20%22a%22".into(),
            None,
            400,
            Some("invalidFilter"),
        ),
        (
            Method::GET,
            "/Users?filter=password%20eq%20%22a%22".into(),
            None,
            400,
            Some("invalidFilter"),
        ),
        (
            Method::GET,
            "/Users?startIndex=first".into(),
            None,
            400,
            Some("invalidValue"),
        ),
        (Method::GET, "/Users/not-an-id".into(), None, 404, None),
        (Method::DELETE, "/Groups/not-an-id".into(), None, 404, None),
        (
            Method::PATCH,
            format!("/Users/{ann}"),
            Some(serde_json::json!({"Operations": [{"op": "move", "path": "x", "value": 1}]})),
            400,
            Some("invalidSyntax"),
        ),
        (
            Method::PATCH,
            format!("/Users/{ann}"),
            Some(
                serde_json::json!({"Operations": [{"op": "replace", "path": "active", "value": "perhaps"}]}),
            ),
            400,
            Some("invalidValue"),
        ),
        (Method::GET, "/Nothing".into(), None, 404, None),
    ];
    for (method, path, body, status, scim_type) in cases {
        let a = scim.send(method.clone(), &path, body.as_ref()).await;
        assert_eq!(a.status, status, "{method} {path}: {:?}", a.body);
        assert_eq!(a.content_type, "application/scim+json", "{method} {path}");
        assert_eq!(
            a.body["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
        assert_eq!(
            a.body["status"],
            raw(&status.to_string()),
            "{method} {path}"
        );
        assert!(
            a.body["detail"].as_str().is_some_and(|d| !d.is_empty())
                && a.body["message"] == a.body["detail"],
            "{method} {path}: {:?}",
            a.body
        );
        match scim_type {
            Some(t) => assert_eq!(a.body["scimType"], t, "{method} {path}"),
            None => assert!(a.body.get("scimType").is_none(), "{method} {path}"),
        }
    }
    let not_json = reqwest::Client::new()
        .post(format!("{}/Users", scim.base))
        .bearer_auth(&scim.token)
        .header("content-type", "application/scim+json")
        .body("{\"userName\": ")
        .send()
        .await
        .expect("answers");
    assert_eq!(not_json.status().as_u16(), 400);
    let body: Value = not_json.json().await.expect("json");
    assert_eq!(body["scimType"], "invalidSyntax");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the `hangar scim` command blocks a thread while the server runs
async fn a_revoked_scim_token_is_refused_at_once() {
    let (app, scim) = provisioning(TestDatabase::sqlite()).await;
    assert_eq!(scim.send(Method::GET, "/Users", None).await.status, 200);
    let url = app.database.url(app.data.path());
    let listed = crate::support::scim::scim_command(app.data.path(), &url, &["token", "list"]);
    let line = listed.lines().next().expect("one token");
    assert!(
        line.contains("identity-provider") && line.contains("hgr_scim_") && line.ends_with("live"),
        "{listed}"
    );
    assert!(!listed.contains(&scim.token), "never the secret: {listed}");
    let id = line.split('\t').next().expect("id");
    crate::support::scim::scim_command(app.data.path(), &url, &["token", "revoke", id]);
    assert_eq!(scim.send(Method::GET, "/Users", None).await.status, 401);
    assert!(
        audited(&app)
            .await
            .iter()
            .any(|(a, _, _)| a == "scim.token_revoked")
    );
}
