//! One module per command. Each has an `Args` (clap) and a `run`.

pub mod audit;
pub mod check;
pub mod completions;
pub mod config;
pub mod crl;
pub mod deploy;
pub mod export;
pub mod import;
pub mod init;
pub mod issue;
pub mod list;
pub mod revoke;
pub mod rotate;
pub mod show;
pub mod sign;
pub mod verify;

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;
use time::OffsetDateTime;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use crate::store::Store;

/// What every command gets: global options, the clock, and the two streams.
pub struct Ctx {
    pub store: Store,
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
    pub wait: bool,
    /// "Now", read once: from `PKI_NOW` when set (tests, what-if planning).
    pub now: OffsetDateTime,
}

impl Ctx {
    pub fn from_cli(cli: &Cli) -> Result<Self> {
        Ok(Ctx {
            store: Store::new(cli.dir.clone())
                .with_passphrase(crate::secret::Passphrase::new(cli.passphrase_file.clone())),
            json: cli.json,
            quiet: cli.quiet,
            verbose: cli.verbose,
            wait: cli.wait,
            now: now_from_env()?,
        })
    }

    /// A message for people, on stderr; silenced by --quiet.
    pub fn say(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{}", msg.as_ref());
        }
    }

    /// A warning on stderr; shown even with --quiet.
    pub fn warn(&self, msg: impl AsRef<str>) {
        let _ = writeln!(std::io::stderr(), "pki: warning: {}", msg.as_ref());
    }

    /// Detail for --verbose, on stderr.
    pub fn detail(&self, msg: impl AsRef<str>) {
        if self.verbose {
            let _ = writeln!(std::io::stderr(), "{}", msg.as_ref());
        }
    }

    /// Data on stdout. A closed pipe surfaces as BrokenPipe, which `run` treats as success.
    pub fn data(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| Error::io("write to", std::path::Path::new("stdout"), e))
    }

    /// A JSON document on stdout, pretty-printed, newline-terminated.
    pub fn emit_json<T: Serialize>(&self, doc: &T) -> Result<()> {
        let mut s = serde_json::to_string_pretty(doc)
            .map_err(|e| Error::crypto("cannot encode JSON", e))?;
        s.push('\n');
        self.data(&s)
    }
}

fn now_from_env() -> Result<OffsetDateTime> {
    match std::env::var("PKI_NOW") {
        Ok(s) if !s.is_empty() => {
            OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).map_err(
                |_| {
                    Error::usage(
                        format!("PKI_NOW={s:?} is not an RFC 3339 time"),
                        "use e.g. PKI_NOW=2027-01-31T00:00:00Z, or unset it",
                    )
                },
            )
        }
        _ => Ok(OffsetDateTime::now_utc()),
    }
}

pub fn dispatch(cli: Cli) -> Result<()> {
    let ctx = Ctx::from_cli(&cli)?;
    match cli.command {
        Command::Init(a) => init::run(&ctx, a),
        Command::Issue(a) => issue::run(&ctx, a),
        Command::List(a) => list::run(&ctx, a),
        Command::Show(a) => show::run(&ctx, a),
        Command::Export(t) => export::run(&ctx, t),
        Command::Deploy(t) => deploy::run(&ctx, t),
        Command::Completions(a) => completions::run(&ctx, a),
        Command::Import(a) => import::run(&ctx, a),
        Command::Sign(a) => sign::run(&ctx, a),
        Command::Revoke(a) => revoke::run(&ctx, a),
        Command::Crl(a) => crl::run(&ctx, a),
        Command::Config(a) => config::run(&ctx, a),
        Command::Rotate(a) => rotate::run(&ctx, a),
        Command::Check(a) => check::run(&ctx, a),
        Command::Verify(a) => verify::run(&ctx, a),
        Command::Audit(a) => audit::run(&ctx, a),
    }
}

/// Turn a path relative to the store into one for display.
pub fn shown(ctx: &Ctx, rel: &std::path::Path) -> PathBuf {
    ctx.store.path(rel)
}
