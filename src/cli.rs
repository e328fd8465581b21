//! Command-line syntax. clap parses; each command's `run` validates its
//! arguments before it touches any file.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::cmd;

const AFTER_HELP: &str = "\
Examples:
  pki init                                  # root CA (CN rootCA, RSA-2048, 10 years) in ./pki
  pki issue myuser                          # client certificate with CN=myuser, 365 days
  pki export marathon --user myuser         # the Marathon env block, as JSON, on stdout
  pki export marathon --merge app.json      # app.json with its env updated
  pki deploy marathon --url http://marathon.mesos:8080   # set the env of the running app
  pki export k8s --user myuser | kubectl apply -f -      # Kubernetes Secrets and ConfigMap
  pki export asp --user alice bob           # the ASP controller's ASP_EPHEMERAL_STORE
  pki deploy asp --url http://marathon.mesos:8080 --user alice bob  # ... in the running app

Exit codes:
  0  success, including \"nothing to do\"
  1  failure while working (I/O, crypto, network, a failed --on-change hook)
  2  usage error or invalid input (a store not private to you, a bad index entry too); nothing was changed
  3  attention: check found something due or expired or a stale CRL, verify (or audit verify) found a problem
  4  refused: another pki holds the store lock, or the command would overwrite without --force

Environment:
  PKI_DIR   the store directory (as --dir)
  PKI_PASSPHRASE_FILE  the passphrase file of an encrypted CA key (as --passphrase-file)
  PKI_NOW   pretend the time is this RFC 3339 instant, for what-if questions: honoured by
            read-only commands (list, show, check, verify, audit) and --dry-run; commands that
            write refuse it (PKI_TEST_ALLOW_NOW=1 lifts that, for the test suite only)
  NO_COLOR  respected; pki prints no colour anyway
  DCOS_ACS_TOKEN  token for `pki deploy marathon|asp` when --token-file is not given";

/// The heading the options every command takes are listed under, after the command's own.
pub const GLOBAL: &str = "Global options";

/// A certificate authority for the ASP ephemeral store (Riak KV on Marathon and Kubernetes).
#[derive(Debug, Parser)]
#[command(name = "pki", version, about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    /// The store directory.
    #[arg(
        long,
        global = true,
        env = "PKI_DIR",
        default_value = "pki",
        value_name = "DIR",
        help_heading = GLOBAL
    )]
    pub dir: PathBuf,

    /// Machine output on stdout: exactly one versioned JSON document.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,

    /// Print only warnings and errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,

    /// Also say on stderr what was read and written and why, with timings.
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub verbose: bool,

    /// Accepted before the command too (`pki --wait rotate`), for scripts
    /// written so; documented on the commands that take the lock.
    #[arg(long, hide = true)]
    pub wait: bool,

    /// Accepted before the command too, for scripts written so; documented
    /// on the commands that may need the CA key.
    #[arg(long, hide = true, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// `--wait`, on every command that takes the store lock (and only there).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Wait {
    /// Wait for another pki holding the store lock (saying once for whom) instead of exiting with 4.
    #[arg(long)]
    pub wait: bool,
}

