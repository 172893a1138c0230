//! A child process that cannot outlive the test: it runs under a shell watchdog that ends it
//! when our end of the watchdog's stdin closes (on drop, or when the test process dies).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::Context as _;

/// Runs the child; once stdin reaches EOF (we dropped it, or the test process died) a
/// background guard ends it with SIGTERM, then SIGKILL after 5 s. The watchdog itself exits
/// when the child does, with the child's status (also written to the log), so
/// [`ManagedProcess::is_running`] reports the child, not the watchdog.
const WATCHDOG: &str = r#"
exec 3<&0
"$@" <&- 3<&- &
child=$!
(
    cat <&3 >/dev/null
    kill -TERM "$child" 2>/dev/null
    i=0
    while kill -0 "$child" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
    kill -KILL "$child" 2>/dev/null
) &
guard=$!
exec 3<&-
wait "$child"
status=$?
kill "$guard" 2>/dev/null
echo "[watchdog] $1 exited with status $status" >&2
exit "$status"
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

    /// Whether the process is still running (its watchdog exits when it does).
    pub fn is_running(&mut self) -> bool {
        matches!(self.watchdog.try_wait(), Ok(None))
    }

    /// The last `n` lines of its log (terminal colour codes removed), for error messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        last_lines(text.lines(), n)
    }

    /// Why a process failed, as far as its log tells: its last `n` warning and error lines,
    /// then its last `n` lines (a shutdown sequence often buries the cause).
    pub fn log_summary(&self, n: usize) -> String {
        let text = self.log_text();
        let problems = text.lines().filter(|l| l.contains(" WARN ") || l.contains("ERROR"));
        format!(
            "--- last warnings and errors ---\n{}\n--- last lines ---\n{}",
            last_lines(problems, n),
            last_lines(text.lines(), n)
        )
    }

    /// The log so far, terminal colour codes removed.
    fn log_text(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
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

/// A child a test starts itself (to signal it, or to read its exit status), killed and reaped
/// when this drops: a failed assertion unwinds through it instead of leaving the child running
/// with the test's ports and output. Derefs to the [`Child`].
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Errors mean it is gone already.
        let _ = self.0.kill();
        let _ = self.0.wait();
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

/// The last `n` of `lines`, joined.
fn last_lines<'a>(lines: impl Iterator<Item = &'a str>, n: usize) -> String {
    let lines: Vec<&str> = lines.collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `text` without ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip to the sequence's final byte (a letter).
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed setup should panic

    use std::time::Duration;

    use super::ManagedProcess;
    use crate::wire;

    fn spawn(script: &str, dir: &tempfile::TempDir) -> ManagedProcess {
        let args = vec!["-c".to_owned(), script.to_owned()];
        ManagedProcess::spawn("sh", "/bin/sh".as_ref(), &args, dir.path(), &[], dir.path().join("log")).unwrap()
    }

    #[test]
    fn a_child_that_exits_is_seen_as_stopped_with_its_status_logged() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = spawn(r"printf '\033[33m WARN\033[0m disk full\nstarted\n'; exit 7", &dir);
        wire::wait_for("the child to exit", Duration::from_secs(30), || Ok((!p.is_running()).then_some(()))).unwrap();
        let log = p.log_summary(5);
        assert!(log.contains(" WARN disk full"), "{log}");
        assert!(log.contains("started"), "{log}");
        assert!(log.contains("exited with status 7"), "{log}");
    }

    #[test]
    fn dropping_the_handle_ends_a_running_child() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let mut p = spawn(&format!("echo $$ > {}; exec sleep 600", pid_file.display()), &dir);
        let pid = wire::wait_for("the child's pid", Duration::from_secs(30), || {
            Ok(std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse::<u32>().ok()))
        })
        .unwrap();
        assert!(p.is_running());
        drop(p);
        // `stop` waited for the watchdog, which waits for the child: it is gone now.
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "pid {pid} still exists");
    }

    #[test]
    fn dropping_a_kill_on_drop_ends_and_reaps_the_child() {
        let child = super::KillOnDrop(std::process::Command::new("sleep").arg("600").spawn().unwrap());
        let pid = child.id();
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        drop(child);
        // Killed and waited for: not even a zombie is left.
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "pid {pid} still exists");
    }
}
