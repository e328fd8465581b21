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
  PKI_STORE the store (as --store): a directory or vault://MOUNT/PATH
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
    /// The store: a directory, or vault://MOUNT/PATH for a store in Vault (docs/vault.md) [env: PKI_STORE] [default: pki].
    #[arg(
        long,
        global = true,
        value_name = "ADDRESS",
        conflicts_with = "dir",
        help_heading = GLOBAL
    )]
    pub store: Option<String>,

    /// The store directory (a synonym of --store for a directory store) [env: PKI_DIR].
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help_heading = GLOBAL
    )]
    pub dir: Option<PathBuf>,

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

/// Which users `export asp` and `deploy asp` set in `ASP_EPHEMERAL_STORE`, and drop.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct AspUsers {
    /// A user whose key and certificate go in (repeat --user, or name several after one).
    #[arg(long = "user", value_name = "USER", num_args = 1.., add = user_names(),
          required_unless_present_any = ["all_users", "remove"], conflicts_with = "all_users")]
    pub users: Vec<String>,
    /// Every user with a current certificate whose key the store holds.
    #[arg(long)]
    pub all_users: bool,
    /// Drop a user from the controller's value (repeat, or name several after one); revoked and superseded users are dropped anyway.
    #[arg(long, value_name = "USER", num_args = 1.., add = user_names())]
    pub remove: Vec<String>,
}

impl AspUsers {
    /// The material these flags name: `--user` or `--all-users`, and `--remove`.
    pub fn material(
        &self,
        store: &crate::store::Store,
        index: &crate::store::Index,
        format: crate::x509::keys::KeyFormat,
        allow_non_rsa: bool,
        pass: &crate::ca::key::Passphrase,
        now: time::OffsetDateTime,
    ) -> crate::error::Result<crate::deliver::asp::Material> {
        let names = if self.all_users {
            crate::deliver::all_users(index)
        } else {
            self.users.clone()
        };
        crate::deliver::asp_material(
            store,
            index,
            &names,
            &self.remove,
            format,
            allow_non_rsa,
            pass,
            now,
        )
    }
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
    /// The store itself: copy it to another address (a directory, or Vault).
    #[command(subcommand)]
    Store(cmd::store::Action),
    /// For a store on Vault: the policy to grant pki, or Marathon (the --by-reference values).
    #[command(subcommand)]
    Vault(cmd::vault::Action),
}

/// What the rest of pki must know about a command, stated once per command
/// in [`Command::facts`] (a match with no fallback arm: a new command does not
/// compile until its facts are written down).
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// The command's words as the user would type them: `export marathon`.
    pub name: &'static str,
    /// Whether this run writes to the store (its index, files or audit log).
    /// Such runs use the real clock: `PKI_NOW` is for read-only commands and
    /// dry runs.
    pub writes: bool,
    /// `--wait`, where the command takes the store lock.
    pub lock: Option<&'a Wait>,
    /// `--passphrase-file`, where the command may need the CA key.
    pub key: Option<&'a PassphraseFile>,
}

impl<'a> Facts<'a> {
    const fn of(
        name: &'static str,
        writes: bool,
        lock: Option<&'a Wait>,
        key: Option<&'a PassphraseFile>,
    ) -> Self {
        Facts {
            name,
            writes,
            lock,
            key,
        }
    }
}

