//! A child process that cannot outlive the test: it runs under a shell watchdog that ends it
//! when our end of the watchdog's stdin closes (on drop, or when the test process dies).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::Context as _;

/// Ends the child with SIGTERM, then SIGKILL after 5 s, once stdin reaches EOF.
const WATCHDOG: &str = r#"
"$@" <&- &
child=$!
cat >/dev/null
kill -TERM "$child" 2>/dev/null
i=0
while kill -0 "$child" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL "$child" 2>/dev/null
wait "$child"
"#;

/// A supervised child process with its output in a log file.
#[derive(Debug)]
pub struct ManagedProcess {
    name: String,
    watchdog: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
}

impl ManagedProcess {
    /// Starts `program args…` in `dir` with `env`, logging stdout and stderr to `log`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        dir: &Path,
        env: &[(&str, &Path)],
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(WATCHDOG).arg("watchdog").arg(program).args(args);
        cmd.current_dir(dir).stdin(Stdio::piped()).stdout(out).stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut watchdog = cmd.spawn().with_context(|| format!("starting {name} ({})", program.display()))?;
        let stdin = watchdog.stdin.take();
        Ok(Self { name: name.to_owned(), watchdog, stdin, log })
    }

    /// Whether the process (its watchdog) is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.watchdog.try_wait(), Ok(None))
    }

    /// The last `n` lines of its log, for error messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Stops the process (SIGTERM, then SIGKILL after 5 s) and waits for it.
    pub fn stop(&mut self) {
        drop(self.stdin.take());
        let _ = self.watchdog.wait();
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Removes directories once the test process is gone: for state owned by `static`s, which
/// are never dropped. It waits out the watchdogs' 5 s TERM→KILL window first.
#[derive(Debug)]
pub(crate) struct Janitor {
    _child: Child,
    _stdin: Option<ChildStdin>,
}

impl Janitor {
    pub(crate) fn spawn(dirs: &[&Path]) -> anyhow::Result<Self> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(r#"cat >/dev/null; sleep 6; rm -rf -- "$@""#).arg("janitor");
        cmd.args(dirs).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = cmd.spawn().context("starting the test janitor")?;
        let stdin = child.stdin.take();
        Ok(Self { _child: child, _stdin: stdin })
    }
}
