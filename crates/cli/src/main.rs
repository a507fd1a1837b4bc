//! The `pullwatch` command: argument parsing, configuration loading, wiring inputs to
//! the engine and the engine to the renderers, and exit codes.
#![forbid(unsafe_code)]

mod baseline;
mod floor;
mod formats;
mod progress;
mod run;
mod scan;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use pullwatch_engine::config::Config;
use pullwatch_model::time::Dur;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// pullwatch allocates many small strings per record (the normalized events) and frees
/// them on another thread when decoding is parallel; mimalloc does both much faster
/// than the system allocator.
#[cfg(feature = "mimalloc")]
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
    /// Runs as a service: follows files, takes pushes over HTTP, writes alerts as they
    /// are raised, checkpoints so that a restart loses no chain in flight.
    Run(Box<run::RunArgs>),
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Lists the input formats this build recognizes, with an example record of each.
    Formats,
    /// Prints a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Prints the manual page (roff), e.g. `pullwatch man | man -l -`.
    Man {
        /// Writes a page for pullwatch and one for each subcommand into DIR instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// The baseline of image digests and tags seen before: learn, show, diff.
    Baseline {
        #[command(subcommand)]
        command: BaselineCommand,
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

#[derive(Subcommand)]
enum BaselineCommand {
    /// Records every image digest and tag resolution in the inputs (creates the
    /// baseline, or extends it).
    Learn {
        #[arg(long, value_name = "FILE")]
        baseline: PathBuf,
        /// Files or directories (read recursively); `-` or nothing reads stdin.
        paths: Vec<PathBuf>,
    },
    /// Prints everything the baseline holds.
    Show {
        #[arg(long, value_name = "FILE")]
        baseline: PathBuf,
    },
    /// Prints what changed from one baseline (OLD) to another (NEW), for review.
    Diff {
        #[arg(long, value_name = "OLD")]
        baseline: PathBuf,
        #[arg(long, value_name = "NEW")]
        against: PathBuf,
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
    /// Deliver each record as a log shipper does (the records and the truth are the
    /// same whatever the wrapping).
    #[arg(long, value_enum, default_value_t = GenWrap::None)]
    wrap: GenWrap,
    /// Which records make up the noise: `wide` adds Cilium Hubble flows and CloudTrail
    /// management events to the container sensors' records.
    #[arg(long, value_enum, default_value_t = GenMix::Container)]
    mix: GenMix,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum GenWrap {
    /// Records as the sensors write them.
    None,
    /// Vector: `source_type`, `host` and `timestamp` appended to each record.
    Vector,
    /// Filebeat (ECS): each record as the string `event.original`.
    Filebeat,
    /// Fluent Bit: each record as the string `log`, with Kubernetes metadata.
    FluentBit,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum GenMix {
    /// The container sensors' records (the benchmark's corpus).
    Container,
    /// Also Hubble flows and CloudTrail records.
    Wide,
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
    /// One aligned block per alert, for people at a terminal.
    Text,
    /// One JSON object per alert per line: pullwatch's own alert contract.
    Json,
    /// One OCSF 1.8.0 Detection Finding (class 2004) per alert per line.
    Ocsf,
    /// A self-contained HTML investigation report, written when the scan ends.
    Html,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
    Auto,
    Always,
    Never,
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
    /// Output format for alerts.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Writes alerts to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// When to colour the text format.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    color: ColorChoice,
    /// Exit with status 1 when any alert was raised (for CI pipelines).
    #[arg(long)]
    fail_on_alert: bool,
    /// Suppress the closing summary and the progress bar on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Baseline of image digests and tags seen before: a digest it lacks makes a chain
    /// start even in an allowlisted image, a tag moved to a new digest raises severity.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Records what the scan saw in the baseline (created when missing).
    #[arg(long, requires = "baseline")]
    update_baseline: bool,
    /// On a fresh baseline, learn for this long from the first event (`7d`, `12h`)
    /// before anything counts as newly seen.
    #[arg(long, value_name = "DURATION", requires = "baseline", value_parser = parse_duration)]
    learning_period: Option<Dur>,
    /// Decoding threads (default: all cores). Alerts are the same for any number.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Skip records no loaded analytic can use before decoding them in full.
    #[arg(long, value_enum, default_value_t = Toggle::On)]
    prefilter: Toggle,
    /// Exit with status 3 when any record was skipped, an input could not be read, or
    /// a record arrived too late to be correlated (the summary says which and where).
    /// Every record is then decoded in full (the prefilter is off), so that each
    /// malformed one is reported; without it, a record whose content no analytic can
    /// use is counted as prefiltered and not validated.
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

pub(crate) fn parse_duration(s: &str) -> Result<Dur, String> {
    match Dur::parse(s) {
        Some(d) if d.0 > 0 => Ok(d),
        _ => Err(format!("{s:?} is not a duration (e.g. 7d, 12h, 90m)")),
    }
}

/// A byte count with an optional binary suffix: `1048576`, `64K`, `16M`, `4GiB`.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
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

pub(crate) fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
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
    let shape = pullwatch_corpus::Shape {
        wrap: match a.wrap {
            GenWrap::None => pullwatch_corpus::Wrap::None,
            GenWrap::Vector => pullwatch_corpus::Wrap::Vector,
            GenWrap::Filebeat => pullwatch_corpus::Wrap::Filebeat,
            GenWrap::FluentBit => pullwatch_corpus::Wrap::FluentBit,
        },
        mix: match a.mix {
            GenMix::Container => pullwatch_corpus::Mix::Container,
            GenMix::Wide => pullwatch_corpus::Mix::Wide,
        },
    };
    let truth = match &a.out {
        Some(p) => {
            let mut f = std::fs::File::create(p)
                .with_context(|| format!("cannot create {}", p.display()))?;
            pullwatch_corpus::generate_shaped(&spec, shape, &mut f)?
        }
        None => pullwatch_corpus::generate_shaped(&spec, shape, &mut std::io::stdout().lock())?,
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

/// Transparent huge pages are off for this process. On kernels that enable them for
/// every mapping, the allocator's arenas were backed by 2 MiB pages, each faulted in
/// and zeroed whole: pullwatch's heap is small and churns, and huge pages nearly
/// doubled its peak RSS (43 → 26 MB on a 300k-record scan) and gained no speed.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    {
        // Not fatal: an older kernel without the setting keeps its default.
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
}

/// Status 2 for what the user can fix (a path, a baseline), 1 for the rest.
fn pipeline_failed(e: &pullwatch_pipeline::PipelineError) -> ExitCode {
    eprintln!("pullwatch: {e}");
    ExitCode::from(if e.is_usage() { 2 } else { 1 })
}

fn main() -> ExitCode {
    no_huge_pages();
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
        Command::Formats => {
            print!("{}", formats::render());
            ExitCode::SUCCESS
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "pullwatch", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man { dir } => {
            let done = match dir {
                Some(d) => clap_mangen::generate_to(Cli::command(), &d),
                None => {
                    let mut out = Vec::new();
                    clap_mangen::Man::new(Cli::command())
                        .render(&mut out)
                        .and_then(|()| {
                            use std::io::Write;
                            std::io::stdout().write_all(&out)
                        })
                }
            };
            match done {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pullwatch: {e}");
                    ExitCode::from(1)
                }
            }
        }
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
        Command::Baseline { command } => {
            let done = match &command {
                BaselineCommand::Learn { baseline, paths } => baseline::learn(baseline, paths),
                BaselineCommand::Show { baseline } => baseline::show(baseline),
                BaselineCommand::Diff { baseline, against } => {
                    baseline::diff_files(baseline, against)
                }
            };
            match done {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => pipeline_failed(&e),
            }
        }
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
        Command::Run(args) => run::main(&args),
        Command::Scan(args) => {
            let cfg = match load_config(args.config.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("pullwatch: {e:#}");
                    return ExitCode::from(2);
                }
            };
            {
                use std::io::IsTerminal;
                if let Some(hint) = pullwatch_pipeline::inputs::stdin_hint(
                    &args.paths,
                    std::io::stdin().is_terminal(),
                ) {
                    eprintln!("{hint}");
                }
            }
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
                Err(e) => pipeline_failed(&e),
            }
        }
    }
}