/// `--passphrase-file`, on every command that may need the CA key (and only there).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct PassphraseFile {
    /// File whose first line is the passphrase of an encrypted CA key.
    ///
    /// Read only when the CA key is encrypted (`init --encrypt`). Without it
    /// pki asks on the terminal; never give the passphrase itself as an argument.
    #[arg(long, env = "PKI_PASSPHRASE_FILE", value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the root CA in the store.
    Init(cmd::init::Args),
    /// Issue client certificates (CN = USER), several users in one call.
    Issue(cmd::issue::Args),
    /// Every issued certificate: user, serial, not-after, days left, status.
    List(cmd::list::Args),
    /// Inspect a user's certificate, the CA (--ca) or any certificate file (--file).
    Show(cmd::show::Args),
    /// Emit the store's material for an orchestrator or other tools.
    #[command(subcommand)]
    Export(cmd::export::Target),
    /// Push the store's material to a running orchestrator (Marathon's REST API).
    #[command(subcommand)]
    Deploy(cmd::deploy::Target),
    /// Re-issue what is due (users, and with --ca the root CA); safe to run from cron.
    Rotate(cmd::rotate::Args),
    /// Monitoring: exit 0 when nothing is due, 3 when something is due or expired.
    Check(cmd::check::Args),
    /// Check the CA and certificates: chain, CN, validity, EKU, key match, file modes.
    Verify(cmd::verify::Args),
    /// Print the script that makes a shell complete pki commands, flags and user names.
    Completions(cmd::completions::Args),
    /// Write the man pages (or print the top one).
    Man(cmd::man::Args),
    /// Adopt an existing root CA (e.g. made with openssl), or an existing user certificate.
    Import(cmd::import::Args),
    /// Sign a certificate signing request whose key never leaves its owner.
    Sign(cmd::sign::Args),
    /// Revoke a user's certificate (or any by serial); publish a CRL afterwards.
    Revoke(cmd::revoke::Args),
    /// Make a CRL signed by the CA, for Riak's check_crl.
    Crl(cmd::crl::Args),
    /// Store-wide settings (crl-url).
    #[command(subcommand)]
    Config(cmd::config::Action),
    /// The store's hash-chained audit log: verify the chain, or show the entries.
    #[command(subcommand)]
    Audit(cmd::audit::Action),
    /// Replace the root CA in stages, without an outage (trust, switch, done).
    #[command(subcommand)]
    Rollover(cmd::rollover::Action),
    /// Log in to the running store (Riak's port 8087) as each user would: TLS, auth, ping.
    Probe(cmd::probe::Args),
}

impl Command {
    /// The command's `--wait` and `--passphrase-file`, where it takes them.
    pub fn lock_and_key(&self) -> (Option<&Wait>, Option<&PassphraseFile>) {
        use cmd::{config::Action, deploy, export};
        match self {
            Command::Init(a) => (Some(&a.lock), Some(&a.pass)),
            Command::Issue(a) => (Some(&a.lock), Some(&a.pass)),
            Command::Import(a) => (Some(&a.lock), Some(&a.pass)),
            Command::Sign(a) => (Some(&a.lock), Some(&a.pass)),
            Command::Rotate(a) => (Some(&a.lock), Some(&a.pass)),
            Command::Crl(a) => (Some(&a.lock), Some(&a.pass)),
            Command::Revoke(a) => (Some(&a.lock), None),
            Command::Config(Action::Set { lock, .. } | Action::Unset { lock, .. }) => {
                (Some(lock), None)
            }
            Command::Export(export::Target::Marathon(a)) => (Some(&a.lock), Some(&a.pass)),
            Command::Export(export::Target::K8s(a)) => (Some(&a.lock), Some(&a.pass)),
            Command::Export(export::Target::Files(a)) => (Some(&a.lock), None),
            Command::Export(export::Target::Asp(a)) => (Some(&a.lock), Some(&a.pass)),
            Command::Deploy(deploy::Target::Marathon(deploy::MarathonArgs { conn, .. }))
            | Command::Deploy(deploy::Target::Asp(deploy::AspArgs { conn, .. })) => {
                (Some(&conn.lock), Some(&conn.pass))
            }
            Command::Rollover(cmd::rollover::Action::Start(a)) => (Some(&a.lock), Some(&a.pass)),
            Command::Rollover(cmd::rollover::Action::Advance(a)) => (Some(&a.lock), Some(&a.pass)),
            Command::Rollover(cmd::rollover::Action::Abort { lock }) => (Some(lock), None),
            // Reads the index and the users' keys; takes no lock, needs no CA key.
            Command::Probe(_) => (None, None),
            _ => (None, None),
        }
    }
}

