//! Output for people and scripts: messages on stderr, data on stdout, and
//! the progress bar.

pub mod progress;

use std::io::Write;

use serde::Serialize;

use crate::error::{Error, Result};

/// The global output options, and the one place that writes to the two streams.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ui {
    /// `--json`: stdout carries one versioned JSON document.
    pub json: bool,
    /// `--quiet`: no messages on stderr but warnings and errors.
    pub quiet: bool,
    /// `--verbose`: detail on stderr.
    pub verbose: bool,
}

impl Ui {
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

    /// Each warning of a list (or an Option), in order.
    pub fn warn_all<S: AsRef<str>>(&self, msgs: impl IntoIterator<Item = S>) {
        for m in msgs {
            self.warn(m);
        }
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
        self.data(&crate::json::to_text(doc, "the output")?)
    }
}