impl Command {
    /// The command table: every command's name, whether it writes, and its
    /// `--wait` and `--passphrase-file`.
    pub fn facts(&self) -> Facts<'_> {
        use cmd::{audit, config, deploy, export, rollover};
        let f = Facts::of;
        match self {
            Command::Init(a) => f("init", true, Some(&a.lock), Some(&a.pass)),
            Command::Issue(a) => f("issue", true, Some(&a.lock), Some(&a.pass)),
            Command::List(_) => f("list", false, None, None),
            Command::Show(_) => f("show", false, None, None),
            Command::Export(export::Target::Marathon(a)) => {
                f("export marathon", true, Some(&a.lock), Some(&a.pass))
            }
            Command::Export(export::Target::Files(a)) => {
                f("export files", true, Some(&a.lock), None)
            }
            Command::Export(export::Target::K8s(a)) => {
                f("export k8s", true, Some(&a.lock), Some(&a.pass))
            }
            Command::Export(export::Target::Asp(a)) => {
                f("export asp", true, Some(&a.lock), Some(&a.pass))
            }
            Command::Export(export::Target::RiakAdmin(_)) => {
                f("export riak-admin", false, None, None)
            }
            Command::Deploy(deploy::Target::Marathon(deploy::MarathonArgs { conn, .. })) => f(
                "deploy marathon",
                !conn.dry_run,
                Some(&conn.lock),
                Some(&conn.pass),
            ),
            Command::Deploy(deploy::Target::Asp(deploy::AspArgs { conn, .. })) => f(
                "deploy asp",
                !conn.dry_run,
                Some(&conn.lock),
                Some(&conn.pass),
            ),
            Command::Rotate(a) => f("rotate", !a.dry_run, Some(&a.lock), Some(&a.pass)),
            Command::Check(_) => f("check", false, None, None),
            // Reads the CA key (encrypted: with its passphrase) to match it.
            Command::Verify(a) => f("verify", false, None, Some(&a.pass)),
            Command::Completions(_) => f("completions", false, None, None),
            Command::Man(_) => f("man", false, None, None),
            Command::Import(a) => f("import", true, Some(&a.lock), Some(&a.pass)),
            Command::Sign(a) => f("sign", true, Some(&a.lock), Some(&a.pass)),
            Command::Revoke(a) => f("revoke", true, Some(&a.lock), None),
            Command::Crl(a) => f("crl", true, Some(&a.lock), Some(&a.pass)),
            Command::Config(config::Action::Set { lock, .. }) => {
                f("config set", true, Some(lock), None)
            }
            Command::Config(config::Action::Unset { lock, .. }) => {
                f("config unset", true, Some(lock), None)
            }
            Command::Config(config::Action::Show) => f("config show", false, None, None),
            Command::Audit(audit::Action::Verify) => f("audit verify", false, None, None),
            Command::Audit(audit::Action::Show) => f("audit show", false, None, None),
            Command::Rollover(rollover::Action::Start(a)) => {
                f("rollover start", true, Some(&a.lock), Some(&a.pass))
            }
            Command::Rollover(rollover::Action::Status) => f("rollover status", false, None, None),
            Command::Rollover(rollover::Action::Advance(a)) => {
                f("rollover advance", true, Some(&a.lock), Some(&a.pass))
            }
            Command::Rollover(rollover::Action::Abort { lock }) => {
                f("rollover abort", true, Some(lock), None)
            }
            // Reads the index and the users' keys; takes no lock, needs no CA key.
            Command::Probe(_) => f("probe", false, None, None),
            Command::Store(cmd::store::Action::Copy(a)) => {
                f("store copy", true, Some(&a.lock), None)
            }
            // Prints a policy made from the address alone; reads no store.
            Command::Vault(cmd::vault::Action::Policy(_)) => f("vault policy", false, None, None),
        }
    }
}

impl Cli {
    /// The store this run works on: `--store` or `--dir` (never both),
    /// else `PKI_STORE` or `PKI_DIR` (both only when they name the same
    /// directory), else `./pki`. A flag beats the environment.
    pub fn address(&self) -> crate::error::Result<crate::store::Address> {
        use crate::store::Address;
        if let Some(s) = &self.store {
            return Address::parse(s);
        }
        if let Some(d) = &self.dir {
            return Ok(Address::Dir(d.clone()));
        }
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        match (var("PKI_STORE"), var("PKI_DIR")) {
            (Some(s), Some(d)) if s != d => Err(crate::error::Error::usage(
                format!(
                    "PKI_STORE ({}) and PKI_DIR ({}) name different stores",
                    s.to_string_lossy(),
                    d.to_string_lossy()
                ),
                "unset one of them, or pass --store (or --dir), which wins over both",
            )),
            (Some(s), _) => Address::parse(&s.to_string_lossy()),
            (None, Some(d)) => Ok(Address::Dir(PathBuf::from(d))),
            (None, None) => Ok(Address::Dir(PathBuf::from("pki"))),
        }
    }
}

/// Completion of user names (`pki show a<TAB>`): the users with a current
/// certificate in the directory store the line being completed names
/// (`--store` or `--dir`, else `PKI_STORE` or `PKI_DIR`, else `./pki`). Read from the index alone, without the lock;
/// nothing is offered when there is no store.
pub fn user_names() -> clap_complete::engine::ArgValueCandidates {
    clap_complete::engine::ArgValueCandidates::new(|| {
        let words: Vec<String> = std::env::args().collect();
        let flag = |name: &str| {
            let eq = format!("{name}=");
            words
                .windows(2)
                .rev()
                .find_map(|w| (w[0] == name).then(|| w[1].clone()))
                .or_else(|| {
                    words
                        .iter()
                        .rev()
                        .find_map(|w| w.strip_prefix(eq.as_str()).map(str::to_string))
                })
        };
        let named = flag("--store")
            .or_else(|| flag("--dir"))
            .or_else(|| std::env::var("PKI_STORE").ok())
            .or_else(|| std::env::var("PKI_DIR").ok())
            .unwrap_or_else(|| "pki".into());
        // A store in Vault is not asked on every TAB.
        let Ok(crate::store::Address::Dir(dir)) = crate::store::Address::parse(&named) else {
            return Vec::new();
        };
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
