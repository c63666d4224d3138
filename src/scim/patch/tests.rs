use super::*;
use serde_json::json;

fn ops(body: Value) -> Vec<Operation> {
    operations(&body).expect("operations read")
}

#[test]
fn okta_deactivates_with_a_value_object_and_no_path() {
    let mut doc = json!({"userName": "ada", "active": true});
    let o = ops(json!({"schemas": [crate::scim::PATCH_SCHEMA],
        "Operations": [{"op": "replace", "value": {"active": false}}]}));
    apply_to_user(&mut doc, &o).expect("applies");
    assert_eq!(doc["active"], false);
}

#[test]
fn entra_replaces_with_a_capitalised_op_a_string_boolean_and_filtered_paths() {
    let mut doc = json!({"userName": "ada", "emails": [{"type": "work", "value": "old@x"}]});
    let o = ops(json!({"Operations": [
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@x"},
        {"op": "Replace", "path": "name.familyName", "value": "Byron"}
    ]}));
    apply_to_user(&mut doc, &o).expect("applies");
    assert_eq!(doc["active"], "False");
    assert_eq!(doc["emails"], json!([{"type": "work", "value": "new@x"}]));
    assert_eq!(doc["name"]["familyName"], "Byron");
}

#[test]
fn dotted_names_in_a_value_object_reach_sub_attributes() {
    let mut doc = json!({"userName": "ada", "name": {"givenName": "A"}});
    let o = ops(json!({"Operations": [{"op": "replace",
        "value": {"name.givenName": "Ada", "displayName": "Ada L"}}]}));
    apply_to_user(&mut doc, &o).expect("applies");
    assert_eq!(doc["name"]["givenName"], "Ada");
    assert_eq!(doc["displayName"], "Ada L");
}

#[test]
fn a_filtered_path_that_matches_nothing_adds_an_entry() {
    let mut doc = json!({"userName": "ada"});
    let o = ops(json!({"Operations": [{"op": "add",
        "path": "emails[type eq \"work\"].value", "value": "a@x"}]}));
    apply_to_user(&mut doc, &o).expect("applies");
    assert_eq!(doc["emails"], json!([{"type": "work", "value": "a@x"}]));
}

#[test]
fn a_bad_op_or_a_missing_list_is_a_syntax_error() {
    for body in [
        json!({"Operations": [{"op": "move", "path": "x", "value": 1}]}),
        json!({"Operations": []}),
        json!({"ops": []}),
        json!({"Operations": [{"op": "replace", "value": 3}]}),
    ] {
        let e = operations(&body).expect_err("refused");
        assert_eq!(e.scim_type, "invalidSyntax", "{body}");
    }
}

#[test]
fn okta_membership_delta_removes_by_filter_and_adds_by_list() {
    let o = ops(json!({"Operations": [
        {"op": "remove", "path": "members[value eq \"u1\"]"},
        {"op": "add", "path": "members", "value": [{"value": "u2", "display": "b@x"}]}
    ]}));
    assert_eq!(
        group_ops(&o),
        Ok(vec![
            GroupOp::RemoveMembers(vec!["u1".into()]),
            GroupOp::AddMembers(vec!["u2".into()])
        ])
    );
}

#[test]
fn okta_rename_sends_the_id_back_which_is_ignored() {
    let o = ops(json!({"Operations": [{"op": "replace",
        "value": {"id": "g1", "displayName": "Test SCIMv2"}}]}));
    assert_eq!(
        group_ops(&o),
        Ok(vec![GroupOp::Rename("Test SCIMv2".into())])
    );
}

#[test]
fn entras_remove_with_a_value_list_removes_only_those_members() {
    let o = ops(json!({"Operations": [{"op": "Remove", "path": "members",
        "value": [{"$ref": null, "value": "u9"}]}]}));
    assert_eq!(
        group_ops(&o),
        Ok(vec![GroupOp::RemoveMembers(vec!["u9".into()])])
    );
}

#[test]
fn a_member_removal_naming_nobody_never_clears_the_group() {
    for body in [
        json!({"Operations": [{"op": "remove", "path": "members"}]}),
        json!({"Operations": [{"op": "Remove", "path": "members", "value": []}]}),
    ] {
        let e = group_ops(&ops(body.clone())).expect_err("refused");
        assert_eq!(e.scim_type, "noTarget", "{body}");
    }
}

#[test]
fn a_full_push_replaces_the_members() {
    let o = ops(json!({"Operations": [{"op": "replace", "path": "members",
        "value": [{"value": "a"}, {"value": "b"}]}]}));
    assert_eq!(
        group_ops(&o),
        Ok(vec![GroupOp::ReplaceMembers(vec!["a".into(), "b".into()])])
    );
}

#[test]
fn a_members_filter_on_something_else_is_refused() {
    let o = ops(json!({"Operations": [{"op": "remove", "path": "members[display eq \"x\"]"}]}));
    assert!(group_ops(&o).is_err());
}

#[test]
fn odd_paths_are_refused_or_taken_literally_never_a_panic() {
    for p in [
        "a]b[c",
        "]",
        "[",
        "émails[type eq \"work\"].value",
        "urn:ietf:params:scim:schemas:core:2.0:Useré",
        "x[y]z",
        "emails[type gt 1]",
    ] {
        let mut doc = json!({"userName": "ada"});
        let o = vec![Operation {
            kind: Kind::Replace,
            path: Some(p.into()),
            value: Some(json!("v")),
        }];
        let _ = apply_to_user(&mut doc, &o);
        let _ = group_ops(&o);
        let r = vec![Operation {
            kind: Kind::Remove,
            path: Some(p.into()),
            value: None,
        }];
        let _ = apply_to_user(&mut doc, &r);
        let _ = group_ops(&r);
    }
}
