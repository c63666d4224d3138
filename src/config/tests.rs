use super::*;

pub(super) fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn with_nothing_set_the_server_listens_on_8080_with_sqlite_under_hangar_data() {
    let loaded = Config::load(None, &env(&[])).expect("defaults load");
    let c = loaded.config;
    assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
    assert_eq!(c.server_url, "http://127.0.0.1:8080");
    assert_eq!(c.database_url, "sqlite://hangar-data/hangar.db");
    assert!(c.admin_token.is_none());
    assert_eq!(c.log_limit, 1 << 30);
    assert!(c.runner_capacity >= 2);
}

#[test]
fn environment_variables_override_defaults() {
    let c = Config::load(
        None,
        &env(&[
            ("HANGAR_ADDR", "0.0.0.0:9000"),
            ("HANGAR_SERVER_URL", "https://ci.example.com/"),
            ("HANGAR_RUNNER_CAPACITY", "7"),
            ("HANGAR_LOG_LIMIT", "10MiB"),
            ("HANGAR_CANCEL_GRACE", "5m"),
        ]),
    )
    .expect("loads")
    .config;
    assert_eq!(c.addr.port(), 9000);
    assert_eq!(c.server_url, "https://ci.example.com");
    assert_eq!(c.runner_capacity, 7);
    assert_eq!(c.log_limit, 10 << 20);
    assert_eq!(c.cancel_grace, Duration::from_secs(300));
}

#[test]
fn a_bad_value_names_its_key() {
    let err = Config::load(None, &env(&[("HANGAR_RUNNER_CAPACITY", "lots")]))
        .expect_err("refused")
        .to_string();
    assert!(err.contains("HANGAR_RUNNER_CAPACITY"), "{err}");
    let err = Config::load(None, &env(&[("HANGAR_DATABASE_URL", "mysql://x")]))
        .expect_err("refused")
        .to_string();
    assert!(err.contains("HANGAR_DATABASE_URL"), "{err}");
}

#[test]
fn unknown_hangar_variables_are_warned_about() {
    let loaded =
        Config::load(None, &env(&[("HANGAR_ADRR", "x"), ("HANGAR_TOKEN", "t")])).expect("loads");
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].contains("HANGAR_ADRR"));
}

#[test]
fn the_admin_token_never_shows_in_debug() {
    let c = Config::load(
        None,
        &env(&[("HANGAR_ADMIN_TOKEN", "0123456789abcdef-very-secret")]),
    )
    .expect("loads")
    .config;
    assert!(!format!("{c:?}").contains("very-secret"));
}

#[test]
fn durations_accept_units_and_plain_seconds() {
    assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert!(parse_duration("5 fortnights").is_err());
    assert!(parse_duration("").is_err());
}

#[test]
fn sizes_accept_binary_and_decimal_units() {
    assert_eq!(parse_size("1GiB"), Ok(1 << 30));
    assert_eq!(parse_size("2MB"), Ok(2_000_000));
    assert_eq!(parse_size("4096"), Ok(4096));
    assert!(parse_size("1TiB").is_err());
}

#[test]
fn the_example_file_documents_every_key_and_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hangar.example.toml");
    let text = std::fs::read_to_string(&path).expect("hangar.example.toml exists");
    for key in KEYS.iter().chain(super::builds::KEYS) {
        assert!(
            text.lines().any(|l| {
                let l = l.trim_start_matches('#').trim_start();
                l.starts_with(&format!("{key} =")) || l == format!("[[{key}]]")
            }),
            "hangar.example.toml does not document {key}"
        );
    }
    let uncommented: String = text
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|r| r.contains(" = ") || r.starts_with("[["))
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hangar.toml");
    std::fs::write(&file, uncommented).expect("write");
    Config::load(Some(&file), &env(&[])).expect("every documented value loads");
}
