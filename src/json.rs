//! The `--json` output formats. This module is their specification.
//!
//! Every document is one JSON object on stdout carrying `"version": 1`
//! (the exceptions are `export marathon --format env` and `export asp
//! --format env`, whose output *is* a Marathon `env` object and so can carry
//! no extra key). Timestamps are
//! RFC 3339 UTC, serials lower-case hex, fingerprints SHA-256 over the DER,
//! lower-case hex. Fields may be added in a later version 1; none is ever
//! renamed or removed without raising `version`.
//!
//! The tests read output back into their own copies of these types
//! (tests/it/support/docs.rs, `deny_unknown_fields`), so a field renamed
//! or added here without the documentation and the tests fails a test.
//! This module builds documents from plain values and x509 data, and
//! imports nothing above x509/: `cmd/` converts the layers' types.

use serde::{Deserialize, Serialize};

mod judge;
pub use judge::*;

use crate::x509::cert::{days_left, rfc3339, CertInfo};

/// The version every document carries.
pub const VERSION: u32 = 1;

/// The one encoder of every document (it lives in `ui`, below every layer
/// that writes JSON: the index too).
pub use crate::ui::to_text;

/// With `--json`, a command that failed before printing its document
/// prints this one instead: `{"version":1, "error":{"exit_code":2, "message":"..."}}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDoc {
    pub version: u32,
    pub error: ErrorBody,
}

/// What failed: the exit code and the one-line message of stderr.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub exit_code: u8,
    pub message: String,
}

/// The root CA as `list`, `init` and `show --ca` report it.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
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
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitDoc {
    pub version: u32,
    pub ca: CaSummary,
    pub cert_path: String,
    pub key_path: String,
}

/// One certificate written by `issue` (and later `rotate`, `sign`).
#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueDoc {
    pub version: u32,
    pub issued: Vec<Issued>,
}

/// One row of `pki list`.
#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListDoc {
    pub version: u32,
    pub ca: CaSummary,
    pub certificates: Vec<ListRow>,
}

/// Everything `show` reports of one certificate.
#[derive(Debug, Serialize, Deserialize)]
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

impl CertDetails {
    pub fn new(i: &CertInfo, now: time::OffsetDateTime) -> Self {
        CertDetails {
            subject: i.subject.clone(),
            issuer: i.issuer.clone(),
            common_names: i.common_names.clone(),
            serial: i.serial.to_string(),
            x509_version: i.version,
            not_before: rfc3339(i.not_before),
            not_after: rfc3339(i.not_after),
            days_left: days_left(i.not_after, now),
            key_type: i.key_type.map(|k| k.name().to_string()),
            signature_algorithm: i.signature_algorithm.clone(),
            is_ca: i.is_ca,
            key_usage: i.key_usage.clone(),
            extended_key_usage: i.extended_key_usage.clone(),
            subject_alt_names: i.subject_alt_names.clone(),
            crl_distribution_points: i.crl_urls.clone(),
            fingerprint_sha256: i.fingerprint_sha256.clone(),
        }
    }
}

/// `pki show --json`.
#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportFilesDoc {
    pub version: u32,
    pub user: String,
    pub cert_path: String,
    pub key_path: String,
    pub ca_cert_path: String,
}

/// `pki export riak-admin --json`: the script, as text, and whom it names.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRiakAdminDoc {
    pub version: u32,
    pub cidr: String,
    /// Users added and given the source (and the grants).
    pub users: Vec<String>,
    /// Revoked users whose source the script removes.
    pub revoked: Vec<String>,
    pub script: String,
}

// ---- pki deploy marathon, pki deploy asp ----

/// `pki deploy marathon --json` and `pki deploy asp --json` (also with `--dry-run`).
#[derive(Debug, Serialize, Deserialize)]
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// `deploy asp`: the other users of `ASP_EPHEMERAL_STORE`, sent back unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_users: Vec<String>,
    /// True when the app's env already held exactly what would be sent,
    /// so nothing was (no PUT, no restart; `--force-restart` sends anyway);
    /// `status`, `deployment_id` and `app_version` are then null. Absent
    /// when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
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
    /// `--by-reference`: the values published on the store's Vault before
    /// the request was sent (with `--dry-run`: where they would be; nothing
    /// is published). Absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub published: Vec<PublishedDoc>,
}

// ---- --by-reference (export marathon|asp, deploy marathon|asp) ----

/// One value `--by-reference` published: its name, the KV v2 mount, the
/// path under it (`PATH/published/NAME`, what a secret's `source` names
/// before `@FIELD`) and its fields.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PublishedDoc {
    pub name: String,
    pub mount: String,
    pub path: String,
    pub fields: Vec<String>,
}

/// `pki export marathon --by-reference --json` and `pki export asp
/// --by-reference --json`: what the command prints without `--json`
/// (`document`: the `{"env", "secrets"}` fragment, the app of `--format
/// app`, or the app of `--merge`), and what it published.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportByReferenceDoc {
    pub version: u32,
    pub document: serde_json::Value,
    pub published: Vec<PublishedDoc>,
}

// ---- pki vault policy ----

/// `pki vault policy --json`: the policy's HCL text, and the same rules as data.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultPolicyDoc {
    pub version: u32,
    /// The store's address, `vault://MOUNT/PATH`.
    pub store: String,
    /// `pki` (what pki itself needs) or `marathon` (reading the published values).
    #[serde(rename = "for")]
    pub for_: String,
    pub rules: Vec<PolicyRule>,
    /// The HCL text, as printed without `--json`.
    pub policy: String,
}

