//! The `rmq-agent` binary: argument parsing, logging, runtime and exit codes.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rmq_agent::probe;
use rmq_agent::remoting::{Client, ClientConfig};
use rmq_protocol::SerializeType;
use tracing::{error, info, warn};

/// EX_USAGE from sysexits.h: bad flags or configuration.
const EX_USAGE: u8 = 64;

#[derive(Debug, Parser)]
#[command(name = "rmq-agent", version, about = "Per-host RocketMQ sidecar agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent: watch the local broker until SIGTERM/SIGINT.
    Run {
        /// The local broker's remoting address.
        #[arg(long, default_value = "127.0.0.1:10911")]
        broker_addr: String,
        /// Seconds between looks at the broker.
        #[arg(long, default_value_t = 15)]
        interval: u64,
    },
    /// Ask the broker once for its runtime info and print a summary.
    Probe {
        /// The broker's remoting address.
        #[arg(long, default_value = "127.0.0.1:10911")]
        broker_addr: String,
        /// Send the request with a ROCKETMQ binary header instead of JSON.
        #[arg(long)]
        binary: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(EX_USAGE) } else { ExitCode::SUCCESS };
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RMQ_AGENT_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Probe { broker_addr, binary } => {
            let mut cfg = ClientConfig::new(broker_addr);
            if binary {
                cfg.serialize_type = SerializeType::ROCKETMQ;
            }
            let report = probe::probe(&Client::new(cfg)).await?;
            let mut out = String::new();
            for (k, v) in report.summary() {
                out.push_str(&format!("{k:<24}{v}\n"));
            }
            #[allow(clippy::print_stdout)]
            {
                print!("{out}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { broker_addr, interval } => {
            let client = Client::new(ClientConfig::new(broker_addr.clone()));
            let mut tick = tokio::time::interval(Duration::from_secs(interval.max(1)));
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            info!(%broker_addr, interval, "rmq-agent running");
            loop {
                tokio::select! {
                    _ = tick.tick() => match probe::probe(&client).await {
                        Ok(r) => {
                            let fields: Vec<String> = r.summary().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
                            info!(broker = %broker_addr, up = 1, "{}", fields.join(" "));
                        }
                        Err(e) => warn!(broker = %broker_addr, up = 0, error = %e, "broker probe failed"),
                    },
                    _ = tokio::signal::ctrl_c() => break,
                    _ = term.recv() => break,
                }
            }
            info!("rmq-agent stopped");
            Ok(ExitCode::SUCCESS)
        }
    }
}