/// Completion of user names (`pki show a<TAB>`): the users with a current
/// certificate in the store the line being completed names (`--dir`, else
/// `PKI_DIR`, else `./pki`). Read from the index alone, without the lock;
/// nothing is offered when there is no store.
pub fn user_names() -> clap_complete::engine::ArgValueCandidates {
    clap_complete::engine::ArgValueCandidates::new(|| {
        let words: Vec<String> = std::env::args().collect();
        let dir = words
            .windows(2)
            .rev()
            .find_map(|w| (w[0] == "--dir").then(|| w[1].clone()))
            .or_else(|| {
                words
                    .iter()
                    .rev()
                    .find_map(|w| w.strip_prefix("--dir=").map(str::to_string))
            })
            .or_else(|| std::env::var("PKI_DIR").ok())
            .unwrap_or_else(|| "pki".into());
        let Ok(index) = crate::store::Store::new(dir).read_index() else {
            return Vec::new();
        };
        let mut users: Vec<String> = index.active_all().map(|c| c.user.clone()).collect();
        users.sort();
        users.dedup();
        users
            .into_iter()
            .map(clap_complete::engine::CompletionCandidate::new)
            .collect()
    })
}

/// The environment variable through which a shell asks `pki` to complete a
/// line (set by the script `pki completions SHELL` prints).
pub const COMPLETE_VAR: &str = "PKI_COMPLETE";

impl Command {
    /// Whether the command writes to the store (its index, files or audit
    /// log). Such commands use the real clock: `PKI_NOW` is for read-only
    /// commands and dry runs.
    pub fn writes(&self) -> bool {
        use cmd::config::Action;
        match self {
            Command::Init(_)
            | Command::Issue(_)
            | Command::Import(_)
            | Command::Sign(_)
            | Command::Crl(_)
            | Command::Revoke(_)
            | Command::Export(_) => true,
            Command::Rotate(a) => !a.dry_run,
            Command::Deploy(cmd::deploy::Target::Marathon(cmd::deploy::MarathonArgs {
                conn,
                ..
            }))
            | Command::Deploy(cmd::deploy::Target::Asp(cmd::deploy::AspArgs { conn, .. })) => {
                !conn.dry_run
            }
            Command::Rollover(a) => !matches!(a, cmd::rollover::Action::Status),
            Command::Config(a) => !matches!(a, Action::Show),
            Command::Probe(_) => false,
            _ => false,
        }
    }

    /// The command's words as the user would type them: `export marathon`.
    pub fn name(&self) -> &'static str {
        use cmd::{audit, config, deploy, export};
        match self {
            Command::Init(_) => "init",
            Command::Issue(_) => "issue",
            Command::List(_) => "list",
            Command::Show(_) => "show",
            Command::Export(export::Target::Marathon(_)) => "export marathon",
            Command::Export(export::Target::Files(_)) => "export files",
            Command::Export(export::Target::K8s(_)) => "export k8s",
            Command::Export(export::Target::Asp(_)) => "export asp",
            Command::Deploy(deploy::Target::Asp(_)) => "deploy asp",
            Command::Rollover(cmd::rollover::Action::Start(_)) => "rollover start",
            Command::Rollover(cmd::rollover::Action::Status) => "rollover status",
            Command::Rollover(cmd::rollover::Action::Advance(_)) => "rollover advance",
            Command::Rollover(cmd::rollover::Action::Abort { .. }) => "rollover abort",
            Command::Deploy(deploy::Target::Marathon(_)) => "deploy marathon",
            Command::Rotate(_) => "rotate",
            Command::Check(_) => "check",
            Command::Verify(_) => "verify",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
            Command::Import(_) => "import",
            Command::Sign(_) => "sign",
            Command::Revoke(_) => "revoke",
            Command::Crl(_) => "crl",
            Command::Config(config::Action::Set { .. }) => "config set",
            Command::Config(config::Action::Unset { .. }) => "config unset",
            Command::Config(config::Action::Show) => "config show",
            Command::Audit(audit::Action::Verify) => "audit verify",
            Command::Audit(audit::Action::Show) => "audit show",
            Command::Probe(_) => "probe",
        }
    }
}
