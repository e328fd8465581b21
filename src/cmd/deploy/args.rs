//! The flags of `pki deploy marathon` and `pki deploy asp`, with their help
//! (clap): the target's own, and [`Connection`], how both reach Marathon.

use std::path::PathBuf;

use crate::deliver::{asp, marathon};
use crate::x509::keys::KeyFormat;

#[derive(Debug, clap::Subcommand)]
pub enum Target {
    /// Set the ephemeral-store env of a running Marathon app, keeping its other variables.
    Marathon(MarathonArgs),
    /// Set ASP_EPHEMERAL_STORE of the running marathon-asp-ctlr app, keeping its other variables and users.
    Asp(AspArgs),
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  pki deploy marathon --url http://marathon.mesos:8080 --user myuser
  pki deploy marathon --url http://marathon.mesos:8080 --dry-run      # show the PUT, send nothing
  pki deploy marathon --url https://dcos.example/service/marathon \\
      --token-file ~/.dcos/token --ca-cert dcos-ca.crt
  pki deploy marathon --url http://m:8080 --create    # POST the app if it is missing

What is sent: GET /v2/apps/ID, then PUT /v2/apps/ID with {\"id\", \"env\"}: the app's
whole env with ORCHESTRATION and the three EPHEMERAL_STORE_* variables set
(Marathon 1.3 replaces env as one map, so every other variable is sent back
as read). Any env change restarts the app's tasks.

No redirect is followed (a 3xx is an error naming its Location). Every send is
recorded in the store's audit log before it leaves, and its outcome after.

When the env already holds exactly that, nothing is sent (\"unchanged: nothing
sent\", recorded in the audit log; no restart); --force-restart sends it anyway.

--by-reference: GET /v2/info first (Marathon 1.4 or later, else exit 2), then the
CA certificate and key are published on the store's Vault, and the PUT carries
{\"id\", \"env\", \"secrets\"} with env references instead of the PEM. The tasks
read the values when they launch: after a rotation the PUT is sent (a restart)
unless the last deploy already carried the same CA.

Exit codes: 0 deployed, unchanged (or planned, with --dry-run); 1 network failure, 401/403,
a redirected PUT or a server error; 2 bad input, app not found (without
--create), a redirected GET or 422 from Marathon; 4 a deployment is in progress
(409; --force supersedes it).")]
pub struct MarathonArgs {
    #[command(flatten)]
    pub conn: Connection,
    /// The Marathon app to update.
    #[arg(long, default_value = marathon::DEFAULT_APP_ID, value_name = "ID")]
    pub app_id: String,
    /// The ephemeral-store user; may be left out when the store has exactly one.
    #[arg(long, value_name = "USER", add = crate::cli::user_names())]
    pub user: Option<String>,
    /// If the app does not exist, create it (POST /v2/apps, the app of `export marathon --format app`).
    #[arg(long)]
    pub create: bool,
    /// Image of the app --create makes.
    #[arg(long, default_value = marathon::DEFAULT_IMAGE, value_name = "IMAGE")]
    pub image: String,
    /// Form of the CA key in the env: native (PKCS#1, as the store documents) or pkcs8.
    #[arg(long, value_enum, default_value_t = KeyFormat::Native)]
    pub key_format: KeyFormat,
    /// Send secret references instead of the CA certificate and key, whose values pki publishes on the store's Vault first (Marathon 1.4 and later, asked with GET /v2/info; docs/vault-by-reference.md).
    #[arg(long)]
    pub by_reference: bool,
}

/// How to reach Marathon and how to send: the flags of every deploy.
#[derive(Debug, clap::Args)]
pub struct Connection {
    /// Marathon's base URL, e.g. http://marathon.mesos:8080 (on DC/OS: https://HOST/service/marathon).
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// Send force=true: supersede a deployment in progress (Marathon answers 409 otherwise).
    #[arg(long)]
    pub force: bool,
    /// Print the request that would be sent (private keys redacted); only the GET is sent.
    #[arg(long)]
    pub dry_run: bool,
    /// Send the PUT even when the app's env already holds exactly what it
    /// would send (by default nothing is sent then: a PUT only restarts the tasks).
    #[arg(long)]
    pub force_restart: bool,
    /// A file holding a DC/OS ACS token, sent as `Authorization: token=...` (default: $DCOS_ACS_TOKEN).
    #[arg(long, value_name = "FILE", conflicts_with = "credentials_file")]
    pub token_file: Option<PathBuf>,
    /// A file holding `user:password` for HTTP basic authentication.
    #[arg(long, value_name = "FILE")]
    pub credentials_file: Option<PathBuf>,
    /// PEM CA certificate(s) to trust for https instead of the public roots (a private or DC/OS CA).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Give up on Marathon after this many seconds per request.
    #[arg(long, default_value_t = 30, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    #[command(flatten)]
    pub lock: crate::cli::Wait,
    #[command(flatten)]
    pub pass: crate::cli::PassphraseFile,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  pki deploy asp --url http://marathon.mesos:8080 --user myuser
  pki deploy asp --url http://marathon.mesos:8080 --user alice bob --dry-run  # send nothing
  pki deploy asp --url http://marathon.mesos:8080 --all-users --remove legacy  # every current user, legacy dropped
  pki deploy asp --url https://dcos.example/service/marathon \\
      --token-file ~/.dcos/token --ca-cert dcos-ca.crt --user myuser

What is sent: GET /v2/apps/ID, then PUT /v2/apps/ID with {\"id\", \"env\"}: the app's
whole env with ASP_EPHEMERAL_STORE updated (the named users' keys and
certificates and root-ca set; host, port and every other user kept unless
--store-host/--store-port say otherwise; users of --remove, and those the store
revoked or superseded, dropped with a warning). Every other variable is sent back as
read. Any env change restarts the controller, which restarts the ASP instances.
No redirect is followed; every send is recorded in the audit log before and after.

When the env already holds exactly that, nothing is sent (\"unchanged: nothing
sent\", recorded in the audit log; no restart); --force-restart sends it anyway.

Exit codes: as deploy marathon: 0 deployed, unchanged (or planned, with --dry-run); 1 network
failure, 401/403, a redirected PUT or a server error; 2 bad input, no such app,
a redirected GET or 422 from Marathon; 4 a deployment is in progress (409; --force).")]
pub struct AspArgs {
    #[command(flatten)]
    pub conn: Connection,
    /// The controller app to update.
    #[arg(long, default_value = asp::DEFAULT_APP_ID, value_name = "ID")]
    pub app_id: String,
    #[command(flatten)]
    pub who: crate::cli::AspUsers,
    /// The store's address as the ASP instances reach it (default: the one the app has).
    #[arg(long, value_name = "HOST")]
    pub store_host: Option<String>,
    /// The store's client port (default: the one the app has).
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub store_port: Option<u16>,
    /// Form of the users' keys: native (PKCS#1 for RSA, as the store documents) or pkcs8.
    #[arg(long, value_enum, default_value_t = KeyFormat::Native)]
    pub key_format: KeyFormat,
    /// Deploy even though the CA or a user key is not RSA (the store's TLS stack cannot use it).
    #[arg(long)]
    pub allow_non_rsa: bool,
    /// Send a secret reference instead of the value, which pki publishes on the store's Vault first with exactly the users named (Marathon 1.4 and later, asked with GET /v2/info; docs/vault-by-reference.md).
    #[arg(long, conflicts_with = "remove")]
    pub by_reference: bool,
}
