//! What the chaos story checks once every build has ended, each check adding what it found
//! to a list of findings (the story fails with all of them, not only the first).

use super::ALLOWED_ERRORS;
use super::repos::{COUNT_LINES, Mark, Repo, TAIL_LINES};
use crate::support::TestApp;
use reqwest::Method;
use serde_json::Value;
use std::collections::HashMap;

/// A build of the story: its repository and number, and as the API shows it at the end.
pub struct Ended {
    pub slug: String,
    pub number: i64,
    pub build: Value,
    /// Each step's log lines, by step name.
    pub logs: HashMap<String, Value>,
}

impl Ended {
    fn stage(&self) -> &Value {
        &self.build["stages"][0]
    }

    /// The audit target of its (only) stage.
    fn target(&self) -> String {
        format!("build:{}#{}/default", self.slug, self.number)
    }
}

/// GETs every path (a few at a time); a missing one reads as `Null`.
pub async fn get_all(app: &TestApp, paths: &[String]) -> Vec<Value> {
    let mut out = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(32) {
        let answers =
            futures_util::future::join_all(chunk.iter().map(|p| app.call(Method::GET, p, None)))
                .await;
        out.extend(
            answers
                .into_iter()
                .map(|(status, body)| if status == 200 { body } else { Value::Null }),
        );
    }
    out
}

/// For each audit target, the actors of its `action` entries (every one, page by page).
pub async fn audit_actors(app: &TestApp, action: &str) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let mut after = 0;
    loop {
        let page = app
            .get(&format!(
                "/api/audit?action={action}&limit=1000&after={after}"
            ))
            .await;
        let entries = page.as_array().cloned().unwrap_or_default();
        for e in &entries {
            let target = e["target"].as_str().unwrap_or("").to_string();
            let actor = e["actor"]["login"].as_str().unwrap_or("").to_string();
            out.entry(target).or_default().push(actor);
            after = after.max(e["id"].as_i64().unwrap_or(0));
        }
        if entries.len() < 1000 {
            return out;
        }
    }
}

/// Every build is in a final state, and every stage ended `success`, or `error` for one of
/// [`ALLOWED_ERRORS`].
pub fn every_build_ended_well_or_for_an_allowed_reason(
    ended: &[Ended],
    findings: &mut Vec<String>,
) {
    for e in ended {
        let status = e.build["status"].as_str().unwrap_or("");
        if !matches!(status, "success" | "failure" | "error" | "killed") {
            findings.push(format!("{}#{} is not final: {status}", e.slug, e.number));
        }
        let stages = e.build["stages"].as_array().map_or(0, Vec::len);
        if stages != 1 {
            findings.push(format!(
                "{}#{} has {stages} stages: {}",
                e.slug, e.number, e.build
            ));
        }
        for stage in e.build["stages"].as_array().into_iter().flatten() {
            let (status, error) = (
                stage["status"].as_str().unwrap_or(""),
                stage["error"].as_str().unwrap_or(""),
            );
            let fine =
                status == "success" || (status == "error" && ALLOWED_ERRORS.contains(&error));
            if !fine {
                findings.push(format!(
                    "{}#{}: its stage ended {status} ({error:?}): {}",
                    e.slug, e.number, e.build
                ));
            }
        }
    }
}

