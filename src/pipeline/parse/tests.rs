use std::collections::BTreeMap;

use super::*;
use crate::pipeline::{Condition, EnvValue, Failure, Position, Step, VolumeSource};

fn at(line: usize, column: usize) -> Position {
    Position { line, column }
}

fn one(text: &str) -> Pipeline {
    let mut manifest = parse(text).expect("parses");
    assert_eq!(manifest.pipelines.len(), 1, "one pipeline");
    manifest.pipelines.remove(0)
}

fn error(text: &str) -> Error {
    parse(text).expect_err("is rejected")
}

fn step<'a>(p: &'a Pipeline, name: &str) -> &'a Step {
    p.steps.iter().find(|s| s.name == name).expect("step")
}

#[test]
fn a_simple_exec_pipeline_parses() {
    let p = one(r#"kind: pipeline
type: exec
name: test

steps:
- name: build
  commands:
  - cargo build
  - cargo test
"#);
    assert_eq!(p.name, "test");
    assert_eq!(p.pipeline_type, PipelineType::Exec);
    assert_eq!(p.pos, at(1, 1));
    assert_eq!(p.steps.len(), 1);
    let s = &p.steps[0];
    assert_eq!(s.name, "build");
    assert_eq!(s.commands, ["cargo build", "cargo test"]);
    assert_eq!(s.pos, at(6, 3));
    assert_eq!(s.name_pos, at(6, 9));
}

#[test]
fn an_absent_type_name_and_platform_take_drones_defaults() {
    let p = one("kind: pipeline\n");
    assert_eq!(p.pipeline_type, PipelineType::Docker);
    assert_eq!(p.name, "default");
    assert_eq!(p.platform, Platform::default());
    assert!(p.steps.is_empty());
}

#[test]
fn unusual_types_are_kept_by_name() {
    assert_eq!(
        one("kind: pipeline\ntype: digitalocean\n").pipeline_type,
        PipelineType::Other("digitalocean".into())
    );
    assert_eq!(
        one("kind: pipeline\ntype: kubernetes\n").pipeline_type,
        PipelineType::Kubernetes
    );
    assert_eq!(
        one("kind: pipeline\ntype: ssh\n").pipeline_type,
        PipelineType::Ssh
    );
}

#[test]
fn a_single_command_string_is_one_command() {
    let p = one("kind: pipeline\nsteps:\n- name: a\n  commands: make test\n");
    assert_eq!(p.steps[0].commands, ["make test"]);
}

#[test]
fn commands_given_a_mapping_are_rejected_where_they_are() {
    let e = error("kind: pipeline\nsteps:\n- name: a\n  commands:\n    make: test\n");
    assert_eq!(e.pos, at(5, 5));
    assert!(
        e.message.contains("`commands` must be a list of strings"),
        "{e}"
    );
}

#[test]
fn a_command_with_an_unquoted_colon_is_rejected_with_a_hint() {
    let e = error("kind: pipeline\nsteps:\n- name: a\n  commands:\n  - ok\n  - echo a: b\n");
    assert_eq!(e.pos, at(6, 5));
    assert!(e.message.contains("quote"), "{e}");
    assert_eq!(e.to_string().split(':').next(), Some("line 6, column 5"));
}

#[test]
fn environment_values_are_text_or_secrets() {
    let p = one(r#"kind: pipeline
environment:
  GOFLAGS: -mod=vendor
  RETRIES: 3
steps:
- name: a
  environment:
    DEBUG: true
    VERSION: 1.10
    EMPTY:
    QUOTED: "yes"
    TOKEN:
      from_secret: github_token
"#);
    assert_eq!(p.environment["GOFLAGS"], "-mod=vendor");
    assert_eq!(p.environment["RETRIES"], "3");
    let env = &p.steps[0].environment;
    assert_eq!(env["DEBUG"], EnvValue::Text("true".into()));
    assert_eq!(env["VERSION"], EnvValue::Text("1.10".into()));
    assert_eq!(env["EMPTY"], EnvValue::Text(String::new()));
    assert_eq!(env["QUOTED"], EnvValue::Text("yes".into()));
    assert_eq!(env["TOKEN"], EnvValue::FromSecret("github_token".into()));
}

#[test]
fn an_environment_value_that_is_a_list_is_rejected() {
    let e = error("kind: pipeline\nsteps:\n- name: a\n  environment:\n    A: [1, 2]\n");
    assert_eq!(e.pos, at(5, 8));
    assert!(e.message.contains("`A`"), "{e}");
}

#[test]
fn plugin_settings_are_encoded_as_drone_passes_them() {
    let p = one(r#"kind: pipeline
steps:
- name: publish
  image: plugins/docker
  settings:
    repo: octo/hello
    tags: [latest, "1.0"]
    password:
      from_secret: docker_password
    build_args:
      - key: value
    debug: true
    labels: {a: 1, b: "x", c: null}
"#);
    let settings = &p.steps[0].settings;
    assert_eq!(settings["repo"], EnvValue::Text("octo/hello".into()));
    assert_eq!(settings["tags"], EnvValue::Text("latest,1.0".into()));
    assert_eq!(
        settings["password"],
        EnvValue::FromSecret("docker_password".into())
    );
    assert_eq!(
        settings["build_args"],
        EnvValue::Text(r#"[{"key":"value"}]"#.into())
    );
    assert_eq!(settings["debug"], EnvValue::Text("true".into()));
    assert_eq!(
        settings["labels"],
        EnvValue::Text(r#"{"a":1,"b":"x","c":null}"#.into())
    );
}

#[test]
fn conditions_accept_a_string_a_list_or_include_and_exclude() {
    let p = one(r#"kind: pipeline
trigger:
  branch: main
  event: [push, tag]
  ref:
    include: refs/tags/*
    exclude:
    - refs/tags/*-rc*
  status: [success, failure]
steps:
- name: a
  when:
    target:
      exclude: production
"#);
    assert_eq!(
        p.trigger.branch,
        Condition {
            include: vec!["main".into()],
            exclude: vec![]
        }
    );
    assert_eq!(p.trigger.event.include, ["push", "tag"]);
    assert_eq!(p.trigger.git_ref.include, ["refs/tags/*"]);
    assert_eq!(p.trigger.git_ref.exclude, ["refs/tags/*-rc*"]);
    assert!(p.trigger.on_failure());
    assert_eq!(p.steps[0].when.target.exclude, ["production"]);
    assert!(p.steps[0].when.target.include.is_empty());
}

#[test]
fn an_invalid_glob_is_rejected_where_it_is_written() {
    let e = error("kind: pipeline\ntrigger:\n  branch:\n  - main\n  - release/[0-9\n");
    assert_eq!(e.pos, at(5, 5));
    assert!(e.message.contains("invalid pattern `release/[0-9`"), "{e}");
}

#[test]
fn unknown_keys_are_warnings_with_positions() {
    let manifest = parse(
        r#"kind: pipeline
name: a
colour: blue
steps:
- name: b
  image: alpine
  imagee: alpine
  when:
    brnach: main
clone:
  depht: 1
"#,
    )
    .expect("parses");
    let warnings: Vec<(Position, &str)> = manifest
        .warnings
        .iter()
        .map(|w| (w.pos, w.message.as_str()))
        .collect();
    assert_eq!(
        warnings,
        [
            (at(3, 1), "unknown key `colour` in pipeline"),
            (at(7, 3), "unknown key `imagee` in step"),
            (at(9, 5), "unknown key `brnach` in when"),
            (at(11, 3), "unknown key `depht` in clone"),
        ]
    );
}

#[test]
fn type_specific_keys_are_accepted_silently() {
    let manifest = parse(
        r#"kind: pipeline
type: kubernetes
metadata:
  namespace: ci
node_selector: {disk: ssd}
service_account_name: builder
tolerations: []
dns_config: {}
resources: {}
---
kind: pipeline
type: ssh
name: remote
server:
  host: example.com
  user: ci
  password:
    from_secret: pw
steps:
- name: a
  commands: [uptime]
  cpu_shares: 10
  mem_limit: 1g
"#,
    )
    .expect("parses");
    assert!(manifest.warnings.is_empty(), "{:?}", manifest.warnings);
}

#[test]
fn every_document_kind_but_pipeline_is_set_aside() {
    let manifest = parse(
        r#"---
kind: pipeline
name: one
---
kind: secret
name: token
get:
  path: ci
  name: token
---
kind: signature
hmac: 0123abcd
---
kind: registry
type: encrypted
data: {}
---
kind: cron
name: nightly
spec: {schedule: "@daily"}
---
kind: pipeline
name: two
"#,
    )
    .expect("parses");
    let names: Vec<&str> = manifest.pipelines.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["one", "two"]);
    assert_eq!(manifest.pipelines[1].pos, at(22, 1));
}

#[test]
fn empty_documents_are_skipped() {
    let manifest = parse("---\n---\n# nothing here\n---\nkind: pipeline\n---\n").expect("parses");
    assert_eq!(manifest.pipelines.len(), 1);
    assert_eq!(parse("").expect("parses"), Manifest::default());
    assert_eq!(
        parse("# only a comment\n").expect("parses"),
        Manifest::default()
    );
}

#[test]
fn a_document_end_line_stops_parsing() {
    let manifest =
        parse("kind: pipeline\nname: a\n...\nkind: bogus\n{[ not yaml\n").expect("parses");
    assert_eq!(manifest.pipelines.len(), 1);
}

#[test]
fn a_document_without_kind_is_rejected_at_its_start() {
    let e = error("kind: pipeline\n---\n\nname: b\nsteps: []\n");
    assert_eq!(e.pos, at(4, 1));
    assert_eq!(e.message, "missing kind attribute");
}

#[test]
fn an_unknown_kind_is_rejected() {
    let e = error("kind: pipline\n");
    assert_eq!(e.pos, at(1, 7));
    assert!(e.message.starts_with("unknown kind `pipline`"), "{e}");
}

#[test]
fn a_template_document_is_set_aside_with_a_warning() {
    let manifest = parse("kind: template\nload: build.yml\ndata: {}\n").expect("parses");
    assert!(manifest.pipelines.is_empty());
    assert_eq!(manifest.warnings.len(), 1);
}

#[test]
fn a_document_that_is_not_a_mapping_is_rejected() {
    assert_eq!(error("- kind: pipeline\n").pos, at(1, 1));
    assert_eq!(error("kind: pipeline\n---\njust text\n").pos, at(3, 1));
}

#[test]
fn a_yaml_syntax_error_has_its_position() {
    let e = error("kind: pipeline\nsteps:\n- name: a\n  commands: [a, b\n");
    assert!(e.message.starts_with("invalid YAML"), "{e}");
    assert_eq!(e.pos.line, 5);
    let e = error("kind: pipeline\nname: \"open\n");
    assert!(e.message.starts_with("invalid YAML"), "{e}");
    let e = error("kind: pipeline\nsteps:\n\t- name: tab\n");
    assert!(e.message.starts_with("invalid YAML"), "{e}");
    assert_eq!(e.pos.line, 3, "{e}");
}

#[test]
fn a_key_written_twice_is_rejected() {
    let e = error("kind: pipeline\nname: a\nname: b\n");
    assert_eq!(e.pos, at(3, 1));
    assert!(e.message.contains("`name`"), "{e}");
}

#[test]
fn anchors_aliases_and_merge_keys_are_resolved() {
    let p = one(r#"kind: pipeline
x-defaults: &defaults
  image: golang:1.22
  environment: &env
    CGO_ENABLED: 0
steps:
- <<: *defaults
  name: test
  commands: [go test ./...]
- <<: *defaults
  name: build
  image: golang:1.21
  environment: *env
  commands: &cmds [go build]
- name: again
  image: alpine
  commands: *cmds
"#);
    let test = step(&p, "test");
    assert_eq!(test.image, "golang:1.22");
    assert_eq!(test.environment["CGO_ENABLED"], EnvValue::Text("0".into()));
    let build = step(&p, "build");
    assert_eq!(
        build.image, "golang:1.21",
        "explicit keys win over merged ones"
    );
    assert_eq!(step(&p, "again").commands, ["go build"]);
}

#[test]
fn an_alias_bomb_is_stopped_by_the_node_budget() {
    let mut text = String::from("kind: pipeline\nx0: &x0 [a, a, a, a, a, a, a, a, a, a]\n");
    for i in 1..12 {
        let prev = i - 1;
        text.push_str(&format!(
            "x{i}: &x{i} [*x{prev}, *x{prev}, *x{prev}, *x{prev}, *x{prev}, *x{prev}, *x{prev}, *x{prev}, *x{prev}, *x{prev}]\n"
        ));
    }
    let e = error(&text);
    assert!(e.message.contains("once aliases are expanded"), "{e}");
    assert_eq!(e.pos.line, 6, "fails as soon as the budget is spent: {e}");
}

#[test]
fn a_large_scalar_repeated_by_aliases_is_stopped_by_the_byte_budget() {
    let big = "x".repeat(1 << 20);
    let aliases = vec!["*big"; 40].join(", ");
    let text = format!("kind: pipeline\nbig: &big {big}\nall: [{aliases}]\n");
    let e = error(&text);
    assert!(e.message.contains("32 MiB"), "{e}");
}

#[test]
fn an_alias_inside_its_own_anchor_is_rejected() {
    assert!(parse("kind: pipeline\na: &a [1, *a]\n").is_err());
}

#[test]
fn deep_nesting_is_rejected() {
    let deep = format!(
        "kind: pipeline\nx: {}{}\n",
        "[".repeat(100),
        "]".repeat(100)
    );
    let e = error(&deep);
    assert!(e.message.contains("nested more than 64"), "{e}");
    // Aliases cannot stack nesting past the limit either.
    let mut text = String::from("kind: pipeline\n");
    text.push_str(&format!("a0: &a0 {}1{}\n", "[".repeat(40), "]".repeat(40)));
    text.push_str(&format!(
        "a1: &a1 {}*a0{}\n",
        "[".repeat(40),
        "]".repeat(40)
    ));
    let e = error(&text);
    assert!(e.message.contains("nested more than 64"), "{e}");
}

#[test]
fn input_over_10_mib_is_rejected() {
    let mut text = String::from("kind: pipeline\n");
    while text.len() <= 10 * 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let e = error(&text);
    assert_eq!(e.message, "configuration is larger than 10 MiB");
    assert_eq!(e.pos, at(1, 1));
}

#[test]
fn trusted_only_features_are_recorded_where_they_are() {
    let p = one(r#"kind: pipeline
steps:
- name: a
  image: docker
  privileged: true
  devices:
  - name: disk
    path: /dev/xvda
  dns: 8.8.8.8
  dns_search: [example.com]
  extra_hosts: ["a:1.2.3.4"]
  network_mode: host
  shm_size: 1g
  ports:
  - 8080
  - port: 80
    host: 8081
services:
- name: db
  image: postgres
  privileged: false
volumes:
- name: cache
  host:
    path: /var/cache
- name: fast
  temp:
    medium: memory
- name: scratch
  temp: {}
"#);
    let features: Vec<(Position, &str)> = p
        .trusted_only
        .iter()
        .map(|(pos, f)| (*pos, f.as_str()))
        .collect();
    assert_eq!(
        features,
        [
            (at(5, 15), "privileged mode"),
            // A block sequence starts at its first item.
            (at(7, 5), "mounting devices"),
            (at(9, 8), "`dns`"),
            (at(10, 15), "`dns_search`"),
            (at(11, 16), "`extra_hosts`"),
            (at(12, 17), "`network_mode`"),
            (at(13, 13), "`shm_size`"),
            (at(16, 5), "mapping a host port"),
            (at(25, 5), "a host path volume"),
            (at(28, 5), "an in-memory volume"),
        ]
    );
    assert_eq!(
        p.volumes.iter().map(|v| &v.source).collect::<Vec<_>>(),
        [
            &VolumeSource::Host("/var/cache".into()),
            &VolumeSource::Memory,
            &VolumeSource::Temp
        ]
    );
    assert!(p.steps[0].privileged);
    assert_eq!(p.services[0].name, "db");
}

#[test]
fn failure_modes_follow_drone() {
    let p = one(r#"kind: pipeline
steps:
- name: a
  failure: ignore
- name: b
  failure: fast
- name: c
  failure: always
- name: d
- name: e
  failure: sometimes
"#);
    let modes: Vec<Failure> = p.steps.iter().map(|s| s.failure).collect();
    assert_eq!(
        modes,
        [
            Failure::Ignore,
            Failure::Fail,
            Failure::Fail,
            Failure::Fail,
            Failure::Fail
        ]
    );
}

#[test]
fn pipeline_settings_are_read() {
    let p = one(r#"kind: pipeline
name: full
platform:
  os: windows
  arch: arm64
  variant: 7
  version: 1809
node:
  disk: ssd
  gpu: true
concurrency:
  limit: 2
clone:
  disable: yes
  depth: 50
  retries: 3
  skip_verify: true
  trace: on
workspace:
  base: /go
  path: src/example.com/hello
depends_on: [build, test]
image_pull_secrets: dockerconfig
steps:
- name: a
  image: alpine
  pull: always
  shell: bash
  detach: true
  user: 1000
  working_dir: /src
  entrypoint: [/bin/sh, -c]
  command: echo
  depends_on: clone
  build:
    image: octo/hello
    context: .
  volumes:
  - name: cache
    path: /cache
"#);
    assert_eq!(
        p.platform,
        Platform {
            os: "windows".into(),
            arch: "arm64".into(),
            variant: "7".into(),
            version: "1809".into(),
        }
    );
    assert_eq!(p.os_pos, at(4, 7));
    assert_eq!(p.arch_pos, at(5, 9));
    assert_eq!(
        p.node,
        BTreeMap::from([("disk".into(), "ssd".into()), ("gpu".into(), "true".into())])
    );
    assert_eq!(p.concurrency, 2);
    assert_eq!(
        p.clone,
        CloneSettings {
            disable: true,
            depth: 50,
            retries: 3,
            skip_verify: true,
            trace: true,
        }
    );
    assert_eq!(p.workspace.base, "/go");
    assert_eq!(p.workspace.path, "src/example.com/hello");
    assert_eq!(p.depends_on, ["build", "test"]);
    assert_eq!(p.depends_on_pos, [at(22, 14), at(22, 21)]);
    assert_eq!(p.image_pull_secrets, ["dockerconfig"]);
    let s = &p.steps[0];
    assert_eq!(s.pull, "always");
    assert_eq!(s.shell, "bash");
    assert!(s.detach);
    assert_eq!(s.user, "1000");
    assert_eq!(s.working_dir, "/src");
    assert_eq!(s.entrypoint, ["/bin/sh", "-c"]);
    assert_eq!(s.command, ["echo"]);
    assert_eq!(s.depends_on, ["clone"]);
    assert_eq!(s.build_image.as_deref(), Some("octo/hello"));
    assert_eq!(s.volumes[0].name, "cache");
    assert_eq!(s.volumes[0].path, "/cache");
}

#[test]
fn values_of_the_wrong_type_are_rejected_where_they_are() {
    let cases: &[(&str, Position, &str)] = &[
        (
            "kind: pipeline\nclone:\n  depth: deep\n",
            at(3, 10),
            "`depth`",
        ),
        (
            "kind: pipeline\nclone:\n  depth: -1\n",
            at(3, 10),
            "`depth`",
        ),
        (
            "kind: pipeline\nclone: [a]\n",
            at(2, 8),
            "`clone` must be a mapping",
        ),
        (
            "kind: pipeline\nname: [a]\n",
            at(2, 7),
            "`name` must be a string",
        ),
        (
            "kind: pipeline\nsteps: {a: b}\n",
            at(2, 8),
            "`steps` must be a list",
        ),
        (
            "kind: pipeline\nsteps:\n- just text\n",
            at(3, 3),
            "a step must be a mapping",
        ),
        (
            "kind: pipeline\nsteps:\n- name: a\n  detach: maybe\n",
            at(4, 11),
            "`detach` must be true or false",
        ),
        (
            "kind: pipeline\nnode:\n  a: [b]\n",
            at(3, 6),
            "`node` value `a`",
        ),
        ("kind: [pipeline]\n", at(1, 7), "`kind` must be a string"),
        (
            "kind: pipeline\n[a]: b\n",
            at(2, 1),
            "mapping keys must be strings",
        ),
    ];
    for (text, pos, message) in cases {
        let e = error(text);
        assert_eq!(e.pos, *pos, "{text:?}: {e}");
        assert!(e.message.contains(message), "{text:?}: {e}");
    }
}

#[test]
fn a_200_step_pipeline_parses() {
    let mut text = String::from("kind: pipeline\ntype: exec\nname: big\nsteps:\n");
    for i in 0..200 {
        text.push_str(&format!(
            "- name: step-{i}\n  commands:\n  - echo {i}\n  - make part-{i}\n  environment:\n    PART: {i}\n  when:\n    branch: [main, release/*]\n"
        ));
    }
    let p = one(&text);
    assert_eq!(p.steps.len(), 200);
    assert_eq!(p.steps[199].name, "step-199");
}

#[test]
fn windows_line_endings_and_a_byte_order_mark_are_accepted() {
    let p = one(
        "\u{feff}kind: pipeline\r\nname: crlf\r\nsteps:\r\n- name: a\r\n  commands:\r\n  - make\r\n...\r\nkind: bogus\r\n",
    );
    assert_eq!(p.name, "crlf");
    assert_eq!(p.steps[0].commands, ["make"]);
    assert_eq!(p.steps[0].name_pos, at(4, 9));
}

#[test]
fn block_scalars_keep_their_lines() {
    let p = one(
        "kind: pipeline\nsteps:\n- name: a\n  commands:\n  - |\n    echo one\n    echo two\n  - >-\n    folded\n    line\n",
    );
    assert_eq!(p.steps[0].commands, ["echo one\necho two\n", "folded line"]);
}

#[test]
fn a_step_declares_id_tokens_with_one_audience_each() {
    let p = one(
        "kind: pipeline\nsteps:\n- name: deploy\n  id_tokens:\n    VAULT_TOKEN: {aud: https://vault.example}\n    AWS: {aud: sts.amazonaws.com}\n",
    );
    let s = step(&p, "deploy");
    assert_eq!(s.id_tokens["VAULT_TOKEN"], "https://vault.example");
    assert_eq!(s.id_tokens["AWS"], "sts.amazonaws.com");
    let e = error("kind: pipeline\nsteps:\n- name: d\n  id_tokens:\n    T: {aud: '*'}\n");
    assert!(e.message.contains("aud"), "{e}");
    let e = error("kind: pipeline\nsteps:\n- name: d\n  id_tokens:\n    T: {}\n");
    assert!(e.message.contains("aud"), "{e}");
    let e = error("kind: pipeline\nsteps:\n- name: d\n  id_tokens:\n    1BAD: {aud: x}\n");
    assert_eq!(e.pos, at(5, 11));
}

#[test]
fn encrypted_secret_documents_are_kept_beside_the_pipelines() {
    let m = parse("kind: pipeline\nsteps: []\n---\nkind: secret\nname: token\ndata: c2VhbGVk\n---\nkind: secret\nname: vault\nget: {path: secret/x, name: y}\n").expect("parses");
    assert_eq!(m.secrets.len(), 1);
    assert_eq!(
        (m.secrets[0].name.as_str(), m.secrets[0].data.as_str()),
        ("token", "c2VhbGVk")
    );
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert!(
        parse("kind: secret\nname: token\n")
            .expect("parses")
            .secrets
            .is_empty()
    );
}
