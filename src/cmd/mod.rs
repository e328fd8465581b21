//! One module per command. Each has an `Args` (clap) and a `run`. This
//! module holds what they share: [`Ctx`], the dispatch, the `--json`
//! documents built from the layers' types (`json.rs` imports nothing above
//! x509/), and what export and deploy both read by reference.

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
pub mod man;
pub mod probe;
pub mod revoke;
pub mod rollover;
pub mod rotate;
pub mod show;
pub mod sign;
pub mod store;
pub mod vault;
pub mod verify;

use std::path::PathBuf;

use time::OffsetDateTime;

use crate::cli::AspUsers;
use crate::cli::{Cli, Command};
use crate::deliver::by_reference::{self as byref, Read, ASP, STORE};
use crate::deliver::pick_user;
use crate::error::{Error, Result};
use crate::json;
use crate::store::publish::Published;
use crate::store::Store;
use crate::ui::Ui;
use crate::x509::cert::{days_left, rfc3339};
use crate::x509::keys::KeyFormat;

/// What every command gets: the store, the output, the lock policy and the clock.
pub struct Ctx {
    pub store: Store,
    /// Unlocks an encrypted CA key; asked only when such a key is read.
    pub passphrase: crate::ca::key::Passphrase,
    pub ui: Ui,
    pub wait: bool,
    /// "Now", read once: from `PKI_NOW` when set (tests, what-if planning).
    pub now: OffsetDateTime,
}

impl Ctx {
    pub fn from_cli(cli: &Cli) -> Result<Self> {
        // `--wait` and `--passphrase-file` belong to the commands that use
        // them; before the command they are still accepted.
        let facts = cli.command.facts();
        crate::ui::set_global(Ui {
            json: cli.json,
            quiet: cli.quiet,
            verbose: cli.verbose,
        });
        let passphrase_file = facts
            .key
            .and_then(|k| k.passphrase_file.clone())
            .or_else(|| cli.passphrase_file.clone());
        Ok(Ctx {
            store: Store::open(&cli.address()?),
            passphrase: crate::ca::key::Passphrase::new(passphrase_file),
            ui: Ui {
                json: cli.json,
                quiet: cli.quiet,
                verbose: cli.verbose,
            },
            wait: cli.wait || facts.lock.is_some_and(|w| w.wait),
            now: now_for(&cli.command)?,
        })
    }
}

/// Commands speak through their `Ui` (`ctx.say(..)`, `ctx.json`).
impl std::ops::Deref for Ctx {
    type Target = Ui;
    fn deref(&self) -> &Ui {
        &self.ui
    }
}

/// The test-only variable that lets commands that write honour `PKI_NOW`.
pub const ALLOW_NOW: &str = "PKI_TEST_ALLOW_NOW";

