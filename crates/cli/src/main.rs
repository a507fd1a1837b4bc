//! The `pullwatch` command: argument parsing, configuration loading, wiring inputs to
//! the engine and the engine to the renderers, and exit codes.
#![forbid(unsafe_code)]

mod inputs;
mod scan;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use pullwatch_engine::config::Config;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "pullwatch",
    version,
    about = "Detects malicious-image execution (MITRE ATT&CK T1204.003) in container and cloud telemetry"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scans files, directories or stdin (`-`) and prints alerts.
    Scan(ScanArgs),
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Prints the effective configuration (built-in defaults plus the file, if any).
    Show {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct ScanArgs {
    /// YAML configuration file; built-in defaults apply to every key it leaves out.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Output format for alerts on stdout.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Exit with status 1 when any alert was raised (for CI pipelines).
    #[arg(long)]
    fail_on_alert: bool,
    /// Suppress the closing summary on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Exit with status 3 when any record was skipped, an input could not be read, or
    /// a record arrived too late to be correlated (the summary says which and where).
    #[arg(long)]
    strict: bool,
    /// Lines longer than this are skipped (counted and located) without being read
    /// whole into memory. Accepts K, M and G suffixes (binary: 16M = 16 MiB).
    #[arg(long, value_name = "SIZE", default_value = "16M", value_parser = parse_size)]
    max_line_bytes: u64,
    /// A compressed input is read only this far once decompressed (a decompression
    /// bomb stops here, as a located skip).
    #[arg(long, value_name = "SIZE", default_value = "4G", value_parser = parse_size)]
    max_decompressed_bytes: u64,
    /// Files or directories (read recursively); `-` or nothing reads stdin.
    paths: Vec<PathBuf>,
}

/// A byte count with an optional binary suffix: `1048576`, `64K`, `16M`, `4GiB`.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 1048576, 64K or 16M"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("{s:?} has an unknown unit (use K, M or G)")),
    };
    let v = n
        .checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))?;
    if v == 0 {
        return Err("a size must be positive".into());
    }
    Ok(v)
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        None => Ok(Config::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read config {}", p.display()))?;
            Ok(Config::from_yaml(&text, &p.display().to_string())?)
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Config {
            command: ConfigCommand::Show { config },
        } => match load_config(config.as_deref()) {
            Ok(c) => {
                print!("{}", c.to_yaml());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("pullwatch: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Scan(args) => {
            let cfg = match load_config(args.config.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("pullwatch: {e:#}");
                    return ExitCode::from(2);
                }
            };
            match scan::run(cfg, &args) {
                Ok(outcome) => {
                    if args.fail_on_alert && outcome.alerts > 0 {
                        ExitCode::from(1)
                    } else if args.strict && outcome.incomplete > 0 {
                        ExitCode::from(3)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(scan::ScanError::Usage(msg)) => {
                    eprintln!("pullwatch: {msg}");
                    ExitCode::from(2)
                }
                Err(scan::ScanError::Other(e)) => {
                    eprintln!("pullwatch: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
