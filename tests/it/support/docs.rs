//! The tests' own reading of the `--json` documents pki prints
//! (docs/formats.md; the producer's side is src/json.rs). They are written
//! out here rather than taken from `pki::json`, so that a field renamed or
//! added in production makes a test fail instead of changing both sides.
//! Every type refuses unknown fields. Not every field is read by a test.
#![allow(dead_code)]

use serde::Deserialize;

/// With `--json`, a command that failed before printing its document
/// prints this one instead: `{"version":1, "error":{"exit_code":2, "message":"..."}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDoc {
    pub version: u32,
    pub error: ErrorBody,
}

/// What failed: the exit code and the one-line message of stderr.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub exit_code: u8,
    pub message: String,
}

/// The root CA as `list`, `init` and `show --ca` report it.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CaSummary {
    pub subject: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    pub key_type: String,
    pub fingerprint_sha256: String,
}

/// `pki init --json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitDoc {
    pub version: u32,
    pub ca: CaSummary,
    pub cert_path: String,
    pub key_path: String,
}

/// One certificate written by `issue` (and later `rotate`, `sign`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issued {
    pub user: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub key_type: String,
    pub fingerprint_sha256: String,
    pub cert_path: String,
    /// Null when the key is not in the store.
    pub key_path: Option<String>,
    /// The serial this certificate replaced, if any.
    pub replaced_serial: Option<String>,
}

/// `pki issue --json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueDoc {
    pub version: u32,
    pub issued: Vec<Issued>,
}

/// One row of `pki list`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRow {
    pub user: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    /// `valid`, `due`, `expired`, `revoked`; and with `--all`, `superseded`.
    pub status: String,
    pub key_type: String,
    pub fingerprint_sha256: String,
}

/// `pki list --json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListDoc {
    pub version: u32,
    pub ca: CaSummary,
    pub certificates: Vec<ListRow>,
}

/// Everything `show` reports of one certificate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertDetails {
    pub subject: String,
    pub issuer: String,
    pub common_names: Vec<String>,
    pub serial: String,
    pub x509_version: u32,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    /// Null when pki does not support the key algorithm or size.
    pub key_type: Option<String>,
    pub signature_algorithm: String,
    pub is_ca: bool,
    pub key_usage: Vec<String>,
    pub extended_key_usage: Vec<String>,
    pub subject_alt_names: Vec<String>,
    pub crl_distribution_points: Vec<String>,
    pub fingerprint_sha256: String,
}

/// `pki show --json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowDoc {
    pub version: u32,
    /// The user the certificate belongs to; null for `--ca` and `--file`.
    pub user: Option<String>,
    /// `valid`, `due`, `expired`, `revoked`, `superseded`; null for `--file`.
    pub status: Option<String>,
    pub certificate: CertDetails,
}

/// `pki export files --json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportFilesDoc {
    pub version: u32,
    pub user: String,
    pub cert_path: String,
    pub key_path: String,
    pub ca_cert_path: String,
}

/// `pki deploy marathon --json` and `pki deploy asp --json` (also with `--dry-run`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployDoc {
    pub version: u32,
    pub dry_run: bool,
    /// The app, with its leading slash (`/ephemeral-store`).
    pub app_id: String,
    /// The ephemeral-store user whose env was sent.
    pub user: String,
    /// `update` (PUT of the merged env) or `create` (POST of the full app, `--create`).
    pub action: String,
    /// `PUT` or `POST`.
    pub method: String,
    /// The URL of that request, with `?force=true` when `--force` was given.
    pub url: String,
    /// Names of the app's other env variables, sent back unchanged.
    pub kept_env: Vec<String>,
    /// `deploy asp`: the users whose keys and certificates were set
    /// (`user` then holds them joined by spaces). Absent for `deploy marathon`.
    #[serde(default)]
    pub users: Vec<String>,
    /// `deploy asp`: the other users of `ASP_EPHEMERAL_STORE`, sent back unchanged.
    #[serde(default)]
    pub kept_users: Vec<String>,
    /// True when the app already held what would be sent, so nothing was. Absent when false.
    #[serde(default)]
    pub unchanged: bool,
    /// Marathon's HTTP status (200 updated, 201 created); null with `--dry-run`.
    pub status: Option<u16>,
    /// Marathon's deployment id; null with `--dry-run` or when Marathon gave none.
    pub deployment_id: Option<String>,
    /// The app version Marathon assigned; null with `--dry-run` or when Marathon gave none.
    pub app_version: Option<String>,
    /// `--dry-run` only: the request body, the root CA key replaced by
    /// `<redacted: root CA private key>` and each user's key in
    /// `ASP_EPHEMERAL_STORE` by `<redacted: private key of USER>`; null otherwise.
    pub body: Option<serde_json::Value>,
    /// `--by-reference`: the values published before the request (with
    /// `--dry-run`: where they would be). Absent otherwise.
    #[serde(default)]
    pub published: Vec<PublishedDoc>,
}

/// One value `--by-reference` published: name, KV v2 mount, path under it, fields.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PublishedDoc {
    pub name: String,
    pub mount: String,
    pub path: String,
    pub fields: Vec<String>,
}

/// `pki export marathon|asp --by-reference --json`: what is printed
/// without `--json` (`document`) and what was published.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportByReferenceDoc {
    pub version: u32,
    pub document: serde_json::Value,
    pub published: Vec<PublishedDoc>,
}

/// `pki vault policy --json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultPolicyDoc {
    pub version: u32,
    pub store: String,
    #[serde(rename = "for")]
    pub for_: String,
    pub rules: Vec<PolicyRule>,
    pub policy: String,
}

