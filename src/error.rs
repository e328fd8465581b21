//! The one error type of `pki`, with the stable exit codes of `docs/exit-codes.md`.
//!
//! Every variant renders as a single line: what went wrong, then what to do
//! about it. No variant ever carries key material; paths and names only.

use std::fmt;
use std::path::{Path, PathBuf};

/// Exit codes. Stable: scripts and monitoring depend on them.
pub mod code {
    /// Success, including "nothing to do".
    pub const OK: u8 = 0;
    /// Failure while working: I/O, crypto, network, a failed `--on-change` hook.
    pub const FAILURE: u8 = 1;
    /// Usage error or invalid input; nothing was changed.
    pub const USAGE: u8 = 2;
    /// Attention: `check` found something due or expired, `verify` found a problem.
    pub const ATTENTION: u8 = 3;
    /// Refused: the store is locked, or the command would overwrite without `--force`.
    pub const REFUSED: u8 = 4;
}

#[derive(Debug)]
pub enum Error {
    /// Bad flags or arguments (exit 2).
    Usage { msg: String, hint: String },
    /// Malformed or unacceptable input (exit 2).
    Input { msg: String, hint: String },
    /// An input file that could not be read (exit 2).
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The store was not found or is not a store (exit 2).
    NoStore { dir: PathBuf },
    /// Would overwrite, or another `pki` holds the lock (exit 4).
    Refused { msg: String, hint: String },
    /// Something needs attention (exit 3); findings were already printed.
    Attention { msg: String },
    /// I/O failure while working (exit 1).
    Io {
        what: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Any other failure while working (exit 1).
    Failed { msg: String, hint: String },
    /// The user already has a current certificate and `--force` was not given (exit 4).
    UserHasCert { user: String },
    /// The store has no certificate for the user (exit 2).
    NoUser { user: String },
    /// The store already holds a root CA and `--force` was not given (exit 4).
    CaExists { dir: PathBuf },
    /// The CA has expired: nothing can be signed under it (exit 2).
    CaExpired { not_after: String },
    /// The CA is not valid yet: nothing signed under it would verify (exit 2).
    CaNotYetValid { not_before: String },
    /// Another `pki` holds the store lock (exit 4); `holder` is what the
    /// lock file says of it ("pid 4242 on host-1 (pki rotate)").
    Locked { dir: PathBuf, holder: String },
    /// An entry of `index.json` is not what pki writes (exit 2): a name,
    /// path or serial no command would accept.
    BadIndex {
        path: PathBuf,
        entry: String,
        problem: String,
    },
    /// The store path names something that is not a directory (exit 2).
    StoreIsFile { dir: PathBuf },
    /// A file would be overwritten and `--force` was not given (exit 4);
    /// `instead` names the flag that picks another destination.
    Exists {
        path: PathBuf,
        instead: &'static str,
    },
    /// A certificate whose key type pki does not support (exit 2); `what`
    /// names it ("the CA certificate").
    UnsupportedKey { what: String },
    /// A document could not be encoded as JSON (exit 1).
    Json {
        what: String,
        source: serde_json::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn usage(msg: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Usage {
            msg: msg.into(),
            hint: hint.into(),
        }
    }
    pub fn input(msg: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Input {
            msg: msg.into(),
            hint: hint.into(),
        }
    }
    pub fn refused(msg: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Refused {
            msg: msg.into(),
            hint: hint.into(),
        }
    }
    pub fn failed(msg: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Failed {
            msg: msg.into(),
            hint: hint.into(),
        }
    }
    pub fn io(what: impl Into<String>, path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            path: path.to_path_buf(),
            source,
        }
    }
    /// A crypto-library failure. The library's message never contains key bytes.
    pub fn crypto(what: &str, err: impl fmt::Display) -> Self {
        Error::failed(
            format!("{what}: {err}"),
            "this is a bug or a broken crypto library; please report it",
        )
    }

    /// The process exit code for this error.
    pub fn code(&self) -> u8 {
        match self {
            Error::Usage { .. }
            | Error::Input { .. }
            | Error::Read { .. }
            | Error::NoStore { .. } => code::USAGE,
            Error::NoUser { .. }
            | Error::BadIndex { .. }
            | Error::CaExpired { .. }
            | Error::CaNotYetValid { .. }
            | Error::StoreIsFile { .. }
            | Error::UnsupportedKey { .. } => code::USAGE,
            Error::Refused { .. }
            | Error::UserHasCert { .. }
            | Error::CaExists { .. }
            | Error::Locked { .. }
            | Error::Exists { .. } => code::REFUSED,
            Error::Attention { .. } => code::ATTENTION,
            Error::Io { .. } | Error::Failed { .. } | Error::Json { .. } => code::FAILURE,
        }
    }
}

impl Error {
    /// What went wrong and what to do, for the variants worded in two parts.
    fn parts(&self) -> Option<(String, String)> {
        Some(match self {
            Error::Usage { msg, hint }
            | Error::Input { msg, hint }
            | Error::Refused { msg, hint }
            | Error::Failed { msg, hint } => (msg.clone(), hint.clone()),
            Error::StoreIsFile { dir } => (
                format!("{} exists and is not a directory", dir.display()),
                "choose another --dir (or PKI_DIR), or move that file away".into(),
            ),
            Error::Exists { path, instead } => (
                format!("{} already exists", path.display()),
                format!("pass --force to replace it, or choose another {instead}"),
            ),
            Error::UnsupportedKey { what } => (
                format!("{what} has a key type pki does not support"),
                "use RSA, ECDSA P-256/P-384 or Ed25519".into(),
            ),
            _ => return None,
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((msg, hint)) = self.parts() {
            return if hint.is_empty() {
                write!(f, "{msg}")
            } else {
                write!(f, "{msg}; {hint}")
            };
        }
        match self {
            Error::Usage { .. }
            | Error::Input { .. }
            | Error::Refused { .. }
            | Error::Failed { .. }
            | Error::StoreIsFile { .. }
            | Error::Exists { .. }
            | Error::UnsupportedKey { .. } => unreachable!("worded by parts()"),
            Error::Read { path, source } => write!(
                f,
                "cannot read {}: {}; check the path and its permissions",
                path.display(),
                one_line(source)
            ),
            Error::NoStore { dir } => match dir.to_str().filter(|d| d.starts_with("vault://")) {
                Some(address) => write!(
                    f,
                    "no pki store at {address}; run `pki init` to create one there, or point --store (or PKI_STORE) at an existing store"
                ),
                None => write!(
                    f,
                    "no pki store at {}; run `pki init` to create one there, or point --dir (or PKI_DIR) at an existing store",
                    shown_dir(dir)
                ),
            },
            Error::Attention { msg } => write!(f, "{msg}"),
            Error::UserHasCert { user } => write!(
                f,
                "user {user:?} already has a certificate; pass --force to replace it (the old one stays in history), or renew it with `pki rotate`"
            ),
            Error::NoUser { user } => write!(
                f,
                "no certificate for user {user:?} in the store; see `pki list` for the users there, or issue one with `pki issue USER`"
            ),
            Error::CaExists { dir } => write!(
                f,
                "{} already holds a root CA; pass --force to replace it (the old CA stays in history), or use another --dir",
                dir.display()
            ),
            Error::CaExpired { not_after } => write!(
                f,
                "the root CA expired on {not_after}; make a new one with `pki rotate --ca --force` (it re-issues every user; then redeploy the store and its clients)"
            ),
            Error::CaNotYetValid { not_before } => write!(
                f,
                "the root CA is not valid before {not_before}, so nothing it signs would verify; check this machine's clock, or make a new one with `pki rotate --ca --force`"
            ),
            Error::Locked { dir, holder } => write!(
                f,
                "another pki is working on the store {} (held by {holder}); try again when it has finished, or pass --wait to wait for it",
                dir.display()
            ),
            Error::BadIndex { path, entry, problem } => write!(
                f,
                "{}: {entry} {problem}; pki will not act on it: correct that entry, or restore the index from a backup",
                path.display()
            ),
            Error::Json { what, source } => write!(
                f,
                "cannot encode {what} as JSON: {}; this is a bug, please report it",
                one_line(source)
            ),
            Error::Io { what, path, source } => write!(
                f,
                "cannot {what} {}: {}; check free space and permissions, then run the command again",
                path.display(),
                one_line(source)
            ),
        }
    }
}

impl Error {
    /// What went wrong, without the hint of what to do (for an error that
    /// becomes part of another message).
    pub fn what(&self) -> String {
        match self.parts() {
            Some((msg, _)) => msg,
            None => self.to_string(),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { source, .. } | Error::Io { source, .. } => Some(source),
            Error::Json { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A directory as a person reads it: a relative `pki` shows as `./pki`, so
/// it reads as a directory and not as the program's name.
pub fn shown_dir(dir: &Path) -> String {
    match dir.components().next() {
        Some(std::path::Component::Normal(_)) => format!("./{}", dir.display()),
        _ => dir.display().to_string(),
    }
}

/// Text that does not parse as PEM: "damaged" when it looks like PEM (a
/// truncated or edited file), else "not a PEM {kind}" with `hint`.
pub fn bad_pem(text: &str, what: &str, kind: &str, hint: &str) -> Error {
    if text.contains("-----BEGIN ") {
        Error::input(
            format!("{what} looks like PEM but is damaged (truncated or edited)"),
            format!("check that the {kind} file is complete and unmodified"),
        )
    } else {
        Error::input(format!("{what} is not a PEM {kind}"), hint)
    }
}

/// An error's text on one line, whatever the source printed.
pub fn one_line(e: &impl fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_documented_table() {
        let cases: Vec<(Error, u8)> = vec![
            (Error::usage("x", "y"), 2),
            (Error::input("x", "y"), 2),
            (Error::NoStore { dir: "d".into() }, 2),
            (
                Error::Read {
                    path: "p".into(),
                    source: std::io::Error::other("e"),
                },
                2,
            ),
            (Error::Attention { msg: "a".into() }, 3),
            (Error::refused("x", "y"), 4),
            (
                Error::io("write", Path::new("p"), std::io::Error::other("e")),
                1,
            ),
            (Error::failed("x", "y"), 1),
            (Error::UserHasCert { user: "u".into() }, 4),
            (Error::NoUser { user: "u".into() }, 2),
            (Error::CaExists { dir: "d".into() }, 4),
            (
                Error::CaExpired {
                    not_after: "t".into(),
                },
                2,
            ),
            (
                Error::CaNotYetValid {
                    not_before: "t".into(),
                },
                2,
            ),
            (
                Error::Locked {
                    dir: "d".into(),
                    holder: "pid 1 on host-1 (pki issue)".into(),
                },
                4,
            ),
            (
                Error::BadIndex {
                    path: "i".into(),
                    entry: "e".into(),
                    problem: "p".into(),
                },
                2,
            ),
        ];
        for (e, c) in cases {
            assert_eq!(e.code(), c, "{e:?}");
        }
    }

    #[test]
    fn messages_are_one_line_and_say_what_to_do() {
        let e = Error::io(
            "write",
            Path::new("/s/x"),
            std::io::Error::other("disk\nfull"),
        );
        let s = e.to_string();
        assert!(!s.contains('\n'), "{s}");
        assert!(
            s.contains("/s/x") && s.contains("disk full") && s.contains("run the command again")
        );
    }
}
