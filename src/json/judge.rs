//! The `--json` documents of the commands that judge a store: `rotate`,
//! `check`, `verify` and `audit` (re-exported by `json`).

use serde::{Deserialize, Serialize};

// ---- pki rotate / pki check / pki verify ----------------------------------

/// `pki rotate --json` (also with `--dry-run`): the plan, and what was done.
///
/// ```json
/// {"version":1, "dry_run":false,
///  "actions":[{"user":"alice","action":"rotate","reason":"due: 90 days left, inside the 33% window",
///              "old_serial":"3f…","new_serial":"5a…"},
///             {"user":"bob","action":"keep","reason":"not due: 300 days left, due from 2027-…",
///              "old_serial":"61…","new_serial":null}],
///  "ca":{"due":false,"not_after":"2036-…","serial":"1c…","rotated":false,"new_serial":null}}
/// ```
/// `action` is `rotate` or `keep`; `new_serial` is null when nothing was
/// issued (a keep, or any action of a dry run). `ca.due` is true when the CA
/// is inside the `--within` window or expired; `ca.not_after` and
/// `ca.serial` describe the CA the run started with; `ca.rotated` and
/// `ca.new_serial` say whether `--ca` replaced it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateDoc {
    pub version: u32,
    pub dry_run: bool,
    pub actions: Vec<RotateAction>,
    pub ca: RotateCa,
}

/// One user's line of a rotation.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateAction {
    pub user: String,
    /// `rotate` or `keep`.
    pub action: String,
    pub reason: String,
    pub old_serial: String,
    pub new_serial: Option<String>,
}

/// The CA's part of a rotation.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateCa {
    pub due: bool,
    pub not_after: String,
    pub serial: String,
    pub rotated: bool,
    pub new_serial: Option<String>,
}

/// `pki check --json`: the users whose current certificate is due (inside
/// the window, not yet expired) or expired, and whether the CA is due
/// (inside the window or expired).
///
/// ```json
/// {"version":1, "due":["alice"], "expired":["bob"], "ca_due":false, "crl_warning":null, "crl_due":false}
/// ```
/// `crl_warning` is null, or one line saying the CRL needs to be made or
/// published anew (missing, expired, near its next-update, older than a
/// revocation or than the CA). `crl_due` is true when that is an outage
/// alarm rather than a hint (a CRL was made or certificates name a CRL
/// URL): `check` then exits 3, as for a due certificate.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDoc {
    pub version: u32,
    pub due: Vec<String>,
    pub expired: Vec<String>,
    pub ca_due: bool,
    pub crl_warning: Option<String>,
    #[serde(default)]
    pub crl_due: bool,
    /// Set when a CA rollover has sat in one phase for over a week.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollover_warning: Option<String>,
    /// Users whose current certificate is not valid yet (made with a clock ahead).
    #[serde(default)]
    pub not_yet_valid: Vec<String>,
    /// The CA is not valid yet: nothing it signs verifies.
    #[serde(default)]
    pub ca_not_yet_valid: bool,
    /// The command that fixes what was found; null when nothing was.
    #[serde(default)]
    pub fix: Option<String>,
}

/// `pki verify --json`: every check made, passed or failed.
///
/// ```json
/// {"version":1, "ok":false,
///  "findings":[{"user":null,"serial":"1c…","check":"ca-signature","ok":true,"message":"self-signature verifies"},
///              {"user":"alice","serial":"3f…","check":"key-mode","ok":false,"message":"… has mode 0644, want 0600"}]}
/// ```
/// `ok` is true when every finding is. `user` is null for findings about the
/// CA (and for `--cert` files whose CN is unreadable); `serial` is null when
/// no certificate could be read. `check` is one of: `ca-file`, `ca-key`,
/// `ca-signature`, `ca-constraints`, `ca-key-usage`, `ca-validity`,
/// `ca-mode`, `file`, `index`, `chain`, `name`, `validity`, `eku`, `key`,
/// `mode`, `history`, `crl`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyDoc {
    pub version: u32,
    pub ok: bool,
    pub findings: Vec<Finding>,
}

/// One result of `pki verify`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub user: Option<String>,
    pub serial: Option<String>,
    pub check: String,
    pub ok: bool,
    pub message: String,
    /// Present (true) when the check passed with a warning: what the
    /// vendor's openssl procedure makes (docs/migrating.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
}

// ---- pki audit (src/cmd/audit.rs) ----

/// `pki audit show --json`: every intact entry, oldest first (the lines of
/// `audit.jsonl`, documented in src/audit.rs and docs/security.md).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditShowDoc {
    pub version: u32,
    pub entries: Vec<AuditEntry>,
}

/// One line of `audit.jsonl` as `audit show --json` prints it (the same
/// fields, in the same order, as the log).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub command: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// `pki audit verify --json`. Exit 3 when `intact` is false.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditVerifyDoc {
    pub version: u32,
    /// Entries that verified (all of them when intact).
    pub entries: usize,
    pub intact: bool,
    /// 1-based line number of the first broken link; null when intact.
    pub broken_line: Option<usize>,
    /// What is wrong with that line; null when intact.
    pub problem: Option<String>,
    /// The hash of the last intact entry: keep it off this machine to detect a rewritten log.
    pub last_hash: Option<String>,
}
