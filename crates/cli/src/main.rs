//! The `pullwatch` command: argument parsing, configuration loading, wiring inputs to
//! the engine and the engine to the renderers, and exit codes.
#![forbid(unsafe_code)]

mod floor;
mod inputs;
mod scan;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use pullwatch_engine::config::Config;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// pullwatch allocates many small strings per record (the normalized events) and frees
/// them on another thread when decoding is parallel; mimalloc does both much faster
/// than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Writes a synthetic corpus of mixed container telemetry with a known number of
    /// true chains, for benchmarks and smoke tests (deterministic from the seed).
    Gen(GenArgs),
    /// The benchmark's parse floor: reads a file's lines and parses each into a small
    /// typed struct, nothing more.
    #[command(hide = true)]
    BenchFloor {
        /// Only split lines, do not parse them.
        #[arg(long)]
        lines_only: bool,
        path: PathBuf,
    },
}

#[derive(clap::Args)]
struct GenArgs {
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Records to write.
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    /// True chains (untrusted pull, create and start, suspicious process in the window).
    #[arg(long, default_value_t = 10)]
    chains: u64,
    /// Records per second of event time (how long a span the corpus covers).
    #[arg(long, default_value_t = 250)]
    rate: u64,
    /// Output file (stdout when absent).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Also write the true chains' images here, one per line.
    #[arg(long)]
    truth: Option<PathBuf>,
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

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Toggle {
    On,
    Off,
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
    /// Decoding threads (default: all cores). Alerts are the same for any number.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Skip records no loaded analytic can use before decoding them in full.
    #[arg(long, value_enum, default_value_t = Toggle::On)]
    prefilter: Toggle,
    /// Files or directories (read recursively); `-` or nothing reads stdin.
    paths: Vec<PathBuf>,
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

fn run_gen(a: &GenArgs) -> anyhow::Result<()> {
    let spec = pullwatch_corpus::GenSpec {
        seed: a.seed,
        records: a.records,
        chains: a.chains,
        rate: a.rate,
    };
    let truth = match &a.out {
        Some(p) => {
            let mut f = std::fs::File::create(p)
                .with_context(|| format!("cannot create {}", p.display()))?;
            pullwatch_corpus::generate(&spec, &mut f)?
        }
        None => pullwatch_corpus::generate(&spec, &mut std::io::stdout().lock())?,
    };
    if let Some(p) = &a.truth {
        let text: String = truth
            .chain_images
            .iter()
            .map(|i| format!("{i}\n"))
            .collect();
        std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?;
    }
    eprintln!(
        "gen: {} records, {} bytes, {} chains, {} decoys",
        truth.records,
        truth.bytes,
        truth.chain_images.len(),
        truth.decoys
    );
    Ok(())
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
        Command::Gen(args) => match run_gen(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pullwatch: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::BenchFloor { lines_only, path } => match floor::run(&path, !lines_only) {
            Ok(c) => {
                eprintln!(
                    "bench-floor: {} lines, {} bytes, {} parsed, {} failed, {} fields",
                    c.lines, c.bytes, c.parsed, c.failed, c.fields
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("pullwatch: {}: {e}", path.display());
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
