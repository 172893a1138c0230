//! Process plumbing shared by the `rmq-agent` and `rmq-ha-guard` binaries: the command line, logging to
//! stderr, and the signals that stop (SIGTERM, SIGINT) and reload (SIGHUP) them.

use std::process::ExitCode;

use tracing::error;

use crate::config::{LogFormat, LogLevel};

/// EX_USAGE from sysexits.h: bad flags or configuration.
pub const EX_USAGE: u8 = 64;

/// Parses the command line. On an error, `--help` or `--version` it prints clap's message and
/// returns the exit code to end with (64 for a usage error, 0 otherwise).
pub fn parse_args<T: clap::Parser>() -> Result<T, ExitCode> {
    T::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() { ExitCode::from(EX_USAGE) } else { ExitCode::SUCCESS }
    })
}

/// `A`'s options as a command named `run`, e.g. to check each option's environment variable.
pub fn args_command<A: clap::Args>() -> clap::Command {
    A::augment_args(clap::Command::new("run"))
}

/// Parses `args` (without a program name) as `A`'s options with their environment variables
/// dropped, so the caller's environment cannot change the outcome. For the daemons' unit
/// tests; their binaries' tests set the variables, in a child's environment.
pub fn parse_flags<A: clap::Args>(args: &[&str]) -> Result<A, clap::Error> {
    let cmd = args_command::<A>().mut_args(|a| a.env(None::<&str>));
    A::from_arg_matches(&cmd.try_get_matches_from(std::iter::once("run").chain(args.iter().copied()))?)
}

/// The runtime both binaries run on: one thread. Their work is I/O-bound relaying and a few
/// hundred pipelined requests per cycle, and a single allocating thread keeps glibc to one
/// malloc arena, which halved the agent's resident memory on a broker with 1,000 topics
/// (docs/benchmarks.md).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().max_blocking_threads(2).build()
}

/// Logs to stderr in `format` at `level` (a filter directive, checked when the configuration
/// was read). The binaries take `level` from their flags, environment and file, in that order.
pub fn init_logging(format: LogFormat, level: &LogLevel) {
    let filter = tracing_subscriber::EnvFilter::new(level.as_str());
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
}

/// Forwards each SIGHUP as a reload request.
pub async fn sighup_to(tx: tokio::sync::mpsc::Sender<()>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        error!("cannot listen for SIGHUP; reload is unavailable");
        return;
    };
    while hup.recv().await.is_some() {
        // A reload already queued covers this one.
        let _ = tx.try_send(());
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Sends `state` (e.g. `READY=1`) to systemd's notification socket when the service runs
/// under `Type=notify`; does nothing otherwise. Failures are logged, never fatal.
pub fn sd_notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return };
    let sent = (|| -> std::io::Result<()> {
        let sock = std::os::unix::net::UnixDatagram::unbound()?;
        let bytes = path.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            // An abstract socket (systemd's default for services).
            use std::os::linux::net::SocketAddrExt as _;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            sock.send_to(state.as_bytes(), &path)?;
        }
        Ok(())
    })();
    if let Err(e) = sent {
        tracing::warn!(error = %e, state, "cannot notify systemd");
    }
}

/// When systemd's watchdog is on for this process (`WatchdogSec=`), pings it at half the
/// interval for as long as the runtime runs the returned future (a stalled runtime stops the
/// pings, and systemd restarts the service), until `stop` flips. `None` when the watchdog is
/// off.
pub fn sd_watchdog(mut stop: tokio::sync::watch::Receiver<bool>) -> Option<impl std::future::Future<Output = ()>> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    let every = std::time::Duration::from_micros(usec / 2).max(std::time::Duration::from_millis(100));
    Some(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => sd_notify("WATCHDOG=1"),
                _ = stop.changed() => return,
            }
        }
    })
}
