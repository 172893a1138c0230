//! The `rmq-ha-guard` binary. The tunnel itself is not built yet; today the binary can
//! inspect `rmq-ha-v1` first packets, which helps check a peer's key and clock by hand.

use std::io::Read as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rmq_protocol::ha::Parsed;
use rmq_protocol::sign::ha_v1;

/// EX_USAGE from sysexits.h.
const EX_USAGE: u8 = 64;
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
    /// Read an rmq-ha-v1 first packet (raw bytes) from stdin and print its fields.
    InspectHello,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(EX_USAGE) } else { ExitCode::SUCCESS };
        }
    };
    match cli.command {
        Command::InspectHello => inspect_hello(),
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
