//! Stories of user administration through Drone's endpoints: people and service accounts are
//! created, changed, rotated and deactivated by administrators, and their tokens follow at once.

use crate::support::TestApp;
use crate::tokens::{audit, make, person, whoami};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_deactivated_users_tokens_are_refused_at_once() {
    let app = TestApp::spawn().await;
    let bob = person(&app, "bob").await;
    let (_, made) = make(&app, &bob, json!({ "name": "ci", "expires_in": 600 })).await;
    let second = made["token"].as_str().expect("token").to_string();
    assert_eq!(whoami(&app, &second).await, 200);

    let (status, user) = app
        .call(
            Method::PATCH,
            "/api/users/bob",
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!((status, &user["active"]), (200, &json!(false)), "{user}");
    assert_eq!(whoami(&app, &bob).await, 401);
    assert_eq!(whoami(&app, &second).await, 401);
    let tokens = app.get("/api/users/bob/tokens").await;
    assert!(
        tokens
            .as_array()
            .expect("list")
            .iter()
            .all(|t| t["revoked"] != 0)
    );

    let (status, _) = app
        .call(
            Method::PATCH,
            "/api/users/bob",
            Some(json!({ "active": true })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        whoami(&app, &bob).await,
        401,
        "reactivating revives no token"
    );

    let carol = person(&app, "carol").await;
    let (status, _) = app.call(Method::DELETE, "/api/users/carol", None).await;
    assert_eq!(status, 204);
    assert_eq!(whoami(&app, &carol).await, 401);
    assert!(
        audit(&app)
            .await
            .iter()
            .any(|e| e.action == "user.deactivated")
    );
}

#[tokio::test]
async fn drone_clients_find_their_user_endpoints_and_shapes() {
    let app = TestApp::spawn().await;
    let alice = person(&app, "alice").await;
    let (status, me) = app
        .call_as(Some(&alice), Method::GET, "/api/user", None)
        .await;
    assert_eq!(status, 200);
    let mut keys: Vec<&str> = me
        .as_object()
        .expect("an object")
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "active",
            "admin",
            "avatar",
            "created",
            "email",
            "id",
            "last_login",
            "login",
            "machine",
            "updated"
        ]
    );

    // POST /api/user/token: the User plus a token; ?rotate=true replaces the earlier ones.
    let (status, first) = app
        .call_as(Some(&alice), Method::POST, "/api/user/token", None)
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["login"], "alice");
    let first = first["token"].as_str().expect("token").to_string();
    assert_eq!(whoami(&app, &first).await, 200);
    let (_, second) = app
        .call_as(
            Some(&alice),
            Method::POST,
            "/api/user/token?rotate=true",
            None,
        )
        .await;
    let second = second["token"].as_str().expect("token").to_string();
    assert_eq!(whoami(&app, &second).await, 200);
    assert_eq!(whoami(&app, &first).await, 401, "rotated away");
    assert_eq!(
        whoami(&app, &alice).await,
        401,
        "so is the one an admin made for her"
    );

    // A machine user is a service account with an hgr_sa_ token, answered once.
    let (status, bot) = app
        .call(
            Method::POST,
            "/api/users",
            Some(json!({ "login": "ci-bot", "machine": true })),
        )
        .await;
    assert_eq!(status, 200, "{bot}");
    assert_eq!(bot["machine"], true);
    let bot_token = bot["token"].as_str().expect("token").to_string();
    assert!(bot_token.starts_with("hgr_sa_"), "{bot_token}");
    let (_, me) = app
        .call_as(Some(&bot_token), Method::GET, "/api/user", None)
        .await;
    assert_eq!(
        (me["login"].as_str(), me["machine"].as_bool()),
        (Some("ci-bot"), Some(true))
    );
    let (status, rotated) = app
        .call(Method::POST, "/api/users/ci-bot/token/rotate", None)
        .await;
    assert_eq!(status, 200);
    let rotated = rotated["token"].as_str().expect("token").to_string();
    assert_eq!(whoami(&app, &rotated).await, 200);
    assert_eq!(whoami(&app, &bot_token).await, 401);

    // Drone's CLI posts a whole User object; what is not the caller's to set is ignored.
    let drone_cli_body = json!({
        "id": 0, "login": "drone-made", "email": "", "avatar_url": "", "active": false,
        "admin": false, "machine": true, "syncing": false, "synced": 0, "created": 0,
        "updated": 0, "last_login": 0, "token": ""
    });
    let (status, made) = app
        .call(Method::POST, "/api/users", Some(drone_cli_body))
        .await;
    assert_eq!((status, &made["active"]), (200, &json!(true)), "{made}");
    let (status, _) = app
        .call(Method::DELETE, "/api/users/drone-made", None)
        .await;
    assert_eq!(status, 204);

    let users = app.get("/api/users").await;
    let logins: Vec<&str> = users
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|u| u["login"].as_str())
        .collect();
    // `admin` is the embedded provider's first user, made at the server's first start.
    assert_eq!(
        logins,
        ["admin", "alice", "bootstrap-admin", "ci-bot", "drone-made"]
    );
    assert_eq!(app.get("/api/users/alice").await["login"], "alice");
    assert_eq!(
        app.call(Method::GET, "/api/users/nobody", None).await.0,
        404
    );
    let (status, _) = app
        .call(
            Method::POST,
            "/api/users",
            Some(json!({ "login": "alice" })),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = app
        .call_as(Some(&second), Method::GET, "/api/users", None)
        .await;
    assert_eq!(status, 403, "not an administrator yet");
    let (status, patched) = app
        .call(
            Method::PATCH,
            "/api/users/alice",
            Some(json!({ "admin": true })),
        )
        .await;
    assert_eq!((status, &patched["admin"]), (200, &json!(true)));
    assert_eq!(
        app.call_as(Some(&second), Method::GET, "/api/users", None)
            .await
            .0,
        200,
        "admin now, at once"
    );

    let (status, _) = app
        .call_as(Some(&bot_token), Method::GET, "/api/users", None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .call_as(Some(&rotated), Method::GET, "/api/users", None)
        .await;
    assert_eq!(status, 403, "not an administrator");
    assert!(
        audit(&app)
            .await
            .iter()
            .any(|e| e.action == "service_account.created")
    );
}
