//! Command tasks: run a program (or a shell line) with the job in its environment.
//!
//! The program runs without a shell unless the task sets `shell = true`; then `argv[0]` is
//! the script line and the other elements its positional parameters
//! (`/bin/sh -c argv[0] horae argv[1..]`, so `$0` is `horae` and `$1` is `argv[1]`). It
//! gets the daemon's environment, the task's `env`, and the job's details (DESIGN.md
//! section 7): `HORAE_JOB_ID`, `HORAE_TASK_ID`, `HORAE_SCHEDULE_ID` (empty for ad-hoc
//! jobs), `HORAE_SCHEDULED_FIRE_TIME` (RFC 3339, empty when none), `HORAE_ATTEMPT`
//! (1-based), `HORAE_NODE_ID`, `HORAE_ARGS` (a JSON array) and `HORAE_KWARGS` (a JSON
//! object). Standard input is empty; of standard output and standard error only the last
//! [`MAX_OUTPUT`] bytes each are kept.
//!
//! The program runs in a process group of its own. When the job's future is dropped (the
//! task's timeout, a shutdown past its grace period) the whole group is killed with
//! `SIGKILL`, so a shell's children do not linger.
//!
//! Exit code 0 is success, with the result `{"exit_code": 0, "stdout": ..., "stderr": ...}`;
//! another exit code or a signal is a failure whose message carries the code (or signal)
//! and the end of standard error.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use horae::model::CommandAction;
use horae::scheduler::handler::{HandlerError, HandlerResult, JobContext};
use rustix::process::{Pid, Signal, kill_process_group};
use serde_json::{Value, json};
use tokio::process::Command;

use super::MAX_OUTPUT;
use super::tail::{Tail, read_into};

/// How long output is still read after the program exited, while a process it left behind
/// keeps its standard output or error open.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// How much of standard error (or standard output, when standard error is empty) a
/// failure's message carries.
const MESSAGE_TAIL: usize = 8 * 1024;

/// Runs the job's command and waits for it.
///
/// # Errors
///
/// [`HandlerError::Failed`] when the program cannot be started, exits with a code other
/// than 0, or is killed by a signal.
pub(crate) async fn run(action: &CommandAction, ctx: &JobContext) -> HandlerResult {
    let mut command = build(action, ctx)?;
    let program = action.argv.first().map(String::as_str).unwrap_or_default();
    // Starting a process blocks its thread until the program is executing (longer on a
    // busy machine); off the runtime's few worker threads, so the lease keeper and the other
    // services are not held up by a burst of job starts. A child whose start outlives a
    // dropped job future is killed when dropped (`kill_on_drop`).
    let spawned = tokio::task::spawn_blocking(move || command.spawn())
        .await
        .map_err(|error| HandlerError::failed(format!("cannot start {program:?}: {error}")))?;
    let mut child = spawned.map_err(|error| {
        HandlerError::failed(match &action.cwd {
            Some(cwd) => format!("cannot start {program:?} in {cwd:?}: {error}"),
            None => format!("cannot start {program:?}: {error}"),
        })
    })?;
    let mut group = GroupKiller::new(child.id());
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let mut out = Tail::new(MAX_OUTPUT);
    let mut err = Tail::new(MAX_OUTPUT);
    let status = {
        let mut reading = std::pin::pin!(async {
            tokio::join!(read_into(stdout, &mut out), read_into(stderr, &mut err))
        });
        let mut read_all = false;
        let status = tokio::select! {
            status = child.wait() => status,
            _ = &mut reading => {
                read_all = true;
                child.wait().await
            }
        };
        // The program is gone: nothing is left to kill.
        group.disarm();
        if !read_all {
            // A process it left behind may hold the pipes open; don't wait for it long.
            let _ = tokio::time::timeout(OUTPUT_GRACE, &mut reading).await;
        }
        status
    };
    let status = status.map_err(|error| {
        HandlerError::failed(format!("waiting for {program:?} failed: {error}"))
    })?;
    finish(status, &out, &err)
}

