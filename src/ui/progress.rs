//! A progress bar for long batches: key generation in `pki issue` (and any
//! command that issues through `cmd::issue::issue_batch`, such as `rotate`).
//!
//! It is for a person watching a terminal, so it is drawn only when stderr
//! *and* stdout are terminals (never into a pipe, a file or a log), never
//! with `--json` or `--quiet`, and never for a single step. Otherwise
//! [`Progress`] is a silent stand-in, so callers tick it unconditionally.
//! The bar draws on stderr and is cleared when the batch ends, leaving only
//! the usual one-line-per-user report.
//!
//! ```ignore
//! let bar = Progress::new(&ctx.ui, keys.len(), "generating keys");
//! for .. { work(); bar.inc(); }   // `inc` is cheap and thread-safe
//! ```                             // dropped: the bar is cleared

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ui::Ui;

/// The label the bar shows before its count (tests look for it).
pub const KEYS_LABEL: &str = "generating keys";

/// A progress bar, or nothing when no person is watching.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar of `len` steps labelled `label`, shown only if [`wanted`].
    pub fn new(ui: &Ui, len: usize, label: &str) -> Self {
        if !wanted(ui, len) {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
        // ASCII only: the bar must render on any terminal and locale.
        let style = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})")
            .expect("the template is valid")
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(label.to_string());
        // Draw at once, so even a batch that finishes quickly shows its size.
        bar.tick();
        Progress { bar: Some(bar) }
    }

    /// One step done. Safe to call from several threads at once.
    pub fn inc(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }
}

impl Drop for Progress {
    /// Clear the bar, whether the batch finished or failed part-way.
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// Whether to draw a bar of `len` steps: more than one step, neither
/// `--json` nor `--quiet`, and both output streams are terminals.
pub fn wanted(ui: &Ui, len: usize) -> bool {
    shown_for(
        len,
        ui.json,
        ui.quiet,
        std::io::stderr().is_terminal() && std::io::stdout().is_terminal(),
        std::env::var_os("TERM").is_some_and(|t| t == "dumb"),
    )
}

/// The decision of [`wanted`], apart from the process's streams.
fn shown_for(len: usize, json: bool, quiet: bool, terminals: bool, dumb: bool) -> bool {
    len > 1 && !json && !quiet && terminals && !dumb
}

#[cfg(test)]
mod tests {
    use super::shown_for;

    #[test]
    fn only_a_person_at_a_terminal_sees_the_bar() {
        // (len, json, quiet, terminals, dumb) -> shown
        let cases = [
            ((20, false, false, true, false), true),
            ((1, false, false, true, false), false),
            ((0, false, false, true, false), false),
            ((20, true, false, true, false), false),
            ((20, false, true, true, false), false),
            ((20, false, false, false, false), false),
            ((20, false, false, true, true), false),
        ];
        for ((len, json, quiet, terms, dumb), want) in cases {
            assert_eq!(
                shown_for(len, json, quiet, terms, dumb),
                want,
                "{len} {json} {quiet} {terms} {dumb}"
            );
        }
    }
}
