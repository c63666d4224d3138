//! `.drone.yml` from anyone who can push: parsing, linting and planning must never panic, hang
//! or run out of memory, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(manifest) = hangar::pipeline::parse(text) {
        let _ = hangar::pipeline::lint_all(&manifest, false);
        let _ = hangar::pipeline::lint(&manifest, true);
        let plan = hangar::pipeline::plan(&manifest);
        let _ = serde_json::to_string(&plan);
    }
});