/// No step left two marks; each mark is from a runner that leased the stage, and a stage that
/// succeeded has marks only from the runner that ran it to the end (so a stage that went back
/// to the queue had started no step); the step given the secret was given its own
/// repository's, on a runner that leased the stage.
pub fn no_step_ran_twice_nor_on_a_runner_without_the_lease(
    ended: &[Ended],
    repos: &[Repo],
    marks: &HashMap<(String, i64), Vec<Mark>>,
    leased: &HashMap<String, Vec<String>>,
    findings: &mut Vec<String>,
) {
    for e in ended {
        let marks = marks
            .get(&(e.slug.clone(), e.number))
            .map_or(&[][..], Vec::as_slice);
        let lessees = leased.get(&e.target()).map_or(&[][..], Vec::as_slice);
        let machine = e.stage()["machine"].as_str().unwrap_or("");
        let succeeded = e.stage()["status"] == "success";
        let own = repos
            .iter()
            .find(|r| r.slug == e.slug)
            .map(Repo::secret_digest)
            .unwrap_or_default();
        for step in ["count", "secret", "tail"] {
            let ran: Vec<&Mark> = marks.iter().filter(|m| m.step == step).collect();
            if ran.len() > 1 {
                findings.push(format!(
                    "{}#{}: step {step} ran twice: {ran:?}",
                    e.slug, e.number
                ));
            }
            if succeeded && ran.len() != 1 {
                findings.push(format!(
                    "{}#{} succeeded but its step {step} left {} marks",
                    e.slug,
                    e.number,
                    ran.len()
                ));
            }
        }
        for m in marks {
            if !lessees.contains(&m.runner) {
                findings.push(format!(
                    "{}#{}: step {} ran on {} which never leased the stage (lessees {lessees:?})",
                    e.slug, e.number, m.step, m.runner
                ));
            }
            if succeeded && m.runner != machine {
                findings.push(format!(
                    "{}#{}: step {} ran on {} but the stage succeeded on {machine}",
                    e.slug, e.number, m.step, m.runner
                ));
            }
            if m.step == "secret" && m.extra != own {
                findings.push(format!(
                    "{}#{}: the secret step on {} was given a secret that is not its repository's",
                    e.slug, e.number, m.runner
                ));
            }
        }
    }
}

/// The audit trail names, for every secret handed out, the runner that held the stage's
/// lease; each step was handed its secret at most once, and a step that used the secret was
/// handed it on the runner it ran on.
pub fn every_secret_went_to_the_runner_holding_the_lease(
    ended: &[Ended],
    marks: &HashMap<(String, i64), Vec<Mark>>,
    leased: &HashMap<String, Vec<String>>,
    granted: &HashMap<String, Vec<String>>,
    findings: &mut Vec<String>,
) {
    for e in ended {
        let lessees = leased.get(&e.target()).map_or(&[][..], Vec::as_slice);
        let grants = granted
            .get(&format!("{}/secret", e.target()))
            .map_or(&[][..], Vec::as_slice);
        if grants.len() > 1 {
            findings.push(format!(
                "{}#{}: the secret step was handed its secret {} times: {grants:?}",
                e.slug,
                e.number,
                grants.len()
            ));
        }
        for runner in grants {
            if !lessees.contains(runner) {
                findings.push(format!(
                    "{}#{}: {runner} was handed the secret without a lease (lessees {lessees:?})",
                    e.slug, e.number
                ));
            }
        }
        let used = marks
            .get(&(e.slug.clone(), e.number))
            .map_or(&[][..], Vec::as_slice);
        for m in used.iter().filter(|m| m.step == "secret") {
            if !grants.contains(&m.runner) {
                findings.push(format!(
                    "{}#{}: the secret step ran on {} but the audit trail has no grant to it ({grants:?})",
                    e.slug, e.number, m.runner
                ));
            }
        }
    }
}

/// A stage is leased at most once more than it was sent back to the queue.
pub fn no_stage_was_leased_more_often_than_requeued(
    ended: &[Ended],
    leased: &HashMap<String, Vec<String>>,
    requeued: &HashMap<String, Vec<String>>,
    findings: &mut Vec<String>,
) {
    for e in ended {
        let leases = leased.get(&e.target()).map_or(0, Vec::len);
        let requeues = requeued.get(&e.target()).map_or(0, Vec::len);
        if leases > requeues + 1 {
            findings.push(format!(
                "{}#{}: leased {leases} times, re-queued {requeues} times",
                e.slug, e.number
            ));
        }
    }
}

