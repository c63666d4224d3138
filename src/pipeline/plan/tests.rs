use super::*;
use crate::pipeline::parse;

fn nodes(spec: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    spec.iter()
        .map(|(name, deps)| {
            (
                name.to_string(),
                deps.iter().map(|d| d.to_string()).collect(),
            )
        })
        .collect()
}

fn steps(text: &str) -> Vec<(String, Vec<String>)> {
    let manifest = parse(text).expect("parses");
    manifest.pipelines[0].resolved_steps()
}

#[test]
fn steps_without_depends_on_run_in_order() {
    let resolved = steps(
        "kind: pipeline\nsteps:\n- name: a\n  image: x\n- name: b\n  image: x\n- name: c\n  image: x\n",
    );
    assert_eq!(resolved, nodes(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]));
}

#[test]
fn one_depends_on_makes_the_stage_a_graph() {
    let resolved = steps(
        r#"kind: pipeline
steps:
- name: a
  image: x
- name: b
  image: x
- name: c
  image: x
  depends_on: [a, b]
"#,
    );
    assert_eq!(
        resolved,
        nodes(&[("a", &[]), ("b", &[]), ("c", &["a", "b"])])
    );
}

#[test]
fn the_clone_is_left_out_of_resolved_dependencies() {
    let resolved = steps(
        "kind: pipeline\nsteps:\n- name: a\n  image: x\n  depends_on: [clone]\n- name: b\n  image: x\n  depends_on: [a]\n",
    );
    assert_eq!(resolved, nodes(&[("a", &[]), ("b", &["a"])]));
    // With the clone disabled, a step may take the name.
    let resolved = steps(
        "kind: pipeline\nclone: {disable: true}\nsteps:\n- name: clone\n  image: x\n- name: b\n  image: x\n  depends_on: [clone]\n",
    );
    assert_eq!(resolved, nodes(&[("clone", &[]), ("b", &["clone"])]));
}

#[test]
fn services_are_not_planned_as_steps() {
    let resolved = steps(
        "kind: pipeline\nsteps:\n- name: a\n  image: x\nservices:\n- name: db\n  image: redis\n",
    );
    assert_eq!(resolved, nodes(&[("a", &[])]));
}

#[test]
fn the_plan_serialises_as_lint_prints_it() {
    let manifest = parse(
        r#"kind: pipeline
type: exec
name: build
steps:
- name: test
  commands: [make test]
- name: package
  commands: [make package]
---
kind: pipeline
name: notify
depends_on: [build]
trigger:
  status: [success, failure]
steps:
- name: slack
  image: plugins/slack
"#,
    )
    .expect("parses");
    let json = serde_json::to_value(plan(&manifest)).expect("serialises");
    assert_eq!(
        json,
        serde_json::json!({
            "pipelines": [
                {
                    "name": "build",
                    "type": "exec",
                    "depends_on": [],
                    "steps": [
                        {"name": "test", "depends_on": []},
                        {"name": "package", "depends_on": ["test"]},
                    ],
                },
                {
                    "name": "notify",
                    "type": "docker",
                    "depends_on": ["build"],
                    "steps": [{"name": "slack", "depends_on": []}],
                },
            ]
        })
    );
}

#[test]
fn topological_order_keeps_file_order_among_free_nodes() {
    let order = topological_order(&nodes(&[
        ("deploy", &["build", "test"]),
        ("build", &[]),
        ("test", &["build"]),
        ("lint", &[]),
    ]));
    assert_eq!(order, Ok(vec![1, 2, 0, 3]));
}

#[test]
fn topological_order_ignores_unknown_names() {
    let order = topological_order(&nodes(&[("a", &["ghost"]), ("b", &["a"])]));
    assert_eq!(order, Ok(vec![0, 1]));
}

#[test]
fn topological_order_reports_a_cycle() {
    let order = topological_order(&nodes(&[
        ("a", &[]),
        ("b", &["a", "c"]),
        ("c", &["b"]),
        ("d", &["c"]),
    ]));
    assert_eq!(order, Err(TopologicalError { cycle: vec![1, 2] }));
    let order = topological_order(&nodes(&[("a", &["a"])]));
    assert_eq!(order, Err(TopologicalError { cycle: vec![0] }));
}

#[test]
fn topological_order_of_a_long_chain_is_quick_and_correct() {
    let chain: Vec<(String, Vec<String>)> = (0..10_000)
        .map(|i| {
            let deps = if i == 0 {
                vec![]
            } else {
                vec![format!("s{}", i - 1)]
            };
            (format!("s{i}"), deps)
        })
        .rev()
        .collect();
    let order = topological_order(&chain).expect("no cycle");
    assert_eq!(order.first(), Some(&9_999));
    assert_eq!(order.last(), Some(&0));
}
