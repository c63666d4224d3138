//! Entra ID, as it provisions by default: the enterprise extension, capitalised ops, `active`
//! as the string "False", filtered attribute paths, member removal with a value list (which
//! must remove only those members, never the whole group), and DELETE after a soft delete.

use super::*;
use crate::support::scim::fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the `hangar scim` command blocks a thread while the server runs
async fn entra_id_membership_removal_removes_only_the_named_member_and_string_false_deactivates() {
    let (app, scim) = provisioning(TestDatabase::sqlite()).await;

    let margaret = scim
        .create("/Users", &fixture("entra/create_user.json", &[]))
        .await;
    let katherine = scim
        .user("katherine.johnson@apollo.example", "kj-object-id")
        .await;
    let by_external = scim
        .get("/Users?filter=externalId%20eq%20%225c1f0e9a-7d6b-4c1e-9a55-0d3e7f1b2a01%22")
        .await;
    assert_eq!(by_external["totalResults"], 1);
    assert_eq!(by_external["Resources"][0]["id"], margaret.as_str());
    assert_eq!(
        by_external["Resources"][0]["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "Flight Software",
        "values are kept as sent"
    );

    let group = scim
        .create("/Groups", &fixture("entra/create_group.json", &[]))
        .await;
    let lookup = scim
        .get("/Groups?filter=displayName%20eq%20%22developers%22&excludedAttributes=members")
        .await;
    assert_eq!(lookup["totalResults"], 1);
    assert_eq!(lookup["Resources"][0]["id"], group.as_str());
    assert!(lookup["Resources"][0].get("members").is_none(), "{lookup}");
    assert_eq!(
        lookup["Resources"][0]["externalId"],
        "8a0e2d4c-1b3f-4e5a-9c7d-6f1e2a3b4c5d"
    );

    let add = fixture(
        "entra/add_members.json",
        &[("margaret", &margaret), ("katherine", &katherine)],
    );
    assert_eq!(
        scim.patch(&format!("/Groups/{group}"), &add).await.status,
        204
    );
    let remove = fixture("entra/remove_member.json", &[("katherine", &katherine)]);
    assert_eq!(
        scim.patch(&format!("/Groups/{group}"), &remove)
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
    assert_eq!(
        members,
        [margaret.as_str()],
        "only the named member left: {g}"
    );
    let by_member = scim
        .get(&format!(
            "/Groups?filter=members.value%20eq%20%22{margaret}%22"
        ))
        .await;
    assert_eq!(by_member["totalResults"], 1);

    let clear_all = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Remove", "path": "members"}]});
    let refused = scim.patch(&format!("/Groups/{group}"), &clear_all).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["scimType"], "noTarget");
    assert_eq!(
        scim.get(&format!("/Groups/{group}")).await["members"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "a removal naming nobody leaves the group as it was"
    );

    let update = fixture("entra/update_attributes.json", &[]);
    let updated = scim.patch(&format!("/Users/{margaret}"), &update).await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(updated.body["name"]["familyName"], "Hamilton-Lovelace");
    assert_eq!(
        updated.body["emails"][0]["value"],
        "m.hamilton@apollo.example"
    );
    let by_email = scim
        .get("/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22M.Hamilton%40apollo.example%22")
        .await;
    assert_eq!(by_email["totalResults"], 1, "{by_email}");

    let login = login_of(&app, &scim, &margaret).await;
    let token = token_for(&app, &login).await;
    assert_eq!(repos_seen(&app, &token).await.1, ["acme/api"]);

    let disable = fixture("entra/disable_user.json", &[]);
    let off = scim.patch(&format!("/Users/{margaret}"), &disable).await;
    assert_eq!(off.status, 200, "{:?}", off.body);
    assert_eq!(off.body["active"], false);
    assert_eq!(repos_seen(&app, &token).await.0, 401);
    assert_eq!(
        scim.get(&format!("/Users/{margaret}")).await["active"],
        false
    );

    let gone = scim
        .send(Method::DELETE, &format!("/Users/{margaret}"), None)
        .await;
    assert_eq!(gone.status, 204);
    let after = scim
        .send(Method::GET, &format!("/Users/{margaret}"), None)
        .await;
    assert_eq!(after.status, 404);
    assert_eq!(
        after.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(
        scim.get(&format!("/Groups/{group}")).await["members"],
        serde_json::json!([]),
        "a deleted user leaves their groups"
    );

    let trail = audited(&app).await;
    assert!(
        trail
            .iter()
            .any(|(a, _, d)| a == "scim.user_deactivated" && d["deleted"] == true)
    );
    assert!(trail.iter().any(
        |(a, _, d)| a == "scim.group_changed" && d["removed"] == serde_json::json!([katherine])
    ));
}
