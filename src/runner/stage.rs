//! Running one leased stage: compile its steps (the clone, then the steps whose `when:` matches
//! the build), record them, run them in dependency order in a fresh workspace, and report.
//!
//! A step starts once every step it depends on has finished (or, for a `detach`ed step, started).
//! Once the stage is failing, only steps whose `when: status` asks for failures run; the rest are
//! skipped. Cancellation and the repository timeout stop the running steps (SIGTERM, grace,
//! SIGKILL) and skip the rest.

use super::credentials::{Revealed, add_credentials};
use super::workspace::Workspace;
use super::{
    Assignment, Link, Settings, StageResult, StepAsk, StepUpdate, env, log, process, sandbox,
    script,
};
use crate::domain::{Status, Step};
use crate::pipeline::{self, EnvValue, Failure, MatchContext, Pipeline};
use crate::store::NewStep;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A step as the runner will run it.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    number: i64,
    name: String,
    script: String,
    shell: String,
    env: Vec<(String, String)>,
    /// Variables set from secrets: (variable, secret name).
    pub(super) secrets: Vec<(String, String)>,
    /// Declared ID tokens: (variable, audience).
    id_tokens: Vec<(String, String)>,
    depends_on: Vec<String>,
    detach: bool,
    errignore: bool,
    on_success: bool,
    on_failure: bool,
    /// The clone step (which receives the repository's clone credentials).
    clone: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    /// A detached step that has started: its dependants may go.
    Started,
    Done(Status),
}

/// Runs the stage and reports its end. Never fails: every problem becomes the stage's error.
pub(super) async fn run<L: Link>(link: &L, settings: &Settings, a: Assignment) {
    let result = match execute(link, settings, &a).await {
        Ok(result) => result,
        Err(message) => StageResult {
            status: Status::Error,
            exit_code: 0,
            error: message,
        },
    };
    if let Err(err) = link.finish_stage(&a, result).await {
        tracing::warn!(stage = a.stage.id.0, error = %err.detail(), "reporting the end of a stage failed");
    }
}

async fn execute<L: Link>(
    link: &L,
    settings: &Settings,
    a: &Assignment,
) -> Result<StageResult, String> {
    let manifest =
        pipeline::parse(&a.config).map_err(|e| format!("{}: {e}", a.repo.config_path))?;
    let pipeline = manifest
        .pipelines
        .iter()
        .find(|p| p.name == a.stage.name)
        .ok_or_else(|| {
            format!(
                "the configuration no longer has a pipeline named {:?}",
                a.stage.name
            )
        })?;
    let plan = compile(settings, a, pipeline);
    let records = link
        .create_steps(
            a,
            plan.iter()
                .map(|p| NewStep {
                    number: p.number,
                    name: p.name.clone(),
                    errignore: p.errignore,
                    depends_on: p.depends_on.clone(),
                    detached: p.detach,
                })
                .collect(),
        )
        .await
        .map_err(|e| format!("recording the steps failed: {e}"))?;
    let ws = Workspace::create(&settings.work_dir, a.stage.id.0, &pipeline.workspace.path)
        .await
        .map_err(|e| format!("creating the workspace failed: {e}"))?;
    let result = run_steps(link, settings, a, pipeline, &plan, &records, &ws).await;
    ws.remove().await;
    Ok(result)
}