/// One rule of a Vault policy: a path and its capabilities.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    pub path: String,
    pub capabilities: Vec<String>,
}

/// `pki import --json` (a CA).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportCaDoc {
    pub version: u32,
    pub ca: CaSummary,
    /// 1 for the v1 certificates the documented openssl commands make, else 3.
    pub x509_version: u32,
    pub cert_path: String,
    pub key_path: String,
    /// User certificates of a replaced CA, now superseded (0 unless --force).
    pub retired_certificates: usize,
    /// The CA key is kept encrypted in the store.
    #[serde(default)]
    pub key_encrypted: bool,
    /// The store already held this very CA; nothing was changed.
    #[serde(default)]
    pub nothing_to_do: bool,
}

/// One revoked certificate, as `revoke` and `crl` report it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoked {
    pub user: String,
    pub serial: String,
    pub revoked_at: String,
    /// A reason name of `pki revoke --reason`, e.g. `key-compromise`.
    pub reason: String,
}

/// `pki revoke --json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeDoc {
    pub version: u32,
    /// Null when it was revoked already (nothing done).
    pub revoked: Option<Revoked>,
}

/// `pki crl --json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrlDoc {
    pub version: u32,
    pub crl_number: u64,
    pub this_update: String,
    pub next_update: String,
    /// Where the store keeps this CRL.
    pub path: String,
    /// The --out copy, if any.
    pub out: Option<String>,
    /// Where certificates say the CRL is published; null when not configured.
    pub crl_url: Option<String>,
    /// The CRL itself, PEM.
    pub pem: String,
    pub revoked: Vec<Revoked>,
}

/// `pki config --json` (show, set, unset): the settings after the command.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDoc {
    pub version: u32,
    pub crl_url: Option<String>,
}

/// `pki completions SHELL --json`: the script, as text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionsDoc {
    pub version: u32,
    pub shell: String,
    pub script: String,
}

/// `pki man --json`: the pages written (`--out`), or the top page's roff text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManDoc {
    pub version: u32,
    /// The files written with `--out`, sorted; empty without it.
    pub written: Vec<String>,
    /// The top page (`pki.1`) without `--out`; null with it.
    pub page: Option<String>,
}

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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateDoc {
    pub version: u32,
    pub dry_run: bool,
    pub actions: Vec<RotateAction>,
    pub ca: RotateCa,
}

/// One user's line of a rotation.
#[derive(Debug, Deserialize)]
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
#[derive(Debug, Deserialize)]
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
#[derive(Debug, Deserialize)]
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
    #[serde(default)]
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
/// `mode`, `history`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyDoc {
    pub version: u32,
    pub ok: bool,
    pub findings: Vec<Finding>,
}

/// One result of `pki verify`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub user: Option<String>,
    pub serial: Option<String>,
    pub check: String,
    pub ok: bool,
    pub message: String,
}

/// `pki audit show --json`: every intact entry, oldest first (the lines of
/// `audit.jsonl`, documented in src/audit.rs and docs/security.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditShowDoc {
    pub version: u32,
    pub entries: Vec<AuditEntry>,
}

/// `pki audit verify --json`. Exit 3 when `intact` is false.
#[derive(Debug, Deserialize)]
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

/// `pki rollover start|status|advance|abort --json`: where the rollover
/// stands after the command, and what each app must carry now.
///
/// `phase` is `none` (no rollover), `trust` or `switch`; `action` is what
/// the command did: `status`, `started`, `advanced`, `done`, `aborted`.
/// `store_ca_certs` lists the serials of `EPHEMERAL_STORE_ROOT_CA_CERT` in
/// order (the first signs, with the key of serial `store_ca_key`);
/// `client_root_ca` the serials of the clients' root CA bundle;
/// `users_signed_by` the CA serial of the user certificates.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloverDoc {
    pub version: u32,
    pub action: String,
    pub phase: String,
    pub started_at: Option<String>,
    pub phase_since: Option<String>,
    pub current_ca: CaSummary,
    pub other_ca: Option<CaSummary>,
    pub store_ca_certs: Vec<String>,
    pub store_ca_key: String,
    pub client_root_ca: Vec<String>,
    pub users_signed_by: String,
    /// What to deploy now, and the command that comes after.
    pub next: Vec<String>,
    /// Users re-issued by this command (entering `switch`).
    pub issued: Vec<Issued>,
}

/// One line of the audit log as `audit show --json` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub command: String,
    pub event: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    pub prev_hash: String,
    #[serde(default)]
    pub hash: String,
}

/// `pki probe --json`: one row per user and node.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeDoc {
    pub version: u32,
    pub within: String,
    pub timeout_seconds: u64,
    pub ok: bool,
    pub results: Vec<ProbeResult>,
}

/// One login of `pki probe`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeResult {
    pub user: String,
    pub node: String,
    pub logged_in: bool,
    /// `connect`, `starttls`, `tls`, `auth`, `ping` or `done`.
    pub stage: String,
    pub failure: Option<String>,
    pub tls_alert: Option<String>,
    pub riak_error: Option<String>,
    pub protocol: Option<String>,
    pub cipher: Option<String>,
    pub node_certificate: Option<NodeCertificate>,
    pub elapsed_ms: u64,
}

/// The certificate a node presented, as `pki probe` saw it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeCertificate {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_after: String,
    pub days_left: i64,
    /// `valid`, `due`, `expired` or `not-yet-valid`.
    pub status: String,
}
