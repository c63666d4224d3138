//! SCIM input from an identity provider (or anyone holding its token): filters, PATCH bodies and
//! resources must never panic, whatever the bytes.
#![no_main]

use hangar::scim::{filter, patch, resource};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = filter::parse(text, filter::Resource::User);
        let _ = filter::parse(text, filter::Resource::Group);
    }
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = resource::user(&body);
    let _ = resource::group(&body);
    if let Ok(ops) = patch::operations(&body) {
        let _ = patch::group_ops(&ops);
        let mut doc = serde_json::json!({ "userName": "fuzz", "emails": [{ "type": "work", "value": "a@b" }] });
        if patch::apply_to_user(&mut doc, &ops).is_ok() {
            let _ = resource::user(&doc);
        }
    }
});