/// The steps to run: the clone (unless disabled), then every step whose static `when:` matches.
fn compile(settings: &Settings, a: &Assignment, pipeline: &Pipeline) -> Vec<Planned> {
    let host = host_of(&settings.server_url);
    let ctx = MatchContext {
        branch: &a.build.target,
        event: a.build.event.as_str(),
        git_ref: &a.build.git_ref,
        repo: &a.repo.slug,
        instance: &host,
        target: &a.build.deploy_to,
        cron: &a.build.cron,
        action: &a.build.action,
    };
    let mut plan = Vec::new();
    let clone = !pipeline.clone.disable;
    if clone {
        plan.push(Planned {
            number: 1,
            name: "clone".into(),
            script: script::clone(a.repo.clone_url(), &a.build, pipeline.clone.depth),
            shell: String::new(),
            env: Vec::new(),
            secrets: Vec::new(),
            id_tokens: Vec::new(),
            depends_on: Vec::new(),
            detach: false,
            errignore: false,
            on_success: true,
            on_failure: false,
            clone: true,
        });
    }
    // The same resolution `hangar lint --format json` prints; in the run, the clone (when there
    // is one) goes before every step that waits for nothing else.
    let resolved = pipeline.resolved_steps();
    for (step, (_, waits_for)) in pipeline.steps.iter().zip(resolved) {
        let depends_on = if waits_for.is_empty() && clone {
            vec!["clone".to_string()]
        } else {
            waits_for
        };
        if !step.when.matches_when(&ctx) {
            continue;
        }
        let mut env = Vec::new();
        let mut secrets = Vec::new();
        for (k, v) in &step.environment {
            match v {
                EnvValue::Text(t) => env.push((k.clone(), t.clone())),
                // Asked for when the step starts (and only then).
                EnvValue::FromSecret(name) => secrets.push((k.clone(), name.clone())),
            }
        }
        plan.push(Planned {
            number: plan.len() as i64 + 1,
            name: step.name.clone(),
            script: script::commands(&step.commands),
            shell: step.shell.clone(),
            env,
            secrets,
            id_tokens: step
                .id_tokens
                .iter()
                .map(|(k, aud)| (k.clone(), aud.clone()))
                .collect(),
            depends_on,
            detach: step.detach,
            errignore: step.failure == Failure::Ignore,
            on_success: step.when.on_success(),
            on_failure: step.when.on_failure(),
            clone: false,
        });
    }
    plan
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
        })
        .unwrap_or_default()
}

/// Why the stage stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Cancelled,
    TimedOut,
}

async fn run_steps<L: Link>(
    link: &L,
    settings: &Settings,
    a: &Assignment,
    pipeline: &Pipeline,
    plan: &[Planned],
    records: &[Step],
    ws: &Workspace,
) -> StageResult {
    let ids: HashMap<i64, &Step> = records.iter().map(|s| (s.number, s)).collect();
    let index: HashMap<&str, usize> = plan
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut state = vec![State::Waiting; plan.len()];
    let stop_all = CancellationToken::new();
    let revealed = Revealed::default();
    let mut detached: Vec<CancellationToken> = Vec::new();
    let mut running = FuturesUnordered::new();
    let timeout = Duration::from_secs(u64::try_from(a.repo.timeout.max(1)).unwrap_or(60) * 60);
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let cancelled = link.cancelled(a);
    tokio::pin!(cancelled);
    let mut stop: Option<Stop> = None;

    loop {
        // Start (or skip) every waiting step whose dependencies allow it.
        let mut progressed = true;
        while progressed && stop.is_none() {
            progressed = false;
            for i in 0..plan.len() {
                if state[i] != State::Waiting {
                    continue;
                }
                let ready = plan[i]
                    .depends_on
                    .iter()
                    .all(|d| match index.get(d.as_str()) {
                        Some(&j) => matches!(state[j], State::Done(_) | State::Started),
                        None => true, // left out by `when:`: counts as done
                    });
                if !ready {
                    continue;
                }
                progressed = true;
                let failing = is_failing(plan, &state);
                let runs = if failing {
                    plan[i].on_failure
                } else {
                    plan[i].on_success
                };
                let Some(record) = ids.get(&plan[i].number) else {
                    state[i] = State::Done(Status::Skipped);
                    continue;
                };
                if !runs {
                    state[i] = State::Done(Status::Skipped);
                    report(link, a, record, Status::Skipped, 0, "").await;
                    continue;
                }
                let token = stop_all.child_token();
                if plan[i].detach {
                    detached.push(token.clone());
                    state[i] = State::Started;
                } else {
                    state[i] = State::Running;
                }
                let failed_steps = failed_names(plan, &state);
                running.push(run_step(
                    link,
                    settings,
                    a,
                    pipeline,
                    &plan[i],
                    record,
                    ws,
                    failed_steps,
                    token,
                    i,
                    &revealed,
                ));
            }
        }
        let anything_running = state.contains(&State::Running);
        if !anything_running && (stop.is_some() || !state.contains(&State::Waiting)) {
            break;
        }
        if !anything_running && running.is_empty() {
            // Nothing runs and nothing can start: dependencies that cannot be met.
            break;
        }
        tokio::select! {
            Some((i, status)) = running.next() => state[i] = State::Done(status),
            _ = &mut cancelled, if stop.is_none() => {
                stop = Some(Stop::Cancelled);
                stop_all.cancel();
            }
            _ = &mut deadline, if stop.is_none() => {
                stop = Some(Stop::TimedOut);
                stop_all.cancel();
            }
        }
    }
    // Detached steps end with their stage.
    for token in &detached {
        token.cancel();
    }
    while let Some((i, status)) = running.next().await {
        state[i] = State::Done(status);
    }
    for (i, p) in plan.iter().enumerate() {
        if state[i] == State::Waiting
            && let Some(record) = ids.get(&p.number)
        {
            report(link, a, record, Status::Skipped, 0, "").await;
        }
    }
    match stop {
        Some(Stop::Cancelled) => StageResult {
            status: Status::Killed,
            exit_code: 137,
            error: String::new(),
        },
        Some(Stop::TimedOut) => StageResult {
            status: Status::Error,
            exit_code: 137,
            error: format!(
                "timed out after {} minutes (the repository's timeout)",
                a.repo.timeout
            ),
        },
        None => {
            let failing = is_failing(plan, &state);
            let exit_code = plan
                .iter()
                .zip(&state)
                .filter(|(p, _)| !p.errignore && !p.detach)
                .find_map(|(_, s)| match s {
                    State::Done(st) if st.is_failed() => Some(1),
                    _ => None,
                })
                .unwrap_or(0);
            StageResult {
                status: if failing {
                    Status::Failure
                } else {
                    Status::Success
                },
                exit_code,
                error: String::new(),
            }
        }
    }
}