/// The logs of a build's steps: a step that succeeded has every numbered line in order; any
/// other has a gap-free prefix of them; line positions have no gap; no secret shows in clear.
pub fn logs_lost_nothing_and_show_no_secret(e: &Ended, repos: &[Repo], findings: &mut Vec<String>) {
    for step in e.stage()["steps"].as_array().into_iter().flatten() {
        let name = step["name"].as_str().unwrap_or("");
        let succeeded = step["status"] == "success";
        let lines = e
            .logs
            .get(name)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let texts: Vec<&str> = lines
            .iter()
            .map(|l| l["out"].as_str().unwrap_or(""))
            .collect();
        let at = format!("{}#{} step {name} ({})", e.slug, e.number, step["status"]);
        if lines
            .iter()
            .enumerate()
            .any(|(i, l)| l["pos"].as_i64() != i64::try_from(i).ok())
        {
            findings.push(format!("{at}: line positions have a gap: {lines:?}"));
        }
        let expected = match name {
            "count" => COUNT_LINES,
            "tail" => TAIL_LINES,
            _ => 0,
        };
        let numbers = numbered_lines(&texts, name, e.number);
        let prefix = numbers.iter().enumerate().all(|(i, n)| *n == i + 1);
        if !prefix || numbers.len() > expected || (succeeded && numbers.len() != expected) {
            findings.push(format!("{at}: numbered lines {numbers:?} of {expected}"));
        }
        if name == "secret" && succeeded && !texts.contains(&"using ********\n") {
            findings.push(format!("{at}: no masked secret in {texts:?}"));
        }
        for r in repos {
            if texts.iter().any(|t| t.contains(&r.secret)) {
                findings.push(format!("{at}: the secret of {} shows in clear", r.slug));
            }
        }
    }
}

/// The K of each line `<step> line K of build <number>`, in order.
fn numbered_lines(texts: &[&str], step: &str, number: i64) -> Vec<usize> {
    let head = format!("{step} line ");
    let tail = format!(" of build {number}\n");
    texts
        .iter()
        .filter_map(|t| t.strip_prefix(&head)?.strip_suffix(&tail)?.parse().ok())
        .collect()
}

/// The audit trail, linked by both servers' chainers through the restart, verifies.
pub async fn the_audit_chain_verifies(a: &TestApp, findings: &mut Vec<String>) {
    let url = a.database.url(a.data.path());
    crate::audit::chained(&url).await;
    let store = hangar::store::Store::connect(&url)
        .await
        .expect("the store");
    let key = hangar::config::IdentityConfig::defaults(a.data.path()).secret_key_file;
    let keys = hangar::auth::keys::SecretBox::load(&key).expect("the server's key");
    let report = hangar::audit::verify::verify(&store, &keys)
        .await
        .expect("a verification");
    if report.finding.is_some() {
        findings.push(format!("the audit chain does not verify: {report:?}"));
    }
    store.close().await;
}

#[test]
fn a_log_missing_a_line_or_showing_a_secret_is_a_finding() {
    let step = |name: &str, status: &str| serde_json::json!({"name": name, "status": status});
    let lines = |texts: &[String]| {
        Value::Array(
            texts
                .iter()
                .enumerate()
                .map(|(pos, out)| serde_json::json!({"pos": pos, "out": out}))
                .collect(),
        )
    };
    let counted = |skip: usize| -> Vec<String> {
        (1..=COUNT_LINES)
            .filter(|k| *k != skip)
            .map(|k| format!("count line {k} of build 7\n"))
            .collect()
    };
    let ended = |count: Vec<String>, status: &str| Ended {
        slug: "acme/chaos-1".into(),
        number: 7,
        build: serde_json::json!({"stages": [{"steps": [step("count", status)]}]}),
        logs: HashMap::from([("count".to_string(), lines(&count))]),
    };
    let repo = Repo::for_checks("acme/chaos-1", "hush-hush");
    let findings = |e: &Ended| {
        let mut found = Vec::new();
        logs_lost_nothing_and_show_no_secret(e, std::slice::from_ref(&repo), &mut found);
        found.len()
    };
    assert_eq!(findings(&ended(counted(0), "success")), 0);
    // A step that ended otherwise may stop early, but not skip a line.
    assert_eq!(findings(&ended(counted(0)[..5].to_vec(), "error")), 0);
    assert_eq!(findings(&ended(counted(3), "error")), 1);
    assert_eq!(findings(&ended(counted(COUNT_LINES), "success")), 1);
    let mut leaked = counted(0);
    leaked.push("token hush-hush\n".into());
    assert_eq!(findings(&ended(leaked, "success")), 1);
}
