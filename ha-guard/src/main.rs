//! The `rmq-ha-guard` binary: arguments, logging, the runtime, signals and exit codes.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rmq_ha_guard::config::Config;
use rmq_protocol::ha::Parsed;
use rmq_protocol::sign::ha_v1;
use rmq_runtime::process::{EX_USAGE, init_logging, parse_args, runtime, shutdown_signal, sighup_to};
use tracing::error;

/// EX_DATAERR from sysexits.h: the input was not what it should be.
const EX_DATAERR: u8 = 65;

#[derive(Debug, Parser)]
#[command(name = "rmq-ha-guard", version, about = "Authenticated tunnel for RocketMQ HA replication")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every configured tunnel end until SIGTERM/SIGINT; SIGHUP reloads the keys. Every
    /// option can also be set by its environment variable; a flag beats its variable, and
    /// both beat the file (docs/environment.md).
    Run(rmq_ha_guard::cli::RunArgs),
    /// Validate a configuration file (and that its key files are readable and private).
    CheckConfig {
        /// The file.
        file: PathBuf,
    },
    /// Read an rmq-ha-v1 first packet (raw bytes) from stdin and print its fields.
    InspectHello,
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    let cli: Cli = match parse_args() {
        Ok(c) => c,
        Err(code) => return code,
    };
    match cli.command {
        Command::InspectHello => inspect_hello(),
        Command::CheckConfig { file } => {
            match Config::load(&file).map_err(|e| e.to_string()).and_then(|c| {
                rmq_ha_guard::app::load_keys(&c).map_err(|e| e.to_string())?;
                Ok(c)
            }) {
                Ok(c) => {
                    println!("{}: ok ({} accept, {} connect)", file.display(), c.accept.len(), c.connect.len());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(EX_USAGE)
                }
            }
        }
        Command::Run(args) => {
            let cfg = match args.load() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(EX_USAGE);
                }
            };
            let config = args.config;
            init_logging(cfg.log.format, &cfg.log.level);
            let result = runtime().map_err(anyhow::Error::from).and_then(|rt| {
                rt.block_on(async {
                    let (tx, requests) = tokio::sync::mpsc::channel(1);
                    tokio::spawn(sighup_to(tx));
                    let reload = rmq_ha_guard::app::Reloader { requests, path: config };
                    rmq_ha_guard::app::run(cfg, shutdown_signal(), None, Some(reload)).await
                })
                .map_err(anyhow::Error::from)
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    // The log goes to stderr: one line, in the configured log format.
                    error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn inspect_hello() -> ExitCode {
    let mut buf = Vec::new();
    if let Err(e) = std::io::stdin().take(ha_v1::MAX_HELLO_LEN as u64).read_to_end(&mut buf) {
        eprintln!("rmq-ha-guard: reading stdin: {e}");
        return ExitCode::FAILURE;
    }
    match ha_v1::parse_hello(&buf) {
        Ok(Parsed::Complete(h, len)) => {
            println!("key_id        {}", h.key_id);
            println!("broker_name   {}", h.broker_name);
            println!("timestamp_ms  {}", h.timestamp_ms);
            println!("length        {len}");
            ExitCode::SUCCESS
        }
        Ok(Parsed::NeedMore(n)) => {
            eprintln!("rmq-ha-guard: incomplete first packet: {n} more bytes needed");
            ExitCode::from(EX_DATAERR)
        }
        Err(e) => {
            eprintln!("rmq-ha-guard: {e}");
            ExitCode::from(EX_DATAERR)
        }
    }
}
