//! The command line's definition: what clap parses, and what `--help`,
//! the shell completions and the man page say.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use drainstorm::sim::Verdict;

/// What `--set` does, as `--help` says it.
pub const SET_HELP: &str = "Override a profile key: a dotted path with list indices and a value, parsed and checked like the file (`sites[1].backends[0].count=12`, `clients[0].workload.rate=1200`, `router.dns_ttl=30s`); repeatable, applied in order";

/// What `--scale` does, as `--help` says it.
pub const SCALE_HELP: &str = "Run the profile at K times its size: every extensive quantity (backends, load, client instances, load-balancer rates and backlogs, the timeline's rates) times K, every intensive one (service times, queues per backend, timeouts, policies) unchanged; counts that are not whole are rounded up, and said so. Sets the profile's `scale` key (1: as written)";

/// The options that change a profile before it is used: `--set` and
/// `--scale`.
#[derive(clap::Args, Clone, Default)]
pub struct Changes {
    #[arg(long = "set", value_name = "KEY=VALUE", help = SET_HELP)]
    pub sets: Vec<String>,
    #[arg(long, value_name = "K", help = SCALE_HELP)]
    pub scale: Option<String>,
}

/// How a profile is named on the command line.
pub const PROFILE_HELP: &str = "A profile: a path (anything with a `/` or ending in `.toml`) or the name of a bundled profile (`drainstorm profiles` lists them)";

/// The exit codes of a command with `--fail-on`, as `--help` lists them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    a run failed, or its results could not be written
  2    bad input: a profile, a flag, or work above the limits without --yes
  3    --fail-on: a combination was judged that bad or worse (run), or the
       profile as written is below an answer (plan headroom, plan drain)
  130  interrupted (Ctrl-C)";

/// The exit codes of a command without `--fail-on`.
pub const EXIT_CODES_NO_GATE: &str = "\
Exit codes:
  0    success
  1    a run failed, or its results could not be written
  2    bad input: a profile, a flag, or work above the limits without --yes
  130  interrupted (Ctrl-C)";

/// Replays a datacenter drain in a deterministic simulation and compares
/// how each load balancer and client retry policy absorbs it.
#[derive(Parser)]
#[command(name = "drainstorm", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Run a profile's comparison (default: the bundled cheyenne-2026).
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Run a profile over a grid of values of one or more keys (every
    /// balancer × policy × seed at each point) and draw the verdicts:
    /// sweep.csv, map.html (the metastability map) and a table.
    #[command(after_help = EXIT_CODES_NO_GATE)]
    Sweep(SweepArgs),
    /// Merge the partial results of a sweep run in shards (`sweep --shard
    /// K/N`) into the files the whole sweep writes, byte for byte.
    #[command(after_help = EXIT_CODES_NO_GATE)]
    Merge(MergeArgs),
    /// Turn a drain into a decision: how much capacity it needs, how
    /// slowly to drain, and whether the model is large enough.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Say why each combination went as it did: which timeline action (or
    /// load rise) triggered it, how close to its limits the system ran
    /// when it came, and which effect sustained it after the trigger's end
    /// (retries, abandoned work, load-balancer backlogs, health-check
    /// ejections, DNS caches, client budgets and breakers) — from runs
    /// with the same seeds and one thing changed. Writes explain.json,
    /// explain.csv and report.html (with a "Why" section).
    #[command(after_help = EXIT_CODES_NO_GATE)]
    Explain(ExplainArgs),
    /// Check profiles: the first error of each, located, and their warnings.
    #[command(after_help = EXIT_CODES_NO_GATE)]
    Validate {
        #[arg(required = true, help = PROFILE_HELP)]
        profiles: Vec<String>,
        /// Accept a profile whose estimated work is above the limits.
        #[arg(short, long)]
        yes: bool,
        /// Treat warnings (an action after the run's end, a restore of a
        /// site never drained, no site in rotation) as errors.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        changes: Changes,
    },
    /// List the bundled profiles.
    Profiles,
    /// Print a profile with every default filled in.
    Show {
        #[arg(help = PROFILE_HELP)]
        profile: String,
        #[command(flatten)]
        changes: Changes,
    },
    /// Print a shell completion script (`drainstorm completions bash >
    /// /etc/bash_completion.d/drainstorm`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `drainstorm man | man -l -`; `drainstorm
    /// man plan-headroom` prints a subcommand's; `--dir DIR` writes every
    /// page (drainstorm.1, drainstorm-run.1, …) into DIR/man1 for `man -M DIR`.
    Man {
        /// A subcommand's page (`run`, `sweep`, `plan-headroom`, …).
        page: Option<String>,
        /// Write every page into this folder instead.
        #[arg(long, value_name = "DIR", conflicts_with = "page")]
        dir: Option<PathBuf>,
    },
}

