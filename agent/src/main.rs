//! The `rmq-agent` binary: argument parsing, logging, the runtime, signals and exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rmq_agent::commands::probe;
use rmq_agent::config::Config;
use rmq_agent::remoting::{Client, ClientConfig};
use rmq_protocol::SerializeType;
use rmq_runtime::config::LogLevel;
use rmq_runtime::process::{EX_USAGE, init_logging, parse_args, runtime, shutdown_signal, sighup_to};
use tracing::error;

/// The log level of `probe` (an `EnvFilter` directive); `run` reads it as `--log-level`.
const LOG_ENV: &str = "RMQ_AGENT_LOG";

#[derive(Debug, Parser)]
#[command(name = "rmq-agent", version, about = "Per-host RocketMQ sidecar agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent until SIGTERM/SIGINT; SIGHUP reloads the guard's keys and policies.
    /// Every option can also be set by its environment variable; a flag beats its variable,
    /// and both beat the file (docs/environment.md).
    Run(rmq_agent::cli::RunArgs),
    /// Validate a configuration file and report every problem.
    CheckConfig {
        /// The file.
        file: PathBuf,
    },
    /// Send a signed administrative request (through the admin guard, or to a broker that
    /// checks ACL 1.0). The secret comes from a file, never the command line.
    Admin {
        /// Where to send it (the guard's address, e.g. the broker's advertised 10911).
        #[arg(long, default_value = rmq_agent::config::DEFAULT_BROKER)]
        addr: String,
        /// Key id (for acl-v1: the AccessKey).
        #[arg(long)]
        key_id: Option<String>,
        /// File holding the key's secret (not world-readable).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// rmq-hmac-v1 (default) or acl-v1.
        #[arg(long, default_value = "rmq-hmac-v1")]
        scheme: String,
        /// The broker or cluster the request is for: sent as the signed `RmqTarget` field,
        /// which guards configured with `targets` require.
        #[arg(long)]
        target: Option<String>,
        /// Send a ROCKETMQ binary header instead of JSON.
        #[arg(long)]
        binary: bool,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        #[command(subcommand)]
        op: rmq_agent::commands::admin::Operation,
    },
    /// Print the request codes the admin guard lets through unsigned (code, name, class):
    /// a role's default list, or the effective list of listeners in a configuration. Every
    /// other code needs a signature.
    GuardPolicy {
        /// The role whose default list to print.
        #[arg(long, value_parser = ["broker", "namesrv"], conflicts_with = "config")]
        role: Option<String>,
        /// A configuration whose guard listeners to print (each listener, or `--listener`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Only this listener (by name) of `--config`.
        #[arg(long, requires = "config")]
        listener: Option<String>,
    },
    /// Write a new random secret (32 bytes, hex) to FILE with mode 0600, for a guard or HA
    /// key. Refuses to overwrite an existing file.
    Keygen {
        /// Where to write it.
        file: PathBuf,
    },
    /// Ask a broker once for its runtime info and print a summary.
    Probe {
        /// The broker's remoting address.
        #[arg(long, default_value = rmq_agent::config::DEFAULT_BROKER)]
        broker_addr: String,
        /// Send the request with a ROCKETMQ binary header instead of JSON.
        #[arg(long)]
        binary: bool,
    },
}