/// One `path "..." { capabilities = [...] }` rule.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    pub path: String,
    pub capabilities: Vec<String>,
}

// ---- pki export k8s ----
// `pki export k8s --json` (or `--format json`) prints a Kubernetes `v1`
// `List` of the Secrets and the ConfigMap: like `export marathon --format
// env`, the document is the consumer's own format and carries no "version".
// ---- import, revoke, crl, config (issue #4) ----
// `pki sign --json` and `pki import --user --json` print an `IssueDoc`.

impl Issued {
    /// The report of a certificate that entered the store (signed or imported).
    pub fn from_info(
        user: &str,
        info: &CertInfo,
        cert_path: String,
        key_path: Option<String>,
        replaced_serial: Option<String>,
    ) -> Self {
        Issued {
            user: user.to_string(),
            serial: info.serial.to_string(),
            not_before: rfc3339(info.not_before),
            not_after: rfc3339(info.not_after),
            key_type: info.key_type.map(|t| t.name()).unwrap_or_default().into(),
            fingerprint_sha256: info.fingerprint_sha256.clone(),
            cert_path,
            key_path,
            replaced_serial,
        }
    }
}

/// `pki import --json` (a CA).
#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoked {
    pub user: String,
    pub serial: String,
    pub revoked_at: String,
    /// A reason name of `pki revoke --reason`, e.g. `key-compromise`.
    pub reason: String,
}

/// `pki revoke --json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeDoc {
    pub version: u32,
    /// Null when it was revoked already (nothing done).
    pub revoked: Option<Revoked>,
}

/// `pki crl --json`.
#[derive(Debug, Serialize, Deserialize)]
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
    /// During a CA rollover, the other CA's CRL, made beside it and signed
    /// by that CA (docs/rollover.md); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<OtherCrlDoc>,
}

/// The rollover's other CA's CRL in [`CrlDoc`]: the same number and dates.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtherCrlDoc {
    pub ca_serial: String,
    pub path: String,
    pub out: Option<String>,
    /// Where this CA's certificates say its CRL is published.
    pub crl_url: Option<String>,
    pub pem: String,
    pub revoked: Vec<Revoked>,
}

/// `pki config --json` (show, set, unset): the settings after the command.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDoc {
    pub version: u32,
    pub crl_url: Option<String>,
}

/// `pki store copy --json`: what was copied where.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreCopyDoc {
    pub version: u32,
    /// The source: a directory or a `vault://` address.
    pub from: String,
    pub to: String,
    /// Certificates, keys and CRLs copied (every file the index names).
    pub files: u64,
    /// Lines of the copy's audit log, the last one saying where it came from.
    pub audit_lines: u64,
}

/// `pki completions SHELL --json`: the script, as text.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionsDoc {
    pub version: u32,
    pub shell: String,
    pub script: String,
}

/// `pki man --json`: the pages written (`--out`), or the top page's roff text.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManDoc {
    pub version: u32,
    /// The files written with `--out`, sorted; empty without it.
    pub written: Vec<String>,
    /// The top page (`pki.1`) without `--out`; null with it.
    pub page: Option<String>,
}

// ---- rollover (docs/rollover.md) ----

/// `pki rollover start|status|advance|abort --json`: where the rollover
/// stands after the command, and what each app must carry now.
///
/// `phase` is `none` (no rollover in progress; the text output says `phase: done`),
/// `trust` or `switch`; `action` is what
/// the command did: `status`, `started`, `advanced`, `done`, `aborted`.
/// `store_ca_certs` lists the serials of `EPHEMERAL_STORE_ROOT_CA_CERT` in
/// order (the first signs, with the key of serial `store_ca_key`);
/// `client_root_ca` the serials of the clients' root CA bundle;
/// `users_signed_by` the CA serial of the user certificates.
#[derive(Debug, Serialize, Deserialize)]
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

/// `pki probe --json`: one row per user and node, in the order probed.
///
/// ```json
/// {"version":1, "within":"33%", "timeout_seconds":5, "ok":false,
///  "results":[{"user":"alice","node":"10.0.0.5:8087","logged_in":true,"stage":"done",
///              "failure":null,"tls_alert":null,"riak_error":null,
///              "protocol":"TLSv1.2","cipher":"ECDHE-RSA-AES128-SHA",
///              "node_certificate":{"subject":"CN=riak@10.0.0.5","issuer":"CN=rootCA",
///                "serial":"07","not_after":"2027-12-06T21:00:00Z","days_left":364,"status":"valid"},
///              "elapsed_ms":41}]}
/// ```
/// `stage` is where the login stopped: `connect`, `starttls`, `tls`,
/// `auth`, `ping`, or `done` (logged in and answered a ping). `failure`
/// is the one-line reason (null when logged in); `tls_alert` the alert
/// the node sent (`unknown_ca`, `certificate_revoked`, ...), `riak_error`
/// the node's `RpbErrorResp` message (`Authentication failed`).
/// `protocol`, `cipher` and `node_certificate` are null when the
/// handshake did not get that far (`node_certificate` is set, unverified,
/// when the node's certificate was what failed). `status` is `valid`,
/// `due` (within `--within` of its expiry), `expired` or `not-yet-valid`.
/// `ok` is true when every login succeeded and no node certificate is due.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeDoc {
    pub version: u32,
    pub within: String,
    pub timeout_seconds: u64,
    pub ok: bool,
    pub results: Vec<ProbeResult>,
}

/// One login of `pki probe`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeResult {
    pub user: String,
    pub node: String,
    pub logged_in: bool,
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
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeCertificate {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_after: String,
    pub days_left: i64,
    pub status: String,
}
