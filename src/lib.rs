//! `pki`: a certificate authority for the ASP ephemeral store.
//!
//! `main.rs` only calls [`run`]; every decision lives here where tests reach it.

#![forbid(unsafe_code)]

pub mod audit;
pub mod certinfo;
pub mod cli;
pub mod cmd;
pub mod error;
pub mod fsutil;
pub mod json;
pub mod k8s;
pub mod keys;
pub mod marathon;
pub mod marathon_api;
pub mod names;
pub mod policy;
pub mod profile;
pub mod secret;
pub mod store;

use std::ffi::OsString;
use std::io::{ErrorKind, Write};

use clap::Parser;

use crate::error::{code, Error};

/// Parse `args`, run the command, and return the process exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> u8 {
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let is_usage = e.use_stderr();
            // --help and --version go to stdout with exit 0; real errors are exit 2.
            let _ = e.print();
            return if is_usage { code::USAGE } else { code::OK };
        }
    };
    let quiet = cli.quiet;
    match cmd::dispatch(cli) {
        Ok(()) => code::OK,
        Err(Error::Io { source, .. }) if source.kind() == ErrorKind::BrokenPipe => code::OK,
        Err(e) => {
            if !matches!(e, Error::Attention { .. }) || !quiet {
                let _ = writeln!(std::io::stderr(), "pki: error: {e}");
            }
            e.code()
        }
    }
}
