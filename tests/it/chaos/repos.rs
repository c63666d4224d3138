//! The chaos story's repositories: each has a secret of its own and a pipeline whose steps
//! print numbered lines and leave a mark, outside their workspace, of each step that ran: on
//! which runner, and (for the step given the secret) a digest of the secret it was given.

use crate::support::{GitRepo, TestApp};
use reqwest::Method;
use serde_json::json;
use sha2::Digest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Numbered lines the `count` step prints.
pub const COUNT_LINES: usize = 20;
/// Numbered lines the `tail` step prints.
pub const TAIL_LINES: usize = 10;

/// A repository of the story.
pub struct Repo {
    pub slug: String,
    pub secret: String,
    _git: GitRepo,
}

impl Repo {
    /// A repository as the checks see it, without its git repository (for the checks' tests).
    pub fn for_checks(slug: &str, secret: &str) -> Repo {
        Repo {
            slug: slug.into(),
            secret: secret.into(),
            _git: GitRepo::with_pipeline("kind: pipeline\n"),
        }
    }

    /// The first 16 hex digits of the secret's SHA-256, as the step writes it in its mark.
    pub fn secret_digest(&self) -> String {
        digest(&self.secret)
    }
}

pub fn digest(value: &str) -> String {
    hex::encode(sha2::Sha256::digest(value.as_bytes()))[..16].to_string()
}

/// A step that prints `lines` lines `<step> line K of build N`, a little apart.
fn numbered(step: &str, lines: usize) -> String {
    format!(
        "  - for i in $(seq 1 {lines}); do echo \"{step} line $i of build $DRONE_BUILD_NUMBER\"; sleep 0.01; done\n"
    )
}

/// The command that appends `<step> <runner> <extra>` to the build's mark file.
fn mark(marks: &Path, name: &str, step: &str, extra: &str) -> String {
    format!(
        "  - echo \"{step} $DRONE_STAGE_MACHINE {extra}\" >> {}/{name}-$DRONE_BUILD_NUMBER\n",
        marks.display()
    )
}

/// The pipeline of repository `name`: `count`, then `secret` (given the repository's secret
/// `token`, which it prints: the log must show it masked), then `tail`.
fn pipeline(marks: &Path, name: &str) -> String {
    let mut text = String::from(
        "kind: pipeline\ntype: exec\nname: default\nclone: {disable: true}\nsteps:\n- name: count\n  commands:\n",
    );
    text += &mark(marks, name, "count", "-");
    text += &numbered("count", COUNT_LINES);
    text += "- name: secret\n  environment:\n    TOKEN: {from_secret: token}\n  commands:\n";
    text += &mark(
        marks,
        name,
        "secret",
        "$(printf %s \"$TOKEN\" | sha256sum | cut -c1-16)",
    );
    text += "  - echo \"using $TOKEN\"\n";
    text += "- name: tail\n  commands:\n";
    text += &mark(marks, name, "tail", "-");
    text += &numbered("tail", TAIL_LINES);
    text
}

/// Activates `count` repositories `acme/chaos-N` on `app`, each with its pipeline and secret.
pub async fn activate(app: &TestApp, marks: &Path, count: usize) -> Vec<Repo> {
    let mut repos = Vec::new();
    for n in 1..=count {
        let name = format!("chaos-{n}");
        let slug = format!("acme/{name}");
        let git = GitRepo::with_pipeline(&pipeline(marks, &name));
        app.activate(&slug, &git).await;
        let secret = format!("s3cret-of-{name}-{:016x}", rand::random::<u64>());
        let (status, body) = app
            .call(
                Method::POST,
                &format!("/api/repos/{slug}/secrets"),
                Some(json!({"name": "token", "data": secret})),
            )
            .await;
        assert_eq!(status, 200, "the secret of {slug}: {body}");
        repos.push(Repo {
            slug,
            secret,
            _git: git,
        });
    }
    repos
}

/// A step's mark: the runner it ran on and what it wrote besides (`-`, or a digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub step: String,
    pub runner: String,
    pub extra: String,
}

/// Every mark the steps left, by `(slug, build number)`.
pub fn read_marks(marks: &Path, repos: &[Repo]) -> HashMap<(String, i64), Vec<Mark>> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(marks).expect("the marks folder") {
        let path: PathBuf = entry.expect("an entry").path();
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
        let (name, number) = file.rsplit_once('-').expect("NAME-NUMBER");
        let slug = format!("acme/{name}");
        assert!(repos.iter().any(|r| r.slug == slug), "a mark of {file}");
        let text = std::fs::read_to_string(&path).expect("a mark file");
        let marks = text
            .lines()
            .map(|line| {
                let mut words = line.split(' ');
                let mut next = || words.next().unwrap_or("").to_string();
                Mark {
                    step: next(),
                    runner: next(),
                    extra: next(),
                }
            })
            .collect();
        out.insert((slug, number.parse().expect("a build number")), marks);
    }
    out
}
