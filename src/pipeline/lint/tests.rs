use super::*;
use crate::pipeline::{Position, parse};

fn at(line: usize, column: usize) -> Position {
    Position { line, column }
}

/// The errors of an untrusted lint, as (position, message).
fn errors(text: &str) -> Vec<(Position, String)> {
    let manifest = parse(text).expect("parses");
    lint_all(&manifest, false)
        .into_iter()
        .map(|e| (e.pos, e.message))
        .collect()
}

/// The one error of an untrusted lint.
fn only_error(text: &str) -> (Position, String) {
    let mut all = errors(text);
    assert_eq!(all.len(), 1, "one error: {all:?}");
    all.remove(0)
}

fn clean(text: &str) {
    assert_eq!(errors(text), [], "lints clean");
}

#[test]
fn a_well_formed_file_lints_clean() {
    clean(
        r#"kind: pipeline
name: build
steps:
- name: test
  image: golang
  commands: [go test]
- name: build
  image: golang
  commands: [go build]
  depends_on: [test, clone]
services:
- name: db
  image: postgres
---
kind: pipeline
type: exec
name: deploy
platform:
  os: darwin
  arch: arm64
depends_on: [build]
steps:
- name: ship
  commands: [make ship]
"#,
    );
}

#[test]
fn lint_reports_the_first_error_in_file_order() {
    let manifest =
        parse("kind: pipeline\nsteps:\n- name: a\n- name: b\n  image: x\n  privileged: true\n")
            .expect("parses");
    let e = lint(&manifest, false).expect_err("fails");
    assert_eq!(e.pos, at(3, 3));
    assert_eq!(e.message, "step `a` has no `image`");
    assert_eq!(lint_all(&manifest, false).len(), 2);
    assert_eq!(lint_all(&manifest, true).len(), 1);
}

#[test]
fn duplicate_pipeline_names_are_rejected() {
    let (pos, message) =
        only_error("kind: pipeline\nname: a\n---\nkind: pipeline\n---\nkind: pipeline\nname: a\n");
    assert_eq!(pos, at(7, 7));
    assert_eq!(message, "duplicate pipeline name `a`");
}

#[test]
fn an_unnamed_pipeline_is_called_default_when_checking_duplicates() {
    let (pos, message) = only_error("kind: pipeline\n---\nkind: pipeline\nname: default\n");
    assert_eq!(pos, at(4, 7));
    assert_eq!(message, "duplicate pipeline name `default`");
}

#[test]
fn duplicate_step_names_are_rejected_among_steps_and_services() {
    let (pos, message) =
        only_error("kind: pipeline\nsteps:\n- name: a\n  image: x\n- name: a\n  image: x\n");
    assert_eq!(pos, at(5, 9));
    assert_eq!(message, "duplicate step name `a`");
    let (pos, message) = only_error(
        "kind: pipeline\nsteps:\n- name: a\n  image: x\nservices:\n- name: a\n  image: redis\n",
    );
    assert_eq!(pos, at(6, 9));
    assert_eq!(message, "duplicate step name `a`");
}

#[test]
fn a_step_without_a_name_is_rejected() {
    let (pos, message) = only_error("kind: pipeline\nsteps:\n- image: golang\n");
    assert_eq!(pos, at(3, 3));
    assert_eq!(message, "a step needs a `name`");
}

#[test]
fn a_step_named_clone_is_reserved_unless_clone_is_disabled() {
    let (pos, message) = only_error("kind: pipeline\nsteps:\n- name: clone\n  image: git\n");
    assert_eq!(pos, at(3, 9));
    assert!(message.contains("reserved"), "{message}");
    clean("kind: pipeline\nclone:\n  disable: true\nsteps:\n- name: clone\n  image: git\n");
}

#[test]
fn a_step_without_commands_is_rejected_in_exec_and_ssh_pipelines() {
    let (pos, message) = only_error("kind: pipeline\ntype: exec\nsteps:\n- name: a\n");
    assert_eq!(pos, at(4, 3));
    assert_eq!(message, "step `a` has no `commands`");
    let (_, message) = only_error("kind: pipeline\ntype: ssh\nsteps:\n- name: b\n");
    assert_eq!(message, "step `b` has no `commands`");
    // Host runners ignore services, so they need nothing.
    clean("kind: pipeline\ntype: exec\nservices:\n- name: db\n");
}

#[test]
fn a_container_step_without_image_is_rejected() {
    let (pos, message) = only_error("kind: pipeline\nsteps:\n- name: a\n  commands: [x]\n");
    assert_eq!(pos, at(3, 3));
    assert_eq!(message, "step `a` has no `image`");
    let (_, message) = only_error("kind: pipeline\ntype: kubernetes\nservices:\n- name: db\n");
    assert_eq!(message, "step `db` has no `image`");
}

#[test]
fn a_build_step_needs_an_image_to_tag() {
    let (pos, message) = only_error("kind: pipeline\nsteps:\n- name: a\n  build: {}\n");
    assert_eq!(pos, at(3, 3));
    assert!(message.contains("`build` needs an `image`"), "{message}");
    clean("kind: pipeline\nsteps:\n- name: a\n  build: octo/hello\n");
}

#[test]
fn a_step_depending_on_an_unknown_step_is_rejected() {
    let (pos, message) = only_error(
        "kind: pipeline\nsteps:\n- name: a\n  image: x\n  depends_on: [b, a2]\n- name: b\n  image: x\n",
    );
    assert_eq!(pos, at(5, 19));
    assert_eq!(message, "step `a` depends on unknown step `a2`");
}