fn is_failing(plan: &[Planned], state: &[State]) -> bool {
    plan.iter()
        .zip(state)
        .any(|(p, s)| !p.errignore && !p.detach && matches!(s, State::Done(st) if st.is_failed()))
}

fn failed_names(plan: &[Planned], state: &[State]) -> Vec<String> {
    plan.iter()
        .zip(state)
        .filter(|(p, s)| !p.errignore && matches!(s, State::Done(st) if st.is_failed()))
        .map(|(p, _)| p.name.clone())
        .collect()
}

async fn report<L: Link>(
    link: &L,
    a: &Assignment,
    step: &Step,
    status: Status,
    exit_code: i64,
    error: &str,
) {
    let update = StepUpdate {
        step: step.id,
        name: step.name.clone(),
        status,
        exit_code,
        error: error.to_string(),
    };
    if let Err(err) = link.update_step(a, update).await {
        tracing::warn!(step = step.id.0, error = %err.detail(), "reporting a step failed");
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_step<L: Link>(
    link: &L,
    settings: &Settings,
    a: &Assignment,
    pipeline: &Pipeline,
    planned: &Planned,
    record: &Step,
    ws: &Workspace,
    failed_steps: Vec<String>,
    stop: CancellationToken,
    index: usize,
    revealed: &Revealed,
) -> (usize, Status) {
    let (status, exit_code, error) = run_process(
        link,
        settings,
        a,
        pipeline,
        planned,
        record,
        ws,
        &failed_steps,
        &stop,
        revealed,
    )
    .await;
    report(link, a, record, status, exit_code, &error).await;
    (index, status)
}

#[allow(clippy::too_many_arguments)]
async fn run_process<L: Link>(
    link: &L,
    settings: &Settings,
    a: &Assignment,
    pipeline: &Pipeline,
    planned: &Planned,
    record: &Step,
    ws: &Workspace,
    failed_steps: &[String],
    stop: &CancellationToken,
    revealed: &Revealed,
) -> (Status, i64, String) {
    let script_path = match ws.write_script(planned.number, &planned.script).await {
        Ok(p) => p,
        Err(e) => {
            return (
                Status::Error,
                0,
                format!("writing the step's script failed: {e}"),
            );
        }
    };
    let ask = StepAsk {
        step: record.id,
        name: planned.name.clone(),
        clone: planned.clone,
        secrets: planned.secrets.iter().map(|(_, n)| n.clone()).collect(),
        id_tokens: planned.id_tokens.clone(),
    };
    let grant = match link.step_credentials(a, ask).await {
        Ok(grant) => grant,
        Err(e) => {
            return (
                Status::Error,
                0,
                format!("the step received no credentials: {e}"),
            );
        }
    };
    let mask = revealed.masker(&grant);
    let mut env = environment(settings, a, pipeline, planned, ws, failed_steps);
    add_credentials(&mut env, planned, &grant);
    let (shell, args) = script::invocation(&planned.shell, &script_path.to_string_lossy());
    let (program, args, leader) = sandbox::command(
        settings.sandbox.as_ref(),
        shell,
        args,
        ws,
        a.repo.clone_url(),
    );
    let started = Instant::now();
    let spawned = process::spawn_step(&process::Spec {
        program: &program,
        args: &args,
        cwd: &ws.src,
        env: &env,
        leader,
    });
    let mut proc = match spawned {
        Ok(p) => p,
        Err(e) => {
            return (
                Status::Error,
                0,
                format!("starting {program:?} failed: {e}"),
            );
        }
    };
    ws.record_pid(planned.number, proc.pid).await;
    report(link, a, record, Status::Running, 0, "").await;

    let (tx, mut rx) = mpsc::channel(4);
    let pump = tokio::spawn(log::pump(
        proc.output,
        log::LogBuffer::new(started, settings.log_limit).with_mask(mask),
        tx,
    ));
    let upload = async {
        while let Some(chunk) = rx.recv().await {
            if let Err(err) = link.append_log(a, record.id, chunk).await {
                tracing::warn!(step = record.id.0, error = %err.detail(), "storing a log chunk failed");
            }
        }
    };
    let wait = async {
        let exit = tokio::select! {
            status = proc.child.wait() => status.map(|s| (s, false)),
            _ = stop.cancelled() => process::terminate(&mut proc.child, proc.pid, proc.leader, settings.cancel_grace).await.map(|s| (s, true)),
        };
        // Whatever the step left running in its group ends with it.
        process::signal_group(proc.pid, nix::sys::signal::Signal::SIGKILL);
        exit
    };
    let (exit, ()) = tokio::join!(wait, upload);
    let _ = pump.await;
    ws.forget_pid(planned.number).await;
    match exit {
        Ok((status, killed)) => {
            use std::os::unix::process::ExitStatusExt;
            let code = status
                .code()
                .map(i64::from)
                .or_else(|| status.signal().map(|s| 128 + i64::from(s)))
                .unwrap_or(1);
            if killed {
                (Status::Killed, code, String::new())
            } else if code == 0 {
                (Status::Success, 0, String::new())
            } else {
                (Status::Failure, code, String::new())
            }
        }
        Err(e) => (
            Status::Error,
            0,
            format!("waiting for the step failed: {e}"),
        ),
    }
}

/// The step's environment: `DRONE_*` and the pipeline's `environment:` (see `env`), then the
/// step's own `environment:`, which may override them, as in Drone.
fn environment(
    settings: &Settings,
    a: &Assignment,
    pipeline: &Pipeline,
    planned: &Planned,
    ws: &Workspace,
    failed_steps: &[String],
) -> Vec<(String, String)> {
    let system = env::System::from_server_url(&settings.server_url, env!("CARGO_PKG_VERSION"))
        .unwrap_or(env::System {
            proto: "http".into(),
            host: String::new(),
            version: env!("CARGO_PKG_VERSION").into(),
        });
    let workspace = ws.src.to_string_lossy();
    let home = ws.home.to_string_lossy();
    let pipeline_environment: env::Environment = pipeline.environment.clone().into_iter().collect();
    let ctx = env::StepContext {
        system: &system,
        repo: &a.repo,
        build: &a.build,
        stage: &a.stage,
        step_name: &planned.name,
        step_number: planned.number,
        workspace: &workspace,
        home: &home,
        failed_steps,
        failed_stages: &[],
        pipeline_environment: &pipeline_environment,
        proxy: &settings.proxy,
        now_ms: settings.clock.now_ms(),
    };
    let mut out = env::step_environment(&ctx);
    out.extend(planned.env.iter().cloned());
    out.into_iter().collect()
}