/// `drainstorm run`'s options.
#[derive(clap::Args, Default)]
pub struct RunArgs {
    #[arg(help = PROFILE_HELP)]
    pub profile: Option<String>,
    #[command(flatten)]
    pub changes: Changes,
    /// Seed of the first run (overrides the profile's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Repeat each combination with this many seeds and report the spread.
    #[arg(short = 'n', long)]
    pub seeds: Option<u32>,
    /// Worker threads: a number, or 0 or `auto` for one per core (the
    /// default).
    #[arg(short = 'j', long, value_parser = threads)]
    pub threads: Option<usize>,
    /// Output folder (default: drainstorm-out/<profile name>/).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Run only some combinations, `balancer=NAME` or `policy=NAME`;
    /// repeat it or separate with commas (`balancer=least-conn,p2c`).
    #[arg(long)]
    pub only: Vec<String>,
    /// Print the summary as JSON on standard output instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Print every column of the table, however wide the terminal.
    #[arg(short, long)]
    pub wide: bool,
    /// Exit with code 3 if any combination is judged this bad or worse
    /// (degraded < collapsed < metastable; an inconclusive run counts as
    /// degraded): a gate for a CI pipeline.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
    /// No progress bar, no work estimate and no list of written files.
    #[arg(short, long)]
    pub quiet: bool,
    /// Run even when the estimated work is above the limits (10^10
    /// requests, or 4 GiB of requests in flight and client state).
    #[arg(short, long)]
    pub yes: bool,
    /// Treat warnings (an action after the run's end, a restore of a site
    /// never drained, no site in rotation) as errors.
    #[arg(long)]
    pub strict: bool,
}

/// `--threads`: a count, `0` or `auto` (one per core, as `None`).
fn threads(text: &str) -> Result<usize, String> {
    if text == "auto" {
        return Ok(0);
    }
    text.parse::<usize>()
        .map_err(|_| format!("`{text}`: a number of threads, or `auto`"))
}

/// The verdicts `--fail-on` gates on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Degraded, collapsed, metastable or inconclusive.
    Degraded,
    /// Collapsed or metastable.
    Collapsed,
    /// Metastable.
    Metastable,
}

impl FailOn {
    /// Whether `verdict` is this bad or worse.
    pub fn matches(self, verdict: Verdict) -> bool {
        let rank = |v: Verdict| match v {
            Verdict::Absorbed => 0,
            Verdict::Degraded | Verdict::Inconclusive => 1,
            Verdict::Collapsed => 2,
            Verdict::Metastable => 3,
        };
        let floor = match self {
            Self::Degraded => 1,
            Self::Collapsed => 2,
            Self::Metastable => 3,
        };
        rank(verdict) >= floor
    }
}

