//! Output for people and scripts: messages on stderr, data on stdout, and
//! the progress bar.

pub mod progress;
pub mod prometheus;

use std::borrow::Cow;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::error::{Error, Result};

/// `s` with every control character written as its escape (`\u{1b}`,
/// `\n`), except newlines when `keep_newlines`: text that came from
/// outside (certificate subjects, CSRs, file names, a server's message)
/// cannot move the cursor, clear the screen or fake a line of output.
pub fn escape(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() && !(keep_newlines && c == '\n');
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if bad(c) {
                    c.escape_debug().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

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
            let _ = writeln!(std::io::stderr(), "{}", escape(msg.as_ref(), false));
        }
    }

    /// Each message of a list (or an Option), in order.
    pub fn say_all<S: AsRef<str>>(&self, msgs: impl IntoIterator<Item = S>) {
        for m in msgs {
            self.say(m);
        }
    }

    /// A warning on stderr; shown even with --quiet.
    pub fn warn(&self, msg: impl AsRef<str>) {
        let _ = writeln!(
            std::io::stderr(),
            "pki: warning: {}",
            escape(msg.as_ref(), false)
        );
    }

    /// Each warning of a list (or an Option), in order.
    pub fn warn_all<S: AsRef<str>>(&self, msgs: impl IntoIterator<Item = S>) {
        for m in msgs {
            self.warn(m);
        }
    }

    /// Detail for --verbose, on stderr, with the time since the start.
    pub fn detail(&self, msg: impl AsRef<str>) {
        if self.verbose {
            match GLOBAL.get() {
                Some(_) => trace(msg),
                None => {
                    let _ = writeln!(std::io::stderr(), "{}", escape(msg.as_ref(), false));
                }
            }
        }
    }

    /// Text for people on stdout (tables, `show`), its control characters
    /// escaped but its line breaks kept. Machine output (JSON, PEM, env
    /// blocks) goes through [`Ui::data`] unchanged.
    pub fn text(&self, text: &str) -> Result<()> {
        self.data(&escape(text, true))
    }

    /// Data on stdout. A closed pipe surfaces as BrokenPipe, which `run` treats as success.
    pub fn data(&self, text: &str) -> Result<()> {
        self.data_bytes(text.as_bytes())
    }

    /// Binary data on stdout (a DER CRL into a pipe).
    pub fn data_bytes(&self, bytes: &[u8]) -> Result<()> {
        if self.json {
            // With --json whatever goes to stdout is the run's one document.
            EMITTED.store(true, Ordering::SeqCst);
        }
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)
            .and_then(|_| out.flush())
            .map_err(|e| Error::io("write to", std::path::Path::new("stdout"), e))
    }

    /// A JSON document on stdout, pretty-printed, newline-terminated.
    pub fn emit_json<T: Serialize>(&self, doc: &T) -> Result<()> {
        let text = to_text(doc, "the output")?;
        EMITTED.store(true, Ordering::SeqCst);
        self.data(&text)
    }
}

/// The run's output options, for the layers below `cmd/` that report what
/// they read and write (`trace`) or that they wait (`notice`); set once by
/// `Ctx`. Unset (library use, unit tests): they say nothing.
static GLOBAL: std::sync::OnceLock<(Ui, std::time::Instant)> = std::sync::OnceLock::new();

/// Make `ui` the run's output options; the clock of `trace` starts here.
pub fn set_global(ui: Ui) {
    let _ = GLOBAL.set((ui, std::time::Instant::now()));
}

/// `-v`: what was read or written and why, with the time since the start,
/// e.g. `pki: 12.3 ms: wrote pki/index.json (the commit point)`.
pub fn trace(msg: impl AsRef<str>) {
    if let Some((ui, start)) = GLOBAL.get() {
        if ui.verbose {
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            let _ = writeln!(std::io::stderr(), "pki: {ms:.1} ms: {}", msg.as_ref());
        }
    }
}

/// A message for people from below `cmd/` (silenced by --quiet).
pub fn notice(msg: impl AsRef<str>) {
    if let Some((ui, _)) = GLOBAL.get() {
        ui.say(format!("pki: {}", msg.as_ref()));
    }
}

/// Whether this run has printed its JSON document (so a failure after it
/// prints no second one).
static EMITTED: AtomicBool = AtomicBool::new(false);

/// Whether a JSON document went to stdout in this run.
pub fn json_emitted() -> bool {
    EMITTED.load(Ordering::SeqCst)
}

/// `doc` as pretty JSON text ending in a newline: the one encoder of every
/// document pki prints or writes.
pub fn to_text<T: Serialize + ?Sized>(doc: &T, what: &str) -> crate::error::Result<String> {
    let mut s = serde_json::to_string_pretty(doc).map_err(|source| crate::error::Error::Json {
        what: what.into(),
        source,
    })?;
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_text_is_kept() {
        assert_eq!(escape("plain é", false), "plain é");
        assert_eq!(escape("a\u{1b}[2Jb\u{7}", false), "a\\u{1b}[2Jb\\u{7}");
        assert_eq!(escape("one\ntwo\r", false), "one\\ntwo\\r");
        assert_eq!(escape("one\ntwo\u{7f}", true), "one\ntwo\\u{7f}");
    }
}