#[test]
fn a_step_may_not_depend_on_a_service() {
    let (_, message) = only_error(
        "kind: pipeline\nsteps:\n- name: a\n  image: x\n  depends_on: [db]\nservices:\n- name: db\n  image: redis\n",
    );
    assert_eq!(message, "step `a` depends on unknown step `db`");
}

#[test]
fn depending_on_clone_needs_the_clone() {
    clean("kind: pipeline\nsteps:\n- name: a\n  image: x\n  depends_on: [clone]\n");
    let (_, message) = only_error(
        "kind: pipeline\nclone: {disable: true}\nsteps:\n- name: a\n  image: x\n  depends_on: [clone]\n",
    );
    assert_eq!(message, "step `a` depends on unknown step `clone`");
}

#[test]
fn a_cycle_among_steps_is_rejected_with_its_path() {
    let (pos, message) = only_error(
        r#"kind: pipeline
steps:
- name: a
  image: x
- name: b
  image: x
  depends_on: [a, d]
- name: c
  image: x
  depends_on: [b]
- name: d
  image: x
  depends_on: [c]
"#,
    );
    assert_eq!(pos, at(5, 9));
    assert_eq!(message, "dependency cycle among steps: b -> d -> c -> b");
}

#[test]
fn a_step_depending_on_itself_is_a_cycle() {
    let (pos, message) =
        only_error("kind: pipeline\nsteps:\n- name: a\n  image: x\n  depends_on: [a]\n");
    assert_eq!(pos, at(3, 9));
    assert_eq!(message, "dependency cycle among steps: a -> a");
}

#[test]
fn a_pipeline_depending_on_an_unknown_pipeline_is_rejected() {
    let (pos, message) = only_error("kind: pipeline\nname: a\ndepends_on:\n- b\n");
    assert_eq!(pos, at(4, 3));
    assert_eq!(message, "pipeline `a` depends on unknown pipeline `b`");
}

#[test]
fn a_pipeline_may_depend_on_a_later_pipeline() {
    clean("kind: pipeline\nname: a\ndepends_on: [b]\n---\nkind: pipeline\nname: b\n");
}

#[test]
fn a_cycle_among_pipelines_is_rejected_with_its_path() {
    let (pos, message) = only_error(
        "kind: pipeline\nname: a\ndepends_on: [b]\n---\nkind: pipeline\nname: b\ndepends_on: [a]\n",
    );
    assert_eq!(pos, at(2, 7));
    assert_eq!(message, "dependency cycle among pipelines: a -> b -> a");
}

#[test]
fn container_pipelines_run_on_linux_or_windows_only() {
    let (pos, message) = only_error("kind: pipeline\nplatform:\n  os: openbsd\n");
    assert_eq!(pos, at(3, 7));
    assert!(
        message.starts_with("unsupported os `openbsd` for `type: docker`"),
        "{message}"
    );
    clean("kind: pipeline\ntype: exec\nplatform:\n  os: openbsd\n");
    clean("kind: pipeline\nplatform:\n  os: windows\n  arch: s390x\n");
}

#[test]
fn unknown_architectures_are_rejected() {
    let (pos, message) = only_error("kind: pipeline\nplatform:\n  arch: mips\n");
    assert_eq!(pos, at(3, 9));
    assert!(
        message.starts_with("unsupported architecture `mips`"),
        "{message}"
    );
    let (_, message) = only_error("kind: pipeline\ntype: exec\nplatform:\n  arch: 386x\n");
    assert!(message.contains("for `type: exec`"), "{message}");
    clean("kind: pipeline\ntype: exec\nplatform:\n  arch: 386\n");
}

#[test]
fn reserved_volume_names_are_rejected() {
    let (pos, message) = only_error(
        "kind: pipeline\nsteps:\n- name: a\n  image: docker\n  volumes:\n  - name: _docker_socket\n    path: /var/run/docker.sock\n",
    );
    assert_eq!(pos, at(6, 5));
    assert_eq!(message, "volume name `_docker_socket` is reserved");
    let (pos, message) = only_error("kind: pipeline\nvolumes:\n- name: workspace\n  temp: {}\n");
    assert_eq!(pos, at(3, 3));
    assert_eq!(message, "volume name `workspace` is reserved");
}

#[test]
fn mounting_at_run_drone_is_rejected() {
    let (pos, message) = only_error(
        "kind: pipeline\nsteps:\n- name: a\n  image: x\n  volumes:\n  - name: v\n    path: /run/drone/\nvolumes:\n- name: v\n  temp: {}\n",
    );
    assert_eq!(pos, at(6, 5));
    assert!(message.contains("/run/drone"), "{message}");
    clean(
        "kind: pipeline\nsteps:\n- name: a\n  image: x\n  volumes:\n  - name: v\n    path: /run/droned\nvolumes:\n- name: v\n  temp: {}\n",
    );
}

#[test]
fn trusted_only_features_are_refused_in_untrusted_repositories() {
    let text = r#"kind: pipeline
steps:
- name: a
  image: x
  privileged: true
  network_mode: host
volumes:
- name: v
  host:
    path: /tmp
"#;
    assert_eq!(
        errors(text),
        [
            (
                at(5, 15),
                "privileged mode requires a trusted repository".to_string()
            ),
            (
                at(6, 17),
                "`network_mode` requires a trusted repository".to_string()
            ),
            (
                at(10, 5),
                "a host path volume requires a trusted repository".to_string()
            ),
        ]
    );
    let manifest = parse(text).expect("parses");
    assert_eq!(lint(&manifest, true), Ok(()));
}
