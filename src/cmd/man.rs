//! `pki man [--out DIR]`: man pages made from the command line's own
//! definition (clap_mangen), so they say what `--help` says.

use std::path::PathBuf;

use clap::CommandFactory;

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::json;
use crate::store::fs;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  pki man --out ~/.local/share/man/man1 && man pki\n  pki man --out /usr/local/share/man/man1     # for every user\n  pki man > pki.1 && man -l pki.1"
)]
pub struct Args {
    /// Write every page (pki.1, pki-init.1, pki-export-marathon.1, ...) into DIR, replacing them.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let cmd = crate::cli::Cli::command();
    let Some(dir) = a.out else {
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut buf)
            .map_err(|e| Error::io("write", std::path::Path::new("stdout"), e))?;
        let page = String::from_utf8_lossy(&buf).into_owned();
        if ctx.json {
            return ctx.emit_json(&json::ManDoc {
                version: json::VERSION,
                written: Vec::new(),
                page: Some(page),
            });
        }
        return ctx.data(&page);
    };
    if dir.exists() && !dir.is_dir() {
        return Err(Error::input(
            format!("{} is not a directory", dir.display()),
            "give --out a directory, e.g. --out ~/.local/share/man/man1",
        ));
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
    let before: Vec<_> = list(&dir);
    clap_mangen::generate_to(cmd, &dir).map_err(|e| Error::io("write man pages into", &dir, e))?;
    let mut written: Vec<String> = list(&dir)
        .into_iter()
        .filter(|n| n.ends_with(".1"))
        .filter(|n| n.starts_with("pki"))
        .collect();
    written.sort();
    // clap_mangen creates the files with the caller's umask (0666 under
    // umask 000): pages are public, not writable by others.
    for n in &written {
        fs::set_mode(&dir.join(n), fs::PUBLIC_MODE)?;
    }
    let written: Vec<String> = written
        .into_iter()
        .map(|n| dir.join(n).display().to_string())
        .collect();
    ctx.detail(format!("{} page(s) before", before.len()));
    ctx.say(format!(
        "wrote {} man page(s) into {}; read them with `man pki` once {} is in MANPATH (or `man -l {}/pki.1`)",
        written.len(),
        dir.display(),
        dir.parent().unwrap_or(&dir).display(),
        dir.display()
    ));
    if ctx.json {
        ctx.emit_json(&json::ManDoc {
            version: json::VERSION,
            written,
            page: None,
        })?;
    }
    Ok(())
}

fn list(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}
