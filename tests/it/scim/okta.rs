//! Okta, as it provisions: an existence check by userName, a create (with a password it must not
//! keep), a pushed group, membership deltas with a rename on each, and deactivation by PATCH
//! without a path (OIN apps) or by PUT with `active: false` (custom apps). Okta never DELETEs.

use super::*;
use crate::support::scim::fixture;

async fn okta_provisions_and_deprovisions(database: TestDatabase) {
    let (app, scim) = provisioning(database).await;

    let exists = scim
        .get("/Users?filter=userName%20eq%20%22grace.hopper%40navy.example%22&startIndex=1&count=100")
        .await;
    assert_eq!(exists["totalResults"], 0, "{exists}");
    let grace = scim
        .create("/Users", &fixture("okta/create_user.json", &[]))
        .await;
    let again = scim
        .send(
            Method::POST,
            "/Users",
            Some(&fixture("okta/create_user.json", &[])),
        )
        .await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    assert_eq!(again.body["scimType"], "uniqueness");

    let shown = scim.get(&format!("/Users/{grace}")).await;
    assert_eq!(shown["userName"], "grace.hopper@navy.example");
    assert_eq!(shown["externalId"], "00u1grace0000000001");
    assert_eq!(shown["name"]["givenName"], "Grace");
    assert_eq!(shown["active"], true);
    assert!(
        !shown.to_string().contains("Cobol-1959"),
        "the password is never kept: {shown}"
    );
    let found = scim
        .get("/Users?filter=userName%20eq%20%22GRACE.HOPPER%40navy.example%22")
        .await;
    assert_eq!(found["totalResults"], 1, "userName is not case-exact");
    assert_eq!(found["Resources"][0]["id"], grace.as_str());

    let login = login_of(&app, &scim, &grace).await;
    let token = token_for(&app, &login).await;
    assert_eq!(
        repos_seen(&app, &token).await.1,
        Vec::<String>::new(),
        "no group, no access"
    );

    let former = scim.user("former@navy.example", "00u-former").await;
    let group = scim
        .create("/Groups", &fixture("okta/push_group.json", &[]))
        .await;
    let add_former = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": former}]}]});
    assert_eq!(
        scim.patch(&format!("/Groups/{group}"), &add_former)
            .await
            .status,
        204
    );
    let delta = fixture(
        "okta/membership_delta.json",
        &[("former", &former), ("grace", &grace)],
    );
    let answer = scim.patch(&format!("/Groups/{group}"), &delta).await;
    assert_eq!(answer.status, 204, "{:?}", answer.body);
    let rename = fixture("okta/rename_group.json", &[("group", &group)]);
    assert_eq!(
        scim.patch(&format!("/Groups/{group}"), &rename)
            .await
            .status,
        204
    );
    let g = scim.get(&format!("/Groups/{group}")).await;
    let members: Vec<&str> = g["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["value"].as_str())
        .collect();
    assert_eq!(members, [grace.as_str()], "{g}");
    assert_eq!(
        scim.get(&format!("/Users/{grace}")).await["groups"][0]["display"],
        "developers"
    );

    // Access before any login: the group grants developer on acme/*, from the next request.
    assert_eq!(
        repos_seen(&app, &token).await,
        (200, vec!["acme/api".to_string()])
    );

    let off = scim
        .patch(
            &format!("/Users/{grace}"),
            &fixture("okta/deactivate_user.json", &[]),
        )
        .await;
    assert_eq!(off.status, 200, "{:?}", off.body);
    assert_eq!(off.body["active"], false);
    assert_eq!(
        repos_seen(&app, &token).await.0,
        401,
        "the token is revoked at once"
    );
    let still = scim.get(&format!("/Users/{grace}")).await;
    assert_eq!(
        still["active"], false,
        "a deactivated user is still returned"
    );

    // A custom (AIW) app deactivates with a PUT.
    let linus = scim.user("linus.t@navy.example", "00u-linus").await;
    let put = fixture("okta/put_user_inactive.json", &[("user", &linus)]);
    let answer = scim
        .send(Method::PUT, &format!("/Users/{linus}"), Some(&put))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["active"], false);

    let trail = audited(&app).await;
    let has = |action: &str, target: &str| {
        trail
            .iter()
            .any(|(a, t, _)| a == action && t.starts_with(target))
    };
    assert!(has("scim.user_created", &format!("user:{login}")));
    assert!(has("scim.group_changed", "group:developers"));
    assert!(has("user.groups_changed", &format!("user:{login}")));
    assert!(has("scim.user_deactivated", &format!("user:{login}")));
    assert!(has("user.deactivated", &format!("user:{login}")));
    assert!(has("token.revoked", "token:"));
    let creator = trail
        .iter()
        .find(|(a, _, _)| a == "scim.user_created")
        .expect("created");
    assert!(
        !creator.2.to_string().contains("Cobol"),
        "no password in the audit trail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the `hangar scim` command blocks a thread while the server runs
async fn okta_provisions_a_developer_before_any_login_and_deactivation_revokes_their_token() {
    okta_provisions_and_deprovisions(TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the `hangar scim` command blocks a thread while the server runs
async fn okta_provisioning_works_the_same_on_postgresql() {
    let Some(database) = TestDatabase::postgres().await else {
        eprintln!("HANGAR_TEST_DATABASE_URL is not set: skipped");
        return;
    };
    okta_provisions_and_deprovisions(database).await;
}