/// Signing options of `rmq-agent admin`.
struct SignArgs {
    key_id: Option<String>,
    key_file: Option<PathBuf>,
    scheme: String,
    target: Option<String>,
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn admin(
    addr: String,
    sign: SignArgs,
    binary: bool,
    timeout: u64,
    op: rmq_agent::commands::admin::Operation,
) -> ExitCode {
    let SignArgs { key_id, key_file, scheme, target } = sign;
    let code = match op.request() {
        Ok((code, _, _)) => code,
        Err(e) => {
            eprintln!("rmq-agent admin: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let Some(scheme) = rmq_agent::guard::Scheme::parse(&scheme) else {
        eprintln!("rmq-agent admin: --scheme must be rmq-hmac-v1 or acl-v1");
        return ExitCode::from(EX_USAGE);
    };
    if let Some(t) = &target
        && !rmq_protocol::sign::hmac_v1::valid_target(t)
    {
        eprintln!("rmq-agent admin: --target {t:?}: 1-127 of A-Z a-z 0-9 . _ - :");
        return ExitCode::from(EX_USAGE);
    }
    let signer = match (key_id, key_file) {
        (Some(id), Some(file)) => match rmq_runtime::secret::read_file(&file) {
            Ok(secret) => Some(rmq_agent::commands::admin::Signer {
                scheme,
                key_id: id,
                key: rmq_protocol::sign::SigningKey::new(&secret),
                target,
            }),
            Err(e) => {
                eprintln!("rmq-agent admin: {e}");
                return ExitCode::from(EX_USAGE);
            }
        },
        (None, None) if target.is_some() => {
            eprintln!("rmq-agent admin: --target is signed, so it needs --key-id and --key-file");
            return ExitCode::from(EX_USAGE);
        }
        (None, None) => None,
        _ => {
            eprintln!("rmq-agent admin: --key-id and --key-file go together");
            return ExitCode::from(EX_USAGE);
        }
    };
    let mut cfg = ClientConfig::new(addr);
    if binary {
        cfg.serialize_type = SerializeType::ROCKETMQ;
    }
    let client = Client::new(cfg);
    let result = runtime().map_err(anyhow::Error::from).and_then(|rt| {
        rt.block_on(rmq_agent::commands::admin::run(
            &client,
            &op,
            signer.as_ref(),
            std::time::Duration::from_secs(timeout),
        ))
        .map_err(anyhow::Error::from)
    });
    match result {
        Ok(resp) => {
            println!("ok: {code} answered SUCCESS");
            if let Some(r) = resp.header.remark.filter(|r| !r.is_empty()) {
                println!("remark: {r}");
            }
            if !resp.body.is_empty() {
                println!("{}", String::from_utf8_lossy(&resp.body));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rmq-agent admin: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One line of `guard-policy`: code, name, class (and where it comes from, for a listener).
fn policy_line(code: i32, source: Option<&str>) -> String {
    let rc = rmq_protocol::RequestCode(code);
    let name = rc.name().unwrap_or("(unknown code)");
    let class = rmq_protocol::policy::classify(rc).map_or("-", rmq_protocol::policy::CodeClass::as_str);
    match source {
        Some(s) => format!("{code:>7}  {name:<36}  {class:<15}  {s}"),
        None => format!("{code:>7}  {name:<36}  {class}"),
    }
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn guard_policy(role: Option<String>, config: Option<PathBuf>, listener: Option<String>) -> ExitCode {
    use rmq_protocol::policy::{Role, default_unsigned_codes};
    let Some(path) = config else {
        let roles = match role.as_deref() {
            Some(r) => Role::parse(r).into_iter().collect(),
            None => Role::ALL.to_vec(),
        };
        for r in roles {
            let codes = default_unsigned_codes(r);
            println!(
                "# role {}: {} codes unsigned by default; every other code needs a signature",
                r.as_str(),
                codes.len()
            );
            for c in codes {
                println!("{}", policy_line(c.get(), None));
            }
        }
        return ExitCode::SUCCESS;
    };
    let cfg = match std::fs::read_to_string(&path).map_err(|e| e.to_string()).and_then(|t| Config::parse(&t)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rmq-agent guard-policy: {}: {e}", path.display());
            return ExitCode::from(EX_USAGE);
        }
    };
    let listeners: Vec<_> =
        cfg.guard.listeners.iter().filter(|l| listener.as_ref().is_none_or(|n| &l.listener.name == n)).collect();
    if listeners.is_empty() {
        match listener {
            Some(n) => eprintln!("rmq-agent guard-policy: no guard listener named {n:?} in {}", path.display()),
            None => eprintln!("rmq-agent guard-policy: {} has no guard listeners", path.display()),
        }
        return ExitCode::from(EX_USAGE);
    }
    for l in listeners {
        let role = l.role.policy_role();
        let defaults = default_unsigned_codes(role);
        let policy = rmq_agent::guard::Policy::new(
            role,
            &l.allow_unsigned,
            &l.require_signed,
            l.schemes.clone(),
            std::collections::HashMap::new(),
            0,
        );
        let codes: Vec<i32> = policy.unsigned_codes().collect();
        let schemes: Vec<&str> = l.schemes.iter().map(|s| s.as_str()).collect();
        println!(
            "# listener {} ({}, role {}): {} codes unsigned; every other code needs a signature ({})",
            l.listener.name,
            l.listener.listen,
            role.as_str(),
            codes.len(),
            schemes.join(", ")
        );
        for c in codes {
            let source = if defaults.contains(&rmq_protocol::RequestCode(c)) { "default" } else { "allow_unsigned" };
            println!("{}", policy_line(c, Some(source)));
        }
        let removed: Vec<String> = l
            .require_signed
            .iter()
            .filter(|c| defaults.contains(&rmq_protocol::RequestCode(**c)))
            .map(i32::to_string)
            .collect();
        if !removed.is_empty() {
            println!("# signed although in the role's defaults (require_signed): {}", removed.join(", "));
        }
    }
    ExitCode::SUCCESS
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    let cli: Cli = match parse_args() {
        Ok(c) => c,
        Err(code) => return code,
    };
    match cli.command {
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EX_USAGE)
            }
        },
        Command::Keygen { file } => match rmq_runtime::secret::generate(&file) {
            Ok(()) => {
                println!(
                    "{}: new secret written (mode 0600); give the same file to every end that uses the key",
                    file.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rmq-agent keygen: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Admin { addr, key_id, key_file, scheme, target, binary, timeout, op } => {
            admin(addr, SignArgs { key_id, key_file, scheme, target }, binary, timeout, op)
        }
        Command::GuardPolicy { role, config, listener } => guard_policy(role, config, listener),
        Command::Probe { broker_addr, binary } => {
            let level = match std::env::var(LOG_ENV) {
                Ok(v) => match v.parse::<LogLevel>() {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("{LOG_ENV}: {e}");
                        return ExitCode::from(EX_USAGE);
                    }
                },
                Err(_) => LogLevel::warn(),
            };
            init_logging(rmq_runtime::config::LogFormat::Human, &level);
            let mut cfg = ClientConfig::new(broker_addr);
            if binary {
                cfg.serialize_type = SerializeType::ROCKETMQ;
            }
            match runtime()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(probe::probe(&Client::new(cfg))).map_err(anyhow::Error::from))
            {
                Ok(report) => {
                    for (k, v) in report.summary() {
                        println!("{k:<24}{v}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rmq-agent: {e:#}");
                    ExitCode::FAILURE
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
            init_logging(cfg.log.format, &cfg.log.level);
            if rustix::process::geteuid().is_root() {
                tracing::warn!("running as root; rmq-agent needs no privileges (see systemd/)");
            }
            // A reload reads the file again and applies the same options over it.
            let reloader = args.config.is_some().then(|| {
                let (tx, rx) = tokio::sync::mpsc::channel(1);
                let load = Box::new(move || args.load().map_err(|e| e.to_string()));
                (tx, rmq_agent::app::Reloader { requests: rx, load })
            });
            let result = runtime().map_err(anyhow::Error::from).and_then(|rt| {
                rt.block_on(async {
                    let reload = reloader.map(|(tx, r)| {
                        tokio::spawn(sighup_to(tx));
                        r
                    });
                    rmq_agent::app::run(cfg, shutdown_signal(), None, reload).await
                })
                .map_err(anyhow::Error::from)
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
