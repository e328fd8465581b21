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
  PKI_NOW   pretend the time is this RFC 3339 instant (testing and what-if planning)
  NO_COLOR  respected; pki prints no colour anyway
  DCOS_ACS_TOKEN  token for `pki deploy marathon|asp` when --token-file is not given";

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
        value_name = "DIR"
    )]
    pub dir: PathBuf,

    /// Machine output on stdout: one versioned JSON document per command.
    #[arg(long, global = true)]
    pub json: bool,

    /// Print nothing on stderr but errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Say more on stderr about what is being done.
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Wait for another pki working on the store instead of exiting with code 4.
    #[arg(long, global = true)]
    pub wait: bool,

    /// A file whose first line is the passphrase of an encrypted CA key
    /// (`init --encrypt`); read only by commands that need the key. Without
    /// it pki asks on the terminal; never give the passphrase itself as an argument.
    #[arg(long, global = true, env = "PKI_PASSPHRASE_FILE", value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
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
    /// Print shell completions.
    Completions(cmd::completions::Args),
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
}
