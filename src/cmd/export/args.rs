//! The flags of `pki export marathon|files|k8s|asp|riak-admin`, with their
//! help (clap).

use std::path::PathBuf;

use crate::deliver::asp;
use crate::deliver::{k8s, marathon, riak_admin};
use crate::x509::keys::KeyFormat;

#[derive(Debug, clap::Subcommand)]
pub enum Target {
    /// The Marathon env block (default), a full app definition, or an app file with its env updated.
    Marathon(MarathonArgs),
    /// Certificate, key and CA certificate as plain PEM files for other tools.
    Files(FilesArgs),
    /// Kubernetes Secrets and ConfigMap for the same material, for `kubectl apply -f -`.
    K8s(K8sArgs),
    /// The ASP controller's ASP_EPHEMERAL_STORE (users' keys and certificates, root CA), a full controller app, or an app file with it updated.
    Asp(AspArgs),
    /// The `riak-admin security` commands that add the store's users and their certificate source to Riak.
    RiakAdmin(RiakAdminArgs),
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  pki export riak-admin --cidr 10.0.0.0/8 > riak-users.sh\n  pki export riak-admin --cidr 10.0.0.0/8 --grant riak_kv.get,riak_kv.put,riak_kv.delete\n\nFor every user with a current certificate: add-user (guarded by print-user, so\nthe script can run twice), one add-source ... certificate for the network given,\nand with --grant a grant ... on any line; users whose certificate is revoked\nlose their source (del-source). Run it where riak-admin reaches a store node."
)]
pub struct RiakAdminArgs {
    /// The clients' network, as Riak matches it (e.g. 10.0.0.0/8); there is no default.
    #[arg(long, value_name = "CIDR", value_parser = riak_admin::parse_cidr)]
    pub cidr: riak_admin::Cidr,
    /// Also grant these permissions on any bucket (comma-separated, e.g. riak_kv.get,riak_kv.put).
    #[arg(long, value_name = "PERMISSIONS", value_parser = riak_admin::parse_permissions)]
    pub grant: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The env object: ORCHESTRATION, EPHEMERAL_STORE_USER, _ROOT_CA_CERT, _ROOT_CA_KEY.
    Env,
    /// A complete ephemeral-store app definition, ready for POST /v2/apps.
    App,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Env => "env block",
            Format::App => "app definition",
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  pki export marathon --user myuser\n  pki export marathon --format app > ephemeral-store.json\n  pki export marathon --merge app.json > app.new.json\n  pki --store vault://secret/pki/es export marathon --by-reference --format app\n\nThe output carries the root CA private key in clear: treat it as a secret.\nWith --by-reference it carries none: env references and a secrets block naming\nthe values pki publishes on the store's Vault (docs/vault-by-reference.md)."
)]
pub struct MarathonArgs {
    /// The ephemeral-store user; may be left out when the store has exactly one.
    #[arg(long, value_name = "USER", add = crate::cli::user_names())]
    pub user: Option<String>,
    /// What to print.
    #[arg(long, value_enum, default_value_t = Format::Env)]
    pub format: Format,
    /// An existing app definition (file, or - for stdin) to print with its env updated; all else is kept.
    #[arg(long, value_name = "APP.json", conflicts_with = "format")]
    pub merge: Option<PathBuf>,
    /// Docker image for --format app (refused with --merge, whose app keeps its own).
    #[arg(long, default_value = marathon::DEFAULT_IMAGE, requires = "format", conflicts_with = "merge")]
    pub image: String,
    /// App id for --format app.
    #[arg(long, default_value = marathon::DEFAULT_APP_ID, requires = "format", conflicts_with = "merge")]
    pub app_id: String,
    /// Form of the CA key in the env: native (PKCS#1, as the store documents) or pkcs8.
    #[arg(long, value_enum, default_value_t = KeyFormat::Native)]
    pub key_format: KeyFormat,
    /// Export even though the CA is not RSA (the store's TLS stack cannot use it).
    #[arg(long)]
    pub allow_non_rsa: bool,
    /// Secret references instead of the CA certificate and key, whose values pki publishes on the store's Vault (Marathon 1.4 and later; docs/vault-by-reference.md).
    #[arg(long)]
    pub by_reference: bool,
    /// The Marathon the output is for (e.g. 1.5.15): --by-reference is refused for one older than 1.4.
    #[arg(long, value_name = "VERSION", requires = "by_reference")]
    pub marathon_version: Option<String>,
    #[command(flatten)]
    pub lock: crate::cli::Wait,
    #[command(flatten)]
    pub pass: crate::cli::PassphraseFile,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  pki export files --user myuser --out ./myuser-tls\n  # writes myuser.crt, myuser.key (0600) and ca.crt"
)]
pub struct FilesArgs {
    /// The user whose certificate and key to write.
    #[arg(long, value_name = "USER", add = crate::cli::user_names())]
    pub user: String,
    /// Destination directory (created 0700 if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Form of the key file: native (PKCS#1 for RSA, SEC1 for EC) or pkcs8.
    #[arg(long, value_enum, default_value_t = KeyFormat::Native)]
    pub key_format: KeyFormat,
    /// Replace files that already exist in DIR.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub lock: crate::cli::Wait,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum K8sFormat {
    /// A multi-document YAML stream (`---` between objects).
    Yaml,
    /// One `v1` `List` object in JSON (also what the global --json gives).
    Json,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  pki export k8s --user myuser | kubectl apply -f -          # first deployment: store and clients\n  pki export k8s --clients-only --user bob carl | kubectl apply -f -   # after a rotation\n  pki export k8s --user myuser --namespace asp --store-namespace ephemeral-store\n  pki export k8s --user myuser --format json > ephemeral-store-secrets.json\n\nObjects: Secret ephemeral-store-root (kubernetes.io/tls, CA certificate and key),\nSecret ephemeral-store-user-USER (kubernetes.io/tls, user certificate and key),\nSecret ephemeral-store-user-rootca-cert (Opaque, rootCA.crt and ca.crt: the CA\ncertificate only), ConfigMap ephemeral-store-users (key user, as the StatefulSet reads it).\nWith --clients-only: the user Secrets and the CA-certificate Secret only.\n\nWithout --clients-only the output carries the root CA private key: treat it as a secret."
)]
pub struct K8sArgs {
    /// The users whose Secrets to export (several after one --user); may be left out when the store has exactly one.
    #[arg(long = "user", value_name = "USER", num_args = 1.., add = crate::cli::user_names())]
    pub users: Vec<String>,
    /// The user the store itself creates (the ConfigMap's EPHEMERAL_STORE_USER); default: the one --user.
    #[arg(long, value_name = "USER", add = crate::cli::user_names())]
    pub store_user: Option<String>,
    /// Only the clients' objects: no CA key, no ConfigMap, the store's user left as it is.
    #[arg(long, conflicts_with = "store_user")]
    pub clients_only: bool,
    /// Namespace of the ASP DaemonSet: the user and CA-certificate Secrets go there.
    #[arg(long, default_value = k8s::DEFAULT_NAMESPACE, value_name = "NS")]
    pub namespace: String,
    /// Namespace of the ephemeral store itself (root Secret, users ConfigMap).
    #[arg(long, default_value = k8s::DEFAULT_STORE_NAMESPACE, value_name = "NS")]
    pub store_namespace: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = K8sFormat::Yaml)]
    pub format: K8sFormat,
    /// Form of the keys in tls.key: native (PKCS#1 for RSA, SEC1 for EC) or pkcs8.
    #[arg(long, value_enum, default_value_t = KeyFormat::Native)]
    pub key_format: KeyFormat,
    /// Export even though the CA is not RSA (the store's TLS stack cannot use it).
    #[arg(long)]
    pub allow_non_rsa: bool,
    #[command(flatten)]
    pub lock: crate::cli::Wait,
    #[command(flatten)]
    pub pass: crate::cli::PassphraseFile,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AspFormat {
    /// The env object {"ASP_EPHEMERAL_STORE": "..."}.
    Env,
    /// A complete marathon-asp-ctlr app definition, ready for POST /v2/apps.
    App,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  pki export asp --user myuser
  pki export asp --user alice --user bob --store-host 10.0.0.5 --store-port 8087
  pki export asp --user alice bob --format app > marathon-asp-ctlr.json
  pki export asp --user myuser --merge ctlr.json > ctlr.new.json
  pki export asp --all-users --remove legacy --merge ctlr.json > ctlr.new.json
  curl -fsS http://marathon.mesos:8080/v2/apps/marathon-asp-ctlr \\
      | pki export asp --user myuser --merge - > ctlr.json

ASP_EPHEMERAL_STORE is a JSON object in a string:
  {\"host\", \"port\", \"users\": {USER: {\"key\", \"cert\"}}, \"root-ca\"}
--merge sets the named users and root-ca, drops the users of --remove and those
the store revoked or superseded (with a warning naming them), and keeps every other
user, every other variable and field as they are (a GET /v2/apps/ID answer is unwrapped and its
read-only fields dropped). The output carries the users' private keys in clear
(never the CA key): treat it as a secret. With --by-reference it carries none: a
reference to the value pki publishes on the store's Vault, holding exactly the
users named (docs/vault-by-reference.md).")]
pub struct AspArgs {
    #[command(flatten)]
    pub who: crate::cli::AspUsers,
    /// What to print.
    #[arg(long, value_enum, default_value_t = AspFormat::Env)]
    pub format: AspFormat,
    /// An existing controller app (file, or - for stdin; a GET /v2/apps/ID answer too) to print with ASP_EPHEMERAL_STORE updated.
    #[arg(long, value_name = "APP.json", conflicts_with = "format")]
    pub merge: Option<PathBuf>,
    /// The store's address as the ASP instances reach it (default: kept by --merge, else the DC/OS VIP name).
    #[arg(long, value_name = "HOST")]
    pub store_host: Option<String>,
    /// The store's client port (default: kept by --merge, else 8087).
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub store_port: Option<u16>,
    /// Docker image of the controller, for --format app (refused with --merge, whose app keeps its own).
    #[arg(long, default_value = asp::DEFAULT_IMAGE, value_name = "IMAGE", requires = "format", conflicts_with = "merge")]
    pub image: String,
    /// App id of the controller, for --format app.
    #[arg(long, default_value = asp::DEFAULT_APP_ID, value_name = "ID", requires = "format", conflicts_with = "merge")]
    pub app_id: String,
    /// MARATHON_URL of the controller (Marathon as the controller reaches it), for --format app.
    #[arg(long, default_value = asp::DEFAULT_MARATHON_URL, value_name = "URL", requires = "format", conflicts_with = "merge")]
    pub marathon_url: String,
    /// Set or replace one env variable of the controller (e.g. ASP_DEFAULT_STATS_URL=...), for --format app.
    #[arg(
        long = "env",
        value_name = "NAME=VALUE",
        requires = "format",
        conflicts_with = "merge"
    )]
    pub env: Vec<String>,
    /// Form of the users' keys: native (PKCS#1 for RSA, as the store documents) or pkcs8.
    #[arg(long, value_enum, default_value_t = KeyFormat::Native)]
    pub key_format: KeyFormat,
    /// Export even though the CA or a user key is not RSA (the store's TLS stack cannot use it).
    #[arg(long)]
    pub allow_non_rsa: bool,
    /// A secret reference instead of the value, which pki publishes on the store's Vault with exactly the users named (Marathon 1.4 and later; docs/vault-by-reference.md).
    #[arg(long, conflicts_with = "remove")]
    pub by_reference: bool,
    /// The Marathon the output is for (e.g. 1.5.15): --by-reference is refused for one older than 1.4.
    #[arg(long, value_name = "VERSION", requires = "by_reference")]
    pub marathon_version: Option<String>,
    #[command(flatten)]
    pub lock: crate::cli::Wait,
    #[command(flatten)]
    pub pass: crate::cli::PassphraseFile,
}