/// The process to start: argv (or the shell line), environment, working directory, pipes.
fn build(action: &CommandAction, ctx: &JobContext) -> Result<Command, HandlerError> {
    let Some((first, rest)) = action.argv.split_first() else {
        return Err(HandlerError::Cancel("the command is empty".to_owned()));
    };
    let mut command = if action.shell {
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg(first).arg("horae").args(rest);
        command
    } else {
        let mut command = Command::new(first);
        command.args(rest);
        command
    };
    command.envs(&action.env);
    for (name, value) in job_environment(ctx) {
        command.env(name, value);
    }
    if let Some(cwd) = &action.cwd {
        command.current_dir(cwd);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    Ok(command)
}

/// The job's details as environment variables (DESIGN.md section 7).
pub(crate) fn job_environment(ctx: &JobContext) -> Vec<(&'static str, String)> {
    let job = &ctx.job;
    vec![
        ("HORAE_JOB_ID", job.id.to_string()),
        ("HORAE_TASK_ID", job.task_id.to_string()),
        (
            "HORAE_SCHEDULE_ID",
            job.schedule_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
        (
            "HORAE_SCHEDULED_FIRE_TIME",
            job.scheduled_fire_time
                .map(|time| time.to_string())
                .unwrap_or_default(),
        ),
        ("HORAE_ATTEMPT", job.attempt.to_string()),
        ("HORAE_NODE_ID", ctx.node_id.clone()),
        ("HORAE_ARGS", Value::Array(job.args.clone()).to_string()),
        (
            "HORAE_KWARGS",
            Value::Object(job.kwargs.clone()).to_string(),
        ),
    ]
}

/// The result (exit code 0) or the failure.
fn finish(status: ExitStatus, out: &Tail, err: &Tail) -> HandlerResult {
    if status.success() {
        return Ok(json!({
            "exit_code": 0,
            "stdout": out.text(),
            "stderr": err.text(),
        }));
    }
    let what = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}{}", signal_name(signal)),
        (None, None) => format!("ended with {status}"),
    };
    let (stream, tail) = if err.total() > 0 || out.total() == 0 {
        ("stderr", err.text_tail(MESSAGE_TAIL))
    } else {
        ("stdout", out.text_tail(MESSAGE_TAIL))
    };
    let tail = tail.trim_end();
    Err(HandlerError::failed(if tail.is_empty() {
        format!("command {what}")
    } else {
        format!("command {what}; {stream}: {tail}")
    }))
}

/// ` (SIGKILL)` for the common signals, empty otherwise.
fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => " (SIGHUP)",
        2 => " (SIGINT)",
        3 => " (SIGQUIT)",
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        13 => " (SIGPIPE)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

/// Kills the child's process group when dropped, unless disarmed once the child exited.
struct GroupKiller(Option<Pid>);

