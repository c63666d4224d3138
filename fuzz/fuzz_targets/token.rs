//! Whatever a client sends as a credential: judging its shape (prefix, length, alphabet,
//! checksum) and checking scopes must never panic, and a string judged valid must carry its own
//! checksum.
//!
//! Run from `fuzz/`: `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none token -- -max_total_time=600`.

#![no_main]

use hangar::auth::token::{self, Shape};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match token::parse(text) {
        Shape::Valid(format) => {
            assert!(text.starts_with(format.prefix()));
            assert!(text.is_ascii());
        }
        Shape::Malformed => assert!(text.starts_with("hgr_")),
        Shape::Foreign => assert!(!text.starts_with("hgr_")),
    }
    let _ = hangar::domain::token::check_scope(text);
    let _ = token::hash(text);
});