/// `drainstorm explain`'s options.
#[derive(clap::Args, Default)]
pub struct ExplainArgs {
    #[arg(help = PROFILE_HELP)]
    pub profile: Option<String>,
    #[command(flatten)]
    pub changes: Changes,
    /// Seeds per combination and counterfactual (default: the profile's
    /// `compare.seeds`).
    #[arg(short = 'n', long)]
    pub seeds: Option<u32>,
    /// Explain only some combinations, `balancer=NAME` or `policy=NAME`
    /// (several: `balancer=least-conn,p2c`).
    #[arg(long)]
    pub only: Vec<String>,
    /// Output folder (default: drainstorm-out/<profile name>-explain/).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Worker threads: a number, or 0 or `auto` for one per core.
    #[arg(short = 'j', long, value_parser = threads)]
    pub threads: Option<usize>,
    /// Print explain.json on standard output instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Run even when the estimated work is above the limits.
    #[arg(short, long)]
    pub yes: bool,
    /// Treat the profile's warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// No progress bar and no timing.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `drainstorm sweep`'s options.
#[derive(clap::Args)]
pub struct SweepArgs {
    #[arg(help = PROFILE_HELP)]
    pub profile: String,
    /// A key and its values: `KEY=LO..HI:STEPS` (evenly spaced, both ends
    /// included; numbers or durations such as `10s..60s:6`) or
    /// `KEY=a,b,c`. Repeat it for a grid (the metastability map draws two).
    #[arg(long, required = true, value_name = "KEY=VALUES")]
    pub vary: Vec<String>,
    /// Seeds per point and combination, the same at every point (default:
    /// the profile's `compare.seeds`).
    #[arg(short = 'n', long)]
    pub seeds: Option<u32>,
    #[command(flatten)]
    pub changes: Changes,
    /// Sweep only some combinations, `balancer=NAME` or `policy=NAME`
    /// (several: `balancer=least-conn,p2c`).
    #[arg(long)]
    pub only: Vec<String>,
    /// Output folder (default: drainstorm-out/<profile name>-sweep/).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Run only the K-th of N deterministic slices of the runs (every N-th
    /// run from run K − 1) and write part-K-of-N.jsonl; `drainstorm merge`
    /// joins the parts. For a Slurm job array or a Kubernetes Indexed Job.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Continue an interrupted sweep: run only what its journal lacks.
    #[arg(long)]
    pub resume: bool,
    /// Worker threads: a number, or 0 or `auto` for one per core.
    #[arg(short = 'j', long, value_parser = threads)]
    pub threads: Option<usize>,
    /// Run even when the sweep plans more than 10^6 runs or its estimated
    /// work is above the limits (10^10 requests over all its runs, or 4 GiB
    /// of requests in flight and client state).
    #[arg(short, long)]
    pub yes: bool,
    /// Treat the profile's warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// No progress bar and no timing.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `drainstorm merge`'s options.
#[derive(clap::Args)]
pub struct MergeArgs {
    /// The partial results, one per shard (`part-K-of-N.jsonl`).
    #[arg(required = true)]
    pub parts: Vec<PathBuf>,
    /// Output folder (default: the first part's folder).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Run this many rows again, chosen at random, and refuse the merge if
    /// any differs from its part byte for byte (runs are deterministic);
    /// 0 trusts the parts' digests alone.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub verify: usize,
    /// Replace a `sweep.csv` or `map.html` in the output folder that
    /// differs from the merge's (without it the merge refuses).
    #[arg(long)]
    pub force: bool,
    /// Worker threads for --verify: a number, or 0 or `auto` for one per
    /// core.
    #[arg(short = 'j', long, value_parser = threads)]
    pub threads: Option<usize>,
    /// No messages but the table and errors.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `drainstorm plan`'s questions.
#[derive(Subcommand)]
pub enum PlanCommand {
    /// The smallest capacity factor of the sites that stay in rotation at
    /// which the drain is absorbed with the target probability, for every
    /// balancer × policy: searched by bisection with common random
    /// numbers, started from capacity arithmetic, each point decided on as
    /// few seeds as it takes.
    ///
    /// The factor multiplies, for every site no `drain` action names, each
    /// backend group's count (rounded up to whole backends) and the load
    /// balancer's `max_new_per_sec`, `scaling.max_per_sec`,
    /// `max_in_flight` and `set-accept-rate` actions (see --capacity).
    /// Nothing else changes; 1 is the profile as written.
    #[command(after_help = EXIT_CODES)]
    Headroom(HeadroomArgs),
    /// The shortest linear ramp for the timeline's drains at which the
    /// drain is absorbed with the target probability, for every balancer ×
    /// policy: the same search as `headroom`, over the `ramp` of every
    /// `drain` action (minutes; 0 is abrupt).
    #[command(after_help = EXIT_CODES)]
    Drain(DrainArgs),
    /// Whether the model is large enough: every balancer × policy on a
    /// ladder of sizes (`--scale` × each of --sizes, the same seeds at
    /// every rung, every run to its end), and the smallest size from
    /// which the verdict no longer changes and the recovery time moves by
    /// less than --tolerance a rung.
    #[command(after_help = EXIT_CODES_NO_GATE)]
    Size(SizeArgs),
}

/// `drainstorm plan size`'s options.
#[derive(clap::Args)]
pub struct SizeArgs {
    #[arg(help = PROFILE_HELP)]
    pub profile: Option<String>,
    #[command(flatten)]
    pub changes: Changes,
    /// The ladder: factors of the profile's scale, increasing, separated
    /// by commas.
    #[arg(long, value_delimiter = ',', default_value = "1,3,10,30")]
    pub sizes: Vec<f64>,
    /// Seeds per size (the same at every size).
    #[arg(short = 'n', long, default_value_t = 3)]
    pub seeds: u32,
    /// The largest move of the recovery time from one size to the next
    /// that still counts as settled (a fraction; moves within one
    /// recorder interval always do).
    #[arg(long, default_value_t = 0.1)]
    pub tolerance: f64,
    /// Plan only some combinations, `balancer=NAME` or `policy=NAME`
    /// (several: `balancer=least-conn,p2c`).
    #[arg(long)]
    pub only: Vec<String>,
    /// Worker threads: a number, or 0 or `auto` for one per core.
    #[arg(short = 'j', long, value_parser = threads)]
    pub threads: Option<usize>,
    /// Output folder (default: drainstorm-out/<profile name>-size/).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Print the plan as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Run even when the estimated work is above the limits.
    #[arg(short, long)]
    pub yes: bool,
    /// Treat the profile's warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// No progress bar and no timing.
    #[arg(short, long)]
    pub quiet: bool,
}

/// What a capacity factor scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CapacityArg {
    /// Backends and load-balancer accept rates together.
    Both,
    /// Backend counts only.
    Backends,
    /// Load-balancer accept rates and in-flight limits only.
    Lb,
}

/// The options `plan headroom` and `plan drain` share.
#[derive(clap::Args)]
pub struct PlanArgs {
    #[arg(help = PROFILE_HELP)]
    pub profile: Option<String>,
    /// What a run must do to count: `absorbed` (no collapse, at most the
    /// profile's `degraded_loss` lost), `degraded` (no collapse), or
    /// `loss=X%` (at most X % of requests lost).
    #[arg(long, default_value = "absorbed", value_parser = target)]
    pub target: drainstorm::plan::Target,
    /// The P(success) the answer claims, in (0, 1).
    #[arg(long, default_value_t = 0.95)]
    pub probability: f64,
    /// The confidence of the claim, in (0, 1): the exact one-sided lower
    /// bound of P(success) on fresh seeds is at least --probability.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Seeds the search judges each value on, the same at every value
    /// (default: the fewest whose every success supports the claim: 59 at
    /// the defaults).
    #[arg(short = 'n', long)]
    pub seeds: Option<u32>,
    /// Seeds of each block of fresh seeds, never used by the search, that
    /// the answer is checked on (default: as many as --seeds).
    #[arg(long)]
    pub fresh_seeds: Option<u32>,
    /// Seeds at each point of the local curve around the answer, the
    /// search's first (default: 20, or --seeds if fewer; 0: no curve).
    #[arg(long)]
    pub curve_seeds: Option<u32>,
    /// Exit with code 3 if the profile as written is below a combination's
    /// answer (less capacity than it needs, or a faster drain): a gate for
    /// a pipeline. The files are written first.
    #[arg(long)]
    pub fail_on: bool,
    /// Stop when the unsafe and the safe value are within this fraction
    /// of the safe one (default: 0.02 for headroom, 0.05 for drain).
    #[arg(long)]
    pub tolerance: Option<f64>,
    /// Run every run that does not collapse to its end, instead of
    /// stopping once it has recovered after the last timeline action.
    #[arg(long)]
    pub full_runs: bool,
    #[command(flatten)]
    pub changes: Changes,
    /// Plan only some combinations, `balancer=NAME` or `policy=NAME`
    /// (several: `balancer=least-conn,p2c`).
    #[arg(long)]
    pub only: Vec<String>,
    /// Worker threads: a number, or 0 or `auto` for one per core.
    #[arg(short = 'j', long, value_parser = threads)]
    pub threads: Option<usize>,
    /// Output folder (default: drainstorm-out/<profile name>-headroom/ or
    /// -drain/).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Print the plan as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Treat the profile's warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// No progress bar and no timing.
    #[arg(short, long)]
    pub quiet: bool,
    /// Run even when the estimated work of one comparison (one seed) is
    /// above the limits (10^10 requests, or 4 GiB of requests in flight
    /// and client state); a plan runs it hundreds of times.
    #[arg(short, long)]
    pub yes: bool,
}

/// `drainstorm plan headroom`'s options.
#[derive(clap::Args)]
pub struct HeadroomArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// What the factor scales.
    #[arg(long, value_enum, default_value_t = CapacityArg::Both)]
    pub capacity: CapacityArg,
    /// The smallest factor searched.
    #[arg(long, default_value_t = 0.1)]
    pub min_factor: f64,
    /// The largest factor searched.
    #[arg(long, default_value_t = 8.0)]
    pub max_factor: f64,
}

/// `drainstorm plan drain`'s options.
#[derive(clap::Args)]
pub struct DrainArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// The shortest ramp searched.
    #[arg(long, default_value = "15s", value_parser = duration)]
    pub min_ramp: drainstorm::retry::SimDuration,
    /// The longest ramp searched.
    #[arg(long, default_value = "4h", value_parser = duration)]
    pub max_ramp: drainstorm::retry::SimDuration,
}

/// `--target`.
fn target(text: &str) -> Result<drainstorm::plan::Target, String> {
    text.parse()
}

/// A duration flag, as a profile writes durations.
fn duration(text: &str) -> Result<drainstorm::retry::SimDuration, String> {
    drainstorm::retry::parse_duration(text)
}
