//! `pki store copy --to ADDRESS`: the whole store (every certificate, key
//! and CRL the index names, the index and the audit history) to another
//! address: a directory to Vault and back. Also the backup and restore of
//! a directory store (docs/store.md).

use std::path::Path;

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::json;
use crate::store::audit::{self, Event, Kind};
use crate::store::fs::{PUBLIC_MODE, SECRET_MODE};
use crate::store::{Address, Index, Store};

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Copy the store (--store) to another address, history included.
    #[command(
        after_help = "Examples:\n  pki --store ./pki store copy --to vault://secret/pki/ephemeral-store\n  pki --store vault://secret/pki/ephemeral-store store copy --to ./pki-backup\n\nThe copy's audit log is the source's, then one line saying where it came from;\nthe source records the copy (its keys left with it) before anything is sent."
    )]
    Copy(CopyArgs),
}

#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// Where to copy to: a directory, or vault://MOUNT/PATH.
    #[arg(long, value_name = "ADDRESS")]
    pub to: String,
    /// Replace a store already at the target (its index and history are replaced).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub lock: crate::cli::Wait,
}

pub fn run(ctx: &Ctx, action: Action) -> Result<()> {
    let Action::Copy(a) = action;
    copy(ctx, &a)
}

fn copy(ctx: &Ctx, a: &CopyArgs) -> Result<()> {
    let to = Address::parse(&a.to)?;
    let from = ctx.store.name();
    let target = Store::open(&to);
    if target.name() == from {
        return Err(Error::usage(
            format!("--to {} is the store being copied", a.to),
            "give another directory or vault:// address",
        ));
    }
    target.refuse_file()?;
    // The source first: its lock, its index and an unbroken history, and
    // its line saying where the keys go, before anything is sent.
    let mut source_log = audit::Appender::open_locking(&ctx.store, ctx.wait, ctx.now)?;
    let index = ctx.store.read_index()?;
    let mut log = audit::verify(&ctx.store.audit_text()?).map_err(|(_, broken)| Error::Attention {
        msg: format!(
            "the audit log of {} is broken at line {}: it {}; a copy would carry a history that does not verify; run `pki audit verify` and see docs/security.md",
            from.display(),
            broken.line,
            broken.problem
        ),
    })?;
    let _target_lock = target.lock_new(ctx.wait, ctx.now)?;
    if target.exists()? && !a.force {
        return Err(Error::refused(
            format!("{} already holds a pki store", target.name().display()),
            "pass --force to replace it (its index and history), or copy to another address",
        ));
    }
    // The source's line, written under its lock, is the last of the
    // history the copy carries.
    let sent = source_log.chain(vec![Event::new("store copy", Kind::StoreCopiedTo).detail(
        format!("to {to}: every certificate, key and CRL the index names"),
    )]);
    source_log.write(&sent)?;
    log.extend(sent);
    let files = copy_files(&ctx.store, &target, &index)?;
    let last = log.last().map(|e| (e.seq, e.hash.clone()));
    let (seq, prev) = last.unwrap_or((0, audit::GENESIS.to_string()));
    log.extend(audit::chain(
        seq,
        &prev,
        ctx.now,
        vec![
            Event::new("store copy", Kind::StoreCopiedFrom).detail(format!(
                "from {}: {files} file(s) and {seq} audit line(s)",
                ctx.store.name().display()
            )),
        ],
    ));
    target.replace_all(&index, &log)?;
    if ctx.json {
        ctx.emit_json(&json::StoreCopyDoc {
            version: json::VERSION,
            from: from.display().to_string(),
            to: to.to_string(),
            files,
            audit_lines: log.len() as u64,
        })?;
    }
    ctx.say(format!(
        "copied {} to {to}: {files} file(s), {} audit line(s), the last saying where it came from",
        from.display(),
        log.len()
    ));
    Ok(())
}

/// Copy every file `index` names, byte for byte; returns how many.
fn copy_files(from: &Store, to: &Store, index: &Index) -> Result<u64> {
    let mut n = 0;
    // A copy target has no index naming these files yet (or, with --force,
    // one this copy replaces): what is there is replaced.
    let none = Index::new();
    let mut files: Vec<&std::path::PathBuf> = index.files().collect();
    files.sort();
    files.dedup();
    for rel in files {
        let text = zeroize::Zeroizing::new(from.read_text(rel)?);
        let mode = if is_key(rel) {
            SECRET_MODE
        } else {
            PUBLIC_MODE
        };
        to.write_file(&none, rel, text.as_bytes(), mode)?;
        n += 1;
    }
    Ok(n)
}

fn is_key(rel: &Path) -> bool {
    rel.extension().is_some_and(|x| x == "key")
}
