//! Process plumbing shared by the `rmq-agent` and `rmq-ha-guard` binaries: logging to
//! stderr, and the signals that stop (SIGTERM, SIGINT) and reload (SIGHUP) them.

use tracing::error;

/// Logs to stderr as `format` ("json" or human text) at `level`; the environment variable
/// `env_var` (an `EnvFilter` directive) overrides the level.
pub fn init_logging(env_var: &str, format: &str, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env(env_var)
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
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