/// "Now" for `command`. `PKI_NOW` answers what-if questions for read-only
/// commands and dry runs; a command that writes refuses it, so no
/// certificate is ever made valid from an instant that has not come (the
/// test suite lifts that with `PKI_TEST_ALLOW_NOW=1`).
fn now_for(command: &crate::cli::Command) -> Result<OffsetDateTime> {
    let now = now_from_env()?;
    let injected = std::env::var("PKI_NOW").is_ok_and(|s| !s.is_empty());
    let allowed = std::env::var(ALLOW_NOW).is_ok_and(|v| v == "1");
    let facts = command.facts();
    if injected && facts.writes && !allowed {
        return Err(Error::usage(
            format!(
                "PKI_NOW is set, but `pki {}` writes to the store, and writes use the real clock",
                facts.name
            ),
            "unset PKI_NOW (it is for read-only commands such as `pki check` and for --dry-run)",
        ));
    }
    Ok(now)
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

/// Run the parsed command. `argv` is the command line as given (its first
/// word is how the shell found pki: the completion script calls it so).
pub fn dispatch(cli: Cli, argv: &[std::ffi::OsString]) -> Result<()> {
    let ctx = Ctx::from_cli(&cli)?;
    let done = match cli.command {
        Command::Init(a) => init::run(&ctx, a),
        Command::Issue(a) => issue::run(&ctx, a),
        Command::List(a) => list::run(&ctx, a),
        Command::Show(a) => show::run(&ctx, a),
        Command::Export(t) => export::run(&ctx, t),
        Command::Deploy(t) => deploy::run(&ctx, t),
        Command::Completions(a) => completions::run(&ctx, a, &completer(argv)),
        Command::Man(a) => man::run(&ctx, a),
        Command::Import(a) => import::run(&ctx, a),
        Command::Sign(a) => sign::run(&ctx, a),
        Command::Revoke(a) => revoke::run(&ctx, a),
        Command::Crl(a) => crl::run(&ctx, a),
        Command::Config(a) => config::run(&ctx, a),
        Command::Rotate(a) => rotate::run(&ctx, a),
        Command::Check(a) => check::run(&ctx, a),
        Command::Verify(a) => verify::run(&ctx, a),
        Command::Audit(a) => audit::run(&ctx, a),
        Command::Rollover(a) => rollover::run(&ctx, a),
        Command::Probe(a) => probe::run(&ctx, a),
        Command::Vault(a) => vault::run(&ctx, a),
        Command::Store(a) => store::run(&ctx, a),
    };
    done.map_err(|e| ctx.store.after_commit_io(e))
}

/// Turn a path relative to the store into one for display.
pub fn shown(ctx: &Ctx, rel: &std::path::Path) -> PathBuf {
    ctx.store.path(rel)
}

/// How the completion script should call pki: as it was called, made
/// absolute when it was a relative path (`./target/debug/pki`).
fn completer(argv: &[std::ffi::OsString]) -> String {
    let me = PathBuf::from(argv.first().cloned().unwrap_or_else(|| "pki".into()));
    let me = if me.components().count() > 1 && me.is_relative() {
        std::env::current_dir().map_or(me.clone(), |d| d.join(&me))
    } else {
        me
    };
    me.to_string_lossy().into_owned()
}

/// The root CA as `list`, `init`, `import` and `rollover` report it.
pub fn ca_summary(ca: &crate::store::CaEntry, now: OffsetDateTime) -> json::CaSummary {
    json::CaSummary {
        subject: ca.subject.clone(),
        serial: ca.serial.to_string(),
        not_before: rfc3339(ca.not_before),
        not_after: rfc3339(ca.not_after),
        days_left: days_left(ca.not_after, now),
        key_type: ca.key_type.name().into(),
        fingerprint_sha256: ca.fingerprint_sha256.clone(),
    }
}

/// One row of `pki list`.
pub fn list_row(c: &crate::store::CertEntry, status: &str, now: OffsetDateTime) -> json::ListRow {
    json::ListRow {
        user: c.user.clone(),
        serial: c.serial.to_string(),
        not_before: rfc3339(c.not_before),
        not_after: rfc3339(c.not_after),
        days_left: days_left(c.not_after, now),
        status: status.into(),
        key_type: c.key_type.name().into(),
        fingerprint_sha256: c.fingerprint_sha256.clone(),
    }
}

/// A certificate that entered the store, as `issue`, `rotate`, `sign`,
/// `import --user` and `rollover` report it.
pub fn issued_doc(i: &crate::ca::issue::Issued) -> json::Issued {
    json::Issued::from_info(
        &i.user,
        &i.info,
        i.cert_path.display().to_string(),
        i.key_path.as_ref().map(|k| k.display().to_string()),
        i.replaced_serial.clone(),
    )
}

/// `--store-host` of `export asp` and `deploy asp`: a DNS name or an IP
/// address ([`crate::deliver::asp::validate_host`]), worded with its flag.
pub fn check_store_host(host: Option<&str>) -> Result<()> {
    use crate::deliver::asp::{validate_host, DEFAULT_HOST};
    match host {
        Some(h) if validate_host(h).is_err() => Err(Error::usage(
            format!("--store-host {h:?} is not a host name or IP address"),
            format!(
                "give the store's address as clients reach it, e.g. --store-host {DEFAULT_HOST}"
            ),
        )),
        _ => Ok(()),
    }
}

/// Refuse a `--prometheus` path (of `check` and `probe`) whose directory
/// does not exist, before writing: the textfile collector's directory is
/// node_exporter's to make.
pub fn check_prometheus_path(path: &std::path::Path) -> Result<()> {
    match crate::store::fs::missing_parent(path) {
        Some(dir) => Err(Error::failed(
            format!(
                "--prometheus {}: the directory {} does not exist",
                path.display(),
                dir.display()
            ),
            "create it (node_exporter's --collector.textfile.directory), or give a path in an existing directory",
        )),
        None => Ok(()),
    }
}

/// After a committed change that makes new certificates current (rotate,
/// rollover, revoke): publish again the values apps read by reference
/// (`--by-reference`, docs/vault-by-reference.md), so the next task that
/// launches gets the new ones. Nothing is done when none was published.
/// The change is made whatever happens here: a failure says so.
pub fn republish(ctx: &Ctx, command: &str) -> Result<()> {
    // Only a store in Vault publishes (a directory store refuses to).
    if ctx.store.as_vault().is_none() {
        return Ok(());
    }
    let made = |e: Error| {
        crate::store::after_commit(
            &e,
            "the values apps read by reference still hold the old ones: publish them again with `pki export marathon --by-reference` (and `pki export asp --by-reference`)",
        )
    };
    let index = ctx.store.read_index().map_err(made)?;
    let (names, warnings) = crate::deliver::by_reference::republish(
        &ctx.store,
        &index,
        &ctx.passphrase,
        ctx.now,
        command,
    )
    .map_err(made)?;
    ctx.warn_all(warnings);
    if !names.is_empty() {
        ctx.say(format!(
            "published again for the apps that read by reference: {}",
            names.join(", ")
        ));
    }
    Ok(())
}

/// What `export marathon` and `deploy marathon` by reference read
/// ([`byref::read`]): the user (the one named, or the store's only one)
/// and the CA's publication. Its warnings are printed.
pub fn read_store(
    ctx: &Ctx,
    user: Option<&str>,
    format: KeyFormat,
    allow_non_rsa: bool,
) -> Result<(String, Read)> {
    let mut picked = String::new();
    let read = byref::read(&ctx.store, STORE, &ctx.passphrase, ctx.now, |index| {
        picked = pick_user(&ctx.store, index, user)?.user.clone();
        Ok(byref::store_publication(format, allow_non_rsa))
    })?;
    ctx.warn_all(&read.out.warnings);
    Ok((picked, read))
}

/// What `export asp` and `deploy asp` by reference read: the controller's
/// publication for `who` at `address` (`--store-host`, `--store-port`).
/// Its warnings are printed.
pub fn read_asp(
    ctx: &Ctx,
    who: &AspUsers,
    address: (Option<&str>, Option<u16>),
    format: KeyFormat,
    allow_non_rsa: bool,
) -> Result<Read> {
    let read = byref::read(&ctx.store, ASP, &ctx.passphrase, ctx.now, |index| {
        Ok(byref::asp_publication(
            index,
            &who.users,
            who.all_users,
            address.0,
            address.1,
            format,
            allow_non_rsa,
        ))
    })?;
    ctx.warn_all(&read.out.warnings);
    Ok(read)
}

/// A publication as the JSON documents report it.
pub fn published_doc(name: &str, at: &Published) -> json::PublishedDoc {
    json::PublishedDoc {
        name: name.to_string(),
        mount: at.mount.clone(),
        path: at.path.clone(),
        fields: byref::fields_of(name),
    }
}
