//! Arbitrary bytes as a webhook from either forge: reading the repository name, checking the
//! signature and parsing must never panic, and must agree with each other.
//!
//! Input layout: one byte picks the event, one byte the length of a signature header value
//! taken from the bytes after it; the rest is the body.
//!
//! Run without a nightly toolchain (from `fuzz/`; `-s none` because the code under test has
//! no `unsafe`): `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none webhook -- -max_total_time=600`.
//! Seeding `corpus/webhook/` with the payloads of `tests/data/hooks/`, each prefixed with two
//! bytes (event index, 0), reaches the interesting paths at once.

#![no_main]

use hangar::forge::{self, Forge, Parsed};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

const EVENTS: &[&str] = &["push", "pull_request", "create", "ping", "delete", "issues"];
const SECRET: &[u8] = b"fuzzing-secret";

fuzz_target!(|data: &[u8]| {
    let [selector, signature_len, rest @ ..] = data else {
        return;
    };
    let event = EVENTS[usize::from(*selector) % EVENTS.len()];
    let (signature, body) = rest.split_at(usize::from(*signature_len).min(rest.len()));

    let name = forge::repo_full_name(body);

    for forge in [Forge::GitHub, Forge::Gitea] {
        let mut headers = HeaderMap::new();
        let (event_header, signature_headers): (&str, &[&str]) = match forge {
            Forge::GitHub => ("x-github-event", &["x-hub-signature-256"]),
            Forge::Gitea => (
                "x-gitea-event",
                &[
                    "x-gitea-signature",
                    "x-forgejo-signature",
                    "x-hub-signature-256",
                ],
            ),
        };
        headers.insert(event_header, HeaderValue::from_static(event));
        assert_eq!(forge::forge_of(&headers), Some(forge));

        // Whatever the fuzzer writes as a signature (when HTTP allows it as a header value)
        // must be refused unless it is the real one.
        if let Ok(value) = HeaderValue::from_bytes(signature) {
            for header in signature_headers {
                let mut forged = headers.clone();
                forged.insert(HeaderName::from_static(header), value.clone());
                let accepted = forge::verify_signature(forge, &forged, body, SECRET);
                if accepted {
                    let (_, real) = forge::sign(forge, body, SECRET);
                    let claimed = value.to_str().unwrap_or_default().trim();
                    let claimed = claimed.strip_prefix("sha256=").unwrap_or(claimed);
                    let real = real.strip_prefix("sha256=").unwrap_or(&real);
                    assert!(
                        claimed.eq_ignore_ascii_case(real),
                        "accepted a forged signature"
                    );
                }
            }
        }
        let (header, value) = forge::sign(forge, body, SECRET);
        let mut signed = headers.clone();
        signed.insert(
            header,
            HeaderValue::from_str(&value).expect("hex is a header value"),
        );
        assert!(forge::verify_signature(forge, &signed, body, SECRET));
        assert!(!forge::verify_signature(
            forge,
            &signed,
            body,
            b"another secret"
        ));

        // The repository whose secret checked the signature is the one the hook builds.
        if let Ok(Parsed::Build(hook)) = forge::parse(forge, &headers, body) {
            assert!(!hook.repo_full_name.is_empty());
            assert_eq!(name.as_deref(), Some(hook.repo_full_name.as_str()));
        }
    }
});
