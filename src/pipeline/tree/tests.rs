use super::input::ShortWindow;
use super::*;

/// The keys of the first document's root mapping, in order.
fn keys(text: &str) -> Vec<String> {
    let tree = documents(text).expect("reads");
    let root = tree.documents().next().expect("a document");
    let Value::Map(entries) = root.value() else {
        panic!("a mapping");
    };
    entries.iter().map(|e| e.key.to_string()).collect()
}

/// A mapping of `count` keys `k0: 0`, `k1: 1`, ..., one per line at `indent`.
fn many_keys(count: usize, indent: &str) -> String {
    (0..count).map(|i| format!("{indent}k{i}: {i}\n")).collect()
}

#[test]
fn a_key_written_twice_in_a_large_mapping_is_rejected_where_it_is_repeated() {
    let mut text = many_keys(40, "");
    text.push_str("k7: again\n");
    let e = documents(&text).expect_err("rejected");
    assert_eq!(
        e.pos,
        Position {
            line: 41,
            column: 1
        }
    );
    assert_eq!(e.message, "key `k7` is written twice in this mapping");
}

#[test]
fn merging_a_large_mapping_keeps_own_keys_first_and_adds_only_new_ones() {
    let text = format!(
        "base: &base\n{}\nuse:\n  k3: mine\n  <<: *base\n  extra: 1\n",
        many_keys(30, "  ")
    );
    let tree = documents(&text).expect("reads");
    let root = tree.documents().next().expect("a document");
    let Value::Map(root) = root.value() else {
        panic!("a mapping");
    };
    let Value::Map(merged) = root.get("use").expect("use").value.value() else {
        panic!("a mapping");
    };
    let keys: Vec<&str> = merged.iter().map(|e| e.key).collect();
    assert_eq!(keys.len(), 31, "own k3 and extra, then k0..k29 less k3");
    assert_eq!(&keys[..4], ["k3", "extra", "k0", "k1"]);
    let k3 = merged.get("k3").expect("k3").value;
    assert!(matches!(k3.value(), Value::Scalar { text: "mine", .. }));
}

#[test]
fn an_alias_shares_its_anchors_node() {
    let text = "a: &x [1, 2]\nb: *x\n";
    let tree = documents(text).expect("reads");
    let root = tree.documents().next().expect("a document");
    let Value::Map(root) = root.value() else {
        panic!("a mapping");
    };
    let (a, b) = (
        root.get("a").expect("a").value,
        root.get("b").expect("b").value,
    );
    assert_eq!(a.pos(), b.pos(), "the alias is the anchored node itself");
    assert!(b.anchored());
    assert_eq!(
        tree.nodes.len(),
        6,
        "2 keys, 2 items, the list, the root mapping"
    );
}

#[test]
fn each_document_that_is_not_empty_is_a_root() {
    let tree = documents("a: 1\n---\n---\n~\n---\n- x\n").expect("reads");
    assert_eq!(tree.documents().count(), 2);
    assert_eq!(keys("b: 2\nc: 3\n"), ["b", "c"]);
}

#[test]
fn a_document_end_marker_is_found_only_at_the_start_of_a_line() {
    assert_eq!(truncate_at_document_end("...\nb: 1\n"), "");
    assert_eq!(truncate_at_document_end("a: 1\n... # end\nb\n"), "a: 1\n");
    assert_eq!(truncate_at_document_end("a: 1\n...\r\n"), "a: 1\n");
    assert_eq!(truncate_at_document_end("a: 1\n..."), "a: 1\n");
    for kept in ["a: ...\n", "a: 1\n....\n", "a: 1\n...x\n", "a: 1\n ...\n"] {
        assert_eq!(truncate_at_document_end(kept), kept);
    }
}

/// Every event (or error) saphyr-parser gives for `text`, read through `input`.
fn events<T: saphyr_parser::input::Input>(input: T) -> Vec<String> {
    let mut parser = Parser::new(input);
    let mut events = Vec::new();
    while let Some(next) = parser.next_event() {
        let failed = next.is_err();
        events.push(format!("{next:?}"));
        if failed || events.len() > 100_000 {
            break;
        }
    }
    events
}

#[test]
fn the_short_window_input_reads_the_same_events_as_saphyrs_own() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pipelines");
    let mut texts: Vec<String> = std::fs::read_dir(dir)
        .expect("fixtures")
        .map(|entry| std::fs::read_to_string(entry.expect("entry").path()).expect("readable"))
        .collect();
    // Scalars, keys, comments and block indentation on both sides of the window's length, with
    // multi-byte characters where the window ends.
    for len in [1, 29, 30, 31, 32, 33, 62, 63, 64, 127, 128, 129, 300] {
        let word = "x".repeat(len);
        let wide = "é".repeat(len);
        let indent = " ".repeat(len.min(70));
        texts.push(format!(
            "{word}: {wide}\nk: {word} {wide} # {word}\n  more {word}\n\n  and {wide}\nl: [{word}, \"{wide}\", '{word}']\n"
        ));
        texts.push(format!(
            "b: |\n{indent}{word}\n\n{indent} {wide}\nf: >-\n{indent}{wide}\n{indent}{word}\n"
        ));
        texts.push(format!("- {word}\n-\n{indent}{word}:\n{indent}- {wide}\n"));
        texts.push(format!(
            "a: {word}\tb\nc: {word}#not a comment\nd: {word}: e\n"
        ));
    }
    for text in &texts {
        assert_eq!(
            events(ShortWindow::new(text)),
            events(saphyr_parser::StrInput::new(text)),
            "{text}"
        );
    }
}