impl GroupKiller {
    fn new(pid: Option<u32>) -> GroupKiller {
        GroupKiller(pid.and_then(|pid| Pid::from_raw(i32::try_from(pid).ok()?)))
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            // The group may be gone already; nothing to do then.
            let _ = kill_process_group(group, Signal::KILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use horae::model::{Job, ScheduleId, TaskId};

    use super::*;

    fn ctx() -> JobContext {
        let mut job = Job::new(TaskId::new("t").unwrap(), jiff::Timestamp::now());
        job.args = vec![json!(1), json!("two")];
        job.schedule_id = Some(ScheduleId::new("s").unwrap());
        job.scheduled_fire_time = Some("2026-01-01T03:00:00Z".parse().unwrap());
        job.attempt = 2;
        JobContext {
            job,
            node_id: "node-a".to_owned(),
            action: None,
        }
    }

    fn command(argv: &[&str], shell: bool) -> CommandAction {
        CommandAction {
            argv: argv.iter().map(|s| (*s).to_owned()).collect(),
            shell,
            env: BTreeMap::new(),
            cwd: None,
        }
    }

    #[tokio::test]
    async fn success_returns_the_output() {
        let value = run(&command(&["echo", "hi"], false), &ctx()).await.unwrap();
        assert_eq!(
            value,
            json!({"exit_code": 0, "stdout": "hi\n", "stderr": ""})
        );
    }

    #[tokio::test]
    async fn the_job_is_in_the_environment() {
        let script = "echo \"$HORAE_TASK_ID|$HORAE_SCHEDULE_ID|$HORAE_SCHEDULED_FIRE_TIME|$HORAE_ATTEMPT|$HORAE_NODE_ID|$HORAE_ARGS|$HORAE_KWARGS|$0|$1|$EXTRA\"";
        let mut action = command(&[script, "first"], true);
        action.env.insert("EXTRA".into(), "x y".into());
        let value = run(&action, &ctx()).await.unwrap();
        assert_eq!(
            value["stdout"],
            "t|s|2026-01-01T03:00:00Z|2|node-a|[1,\"two\"]|{}|horae|first|x y\n"
        );
    }

    #[tokio::test]
    async fn a_non_zero_exit_fails_with_the_code_and_stderr() {
        let error = run(&command(&["echo oops >&2; exit 3", "x"], true), &ctx())
            .await
            .unwrap_err();
        assert_eq!(
            error,
            HandlerError::failed("command exited with code 3; stderr: oops")
        );
        let error = run(&command(&["false"], false), &ctx()).await.unwrap_err();
        assert_eq!(error.message(), "command exited with code 1");
        let error = run(&command(&["kill -9 $$"], true), &ctx())
            .await
            .unwrap_err();
        assert_eq!(error.message(), "command was killed by signal 9 (SIGKILL)");
    }

    #[tokio::test]
    async fn a_missing_program_or_directory_is_a_failure() {
        let error = run(&command(&["/nonexistent/horae-test"], false), &ctx())
            .await
            .unwrap_err();
        assert!(
            error
                .message()
                .starts_with("cannot start \"/nonexistent/horae-test\""),
            "{error}"
        );
        let mut action = command(&["true"], false);
        action.cwd = Some("/nonexistent-dir".into());
        let error = run(&action, &ctx()).await.unwrap_err();
        assert!(
            error.message().contains("in \"/nonexistent-dir\""),
            "{error}"
        );
    }

    #[tokio::test]
    async fn output_keeps_only_the_last_64_kib() {
        let action = command(&["head -c 200000 /dev/zero | tr '\\0' a; echo end"], true);
        let value = run(&action, &ctx()).await.unwrap();
        let stdout = value["stdout"].as_str().unwrap();
        assert_eq!(stdout.len(), MAX_OUTPUT);
        assert!(
            stdout.ends_with("aaaa\nend\n") || stdout.ends_with("aend\n"),
            "{}",
            &stdout[stdout.len() - 10..]
        );
    }

    /// Whether process `pid` is gone (or a zombie nobody reaped yet).
    fn dead(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    #[tokio::test]
    async fn dropping_the_future_kills_the_process_group() {
        let dir = std::env::temp_dir().join(format!("horae-kill-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("pid");
        // The shell's child writes its pid and would live on for a minute.
        let mut action = command(&["sleep 60 & echo $! > pid; wait"], true);
        action.cwd = Some(dir.to_string_lossy().into_owned());
        let ctx = ctx();
        let mut running = Box::pin(run(&action, &ctx));
        let pid = loop {
            tokio::select! {
                _ = &mut running => panic!("the command ended"),
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
            if let Ok(pid) = std::fs::read_to_string(&pid_file)
                && !pid.trim().is_empty()
            {
                break pid.trim().to_owned();
            }
        };
        assert!(!dead(&pid));
        drop(running);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !dead(&pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "the shell's child lived on"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
