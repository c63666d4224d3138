//! The shell scripts steps run: each command echoed (`+ command`) and then run, under `sh -e`
//! (or the step's `shell`), and the clone step's git commands.

use crate::domain::Build;

/// Quotes `s` for a POSIX shell.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The script of a step's `commands:`.
pub fn commands(commands: &[String]) -> String {
    let mut out = String::new();
    for cmd in commands {
        out.push_str(&format!("printf '+ %s\\n' {}\n{cmd}\n", quote(cmd)));
    }
    out
}

/// The program and arguments that run a script with `shell` (empty = `sh`). POSIX shells get
/// `-e`, so the first failing command ends the step, as in Drone.
pub fn invocation(shell: &str, script: &str) -> (String, Vec<String>) {
    let shell = if shell.is_empty() { "sh" } else { shell };
    let name = shell.rsplit('/').next().unwrap_or(shell);
    let args = if matches!(
        name,
        "sh" | "bash" | "dash" | "ash" | "zsh" | "ksh" | "mksh"
    ) {
        vec!["-e".to_string(), script.to_string()]
    } else {
        vec![script.to_string()]
    };
    (shell.to_string(), args)
}

/// The clone step: fetch the build's ref from the repository's configured URL (never one from
/// a webhook) into the workspace, and check out the build's commit. The clone credentials
/// (`DRONE_NETRC_*`, given to this step only) reach git through a credential helper that reads
/// them from the environment.
///
/// A repository on this machine is not fetched: the workspace borrows its objects (what
/// `git clone --shared` does), which saves the copy; if the commit is not there, it is fetched.
pub fn clone(clone_url: &str, build: &Build, depth: u32) -> String {
    let git_ref = if build.git_ref.is_empty() {
        format!("refs/heads/{}", build.target)
    } else {
        build.git_ref.clone()
    };
    let depth = if depth > 0 {
        format!(" --depth={depth}")
    } else {
        String::new()
    };
    let checkout = format!(
        "git -c advice.detachedHead=false checkout -q -f {}",
        quote(if build.after.is_empty() {
            "FETCH_HEAD"
        } else {
            &build.after
        })
    );
    let fetch = format!(
        "git fetch -q{depth} origin {}",
        quote(&format!("+{git_ref}:"))
    );
    let helper = crate::auth::netrc::GIT_HELPER[3]
        .strip_prefix("credential.helper=")
        .unwrap_or_default();
    let mut lines = vec![
        "git init -q --template= .".to_string(),
        format!("git remote add origin {}", quote(clone_url)),
        // A private repository's credentials come from the step's `DRONE_NETRC_*`.
        format!(
            "if [ -n \"${{DRONE_NETRC_PASSWORD:-}}\" ]; then git config credential.helper {}; fi",
            quote(helper)
        ),
    ];
    match local_objects(clone_url) {
        Some(objects) if !build.after.is_empty() => {
            lines.push(format!(
                "if [ -d {dir}/objects ]; then echo {dir}/objects; else echo {dir}/.git/objects; fi > .git/objects/info/alternates",
                dir = quote(objects)
            ));
            lines.push(format!("{checkout} 2>/dev/null || {{ rm .git/objects/info/alternates; {fetch}; {checkout}; }}"));
        }
        _ => {
            lines.push(fetch);
            lines.push(checkout);
        }
    }
    commands(&lines)
}

/// The path of a clone URL that names this machine's file system.
pub(super) fn local_objects(url: &str) -> Option<&str> {
    if url.starts_with('/') {
        Some(url)
    } else {
        url.strip_prefix("file://").filter(|p| p.starts_with('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_command_is_echoed_before_it_runs() {
        let s = commands(&["echo 'hi'".into()]);
        assert_eq!(s, "printf '+ %s\\n' 'echo '\\''hi'\\'''\necho 'hi'\n");
    }

    #[test]
    fn posix_shells_stop_at_the_first_failing_command() {
        assert_eq!(invocation("", "/s").1, vec!["-e", "/s"]);
        assert_eq!(invocation("/bin/bash", "/s").1, vec!["-e", "/s"]);
        assert_eq!(invocation("python3", "/s").1, vec!["/s"]);
    }
}
