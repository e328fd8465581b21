//! `pki`: a certificate authority for the ASP ephemeral store.
//!
//! `main.rs` only calls [`run`]; every decision lives here where tests reach it.

#![forbid(unsafe_code)]

pub mod ca;
pub mod cli;
pub mod cmd;
pub mod deliver;
pub mod error;
pub mod json;
pub mod net;
pub mod probe;
pub mod store;
pub mod ui;
pub mod x509;

use std::ffi::OsString;
use std::io::{ErrorKind, Write};

use clap::Parser;

use crate::error::{code, Error};

/// A clap error on one line: its message, then its tip or the usage.
fn usage_line(e: &clap::Error) -> String {
    // A value our own parser refused carries its own words (what, then what to do).
    if e.kind() == clap::error::ErrorKind::ValueValidation {
        use std::error::Error as _;
        if let Some(ours) = e.source().and_then(|s| s.downcast_ref::<Error>()) {
            return ours.to_string();
        }
    }
    if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // clap rendered the help of a group whose subcommand is missing.
        let usage = e
            .render()
            .to_string()
            .lines()
            .find_map(|l| l.trim().strip_prefix("Usage: ").map(str::to_string));
        let hint = usage.map_or_else(
            || "see pki --help".to_string(),
            |u| format!("usage: {u} (see --help)"),
        );
        return crate::error::one_line(&format!("a subcommand is missing; {hint}"));
    }
    let text = e.render().to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let usage = lines.iter().find_map(|l| l.strip_prefix("Usage: "));
    let msg = match lines.first().and_then(|l| l.strip_prefix("error: ")) {
        // The message may go on over lines (e.g. the list of missing arguments).
        Some(first) => std::iter::once(first)
            .chain(lines[1..].iter().copied().take_while(|l| {
                !l.starts_with("Usage:") && !l.starts_with("tip:") && !l.starts_with("For more")
            }))
            .collect::<Vec<_>>()
            .join(" "),
        None => crate::error::one_line(&e.kind()),
    };
    let hint = match (lines.iter().find_map(|l| l.strip_prefix("tip: ")), usage) {
        (Some(tip), _) => tip.to_string(),
        (None, Some(u)) => format!("usage: {u} (see --help)"),
        // A value refused by one of our parsers (`Days`): its message says what to do.
        (None, None) if e.kind() == clap::error::ErrorKind::ValueValidation => {
            return crate::error::one_line(&msg)
        }
        (None, None) => "see pki --help".to_string(),
    };
    crate::error::one_line(&format!("{msg}; {hint}"))
}

/// Keep the decrypted CA key and the passphrase out of core dumps, as
/// ssh-agent and gpg-agent do: no core file (`RLIMIT_CORE` 0, soft and
/// hard, so a child cannot raise it back) and not dumpable (which also
/// keeps other processes of the same user from attaching with ptrace).
/// Best effort: a platform that refuses either still runs pki.
pub fn no_core_dumps() {
    use rustix::process::{setrlimit, Resource, Rlimit};
    let _ = setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    );
    #[cfg(target_os = "linux")]
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
}

/// Parse `args`, run the command, and return the process exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> u8 {
    let argv: Vec<OsString> = args.into_iter().collect();
    // A shell asking for completions (the script of `pki completions`).
    let completing =
        clap_complete::CompleteEnv::with_factory(<cli::Cli as clap::CommandFactory>::command)
            .var(cli::COMPLETE_VAR)
            .try_complete(argv.clone(), std::env::current_dir().ok().as_deref());
    match completing {
        Ok(true) => return code::OK,
        Ok(false) => {}
        Err(_) => return code::USAGE,
    }
    // `--json` anywhere on the line: even a usage error answers with a document.
    let json = argv.iter().skip(1).any(|a| a == "--json");
    let cli = match cli::Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => {
            // --help and --version go to stdout with exit 0; real errors are
            // exit 2, on one line like every other error.
            if !e.use_stderr() {
                let _ = e.print();
                return code::OK;
            }
            let msg = usage_line(&e);
            let _ = writeln!(std::io::stderr(), "pki: error: {msg}");
            if json {
                error_doc(code::USAGE, &msg);
            }
            return code::USAGE;
        }
    };
    let (quiet, json) = (cli.quiet, cli.json);
    match cmd::dispatch(cli, &argv) {
        Ok(()) => code::OK,
        Err(Error::Io { source, .. }) if source.kind() == ErrorKind::BrokenPipe => code::OK,
        Err(e) => {
            let text = e.to_string();
            let msg = ui::escape(&text, false);
            // An attention result is a finding, not a failure.
            match &e {
                Error::Attention { .. } if quiet => {}
                Error::Attention { .. } => {
                    let _ = writeln!(std::io::stderr(), "pki: attention: {msg}");
                }
                _ => {
                    let _ = writeln!(std::io::stderr(), "pki: error: {msg}");
                }
            }
            if json && !ui::json_emitted() {
                error_doc(e.code(), &text);
            }
            e.code()
        }
    }
}

/// The one document of a `--json` run that failed before printing its own.
fn error_doc(exit_code: u8, message: &str) {
    let doc = json::ErrorDoc {
        version: json::VERSION,
        error: json::ErrorBody {
            exit_code,
            message: message.to_string(),
        },
    };
    let _ = ui::Ui::default().emit_json(&doc);
}
