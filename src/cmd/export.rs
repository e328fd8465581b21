//! `pki export`: the store's material for Marathon and other tools.

use std::path::PathBuf;

use serde_json::Value;
use zeroize::Zeroizing;

use crate::cmd::Ctx;
use crate::deliver::asp::{DEFAULT_MARATHON_URL, ENV_KEY, MARATHON_URL};
use crate::deliver::{
    asp, asp_material, ca_pem, env_for, k8s, marathon, pick_user, trust_bundle, user_pem, Pair,
};
use crate::error::{Error, Result};
use crate::json;
use crate::store::fs::{self, Replace, PUBLIC_MODE, SECRET_MODE};
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
    after_help = "Examples:\n  pki export marathon --user myuser\n  pki export marathon --format app > ephemeral-store.json\n  pki export marathon --merge app.json > app.new.json\n\nThe output carries the root CA private key in clear: treat it as a secret."
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
    /// Docker image for --format app.
    #[arg(long, default_value = marathon::DEFAULT_IMAGE, requires = "format")]
    pub image: String,
    /// App id for --format app.
    #[arg(long, default_value = marathon::DEFAULT_APP_ID, requires = "format")]
    pub app_id: String,
    /// Form of the CA key in the env: native (PKCS#1, as the store documents) or pkcs8.
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
    after_help = "Examples:\n  pki export k8s --user myuser | kubectl apply -f -\n  pki export k8s --user myuser --namespace asp --store-namespace ephemeral-store\n  pki export k8s --user myuser --format json > ephemeral-store-secrets.json\n\nObjects: Secret ephemeral-store-root (kubernetes.io/tls, CA certificate and key),\nSecret ephemeral-store-user-USER (kubernetes.io/tls, user certificate and key),\nSecret ephemeral-store-user-rootca-cert (Opaque, rootCA.crt and ca.crt: the CA\ncertificate only), ConfigMap ephemeral-store-users (key user, as the StatefulSet reads it).\n\nThe output carries the root CA private key: treat it as a secret."
)]
pub struct K8sArgs {
    /// The ephemeral-store user; may be left out when the store has exactly one.
    #[arg(long, value_name = "USER", add = crate::cli::user_names())]
    pub user: Option<String>,
    /// Namespace of the ASP DaemonSet: the user and CA-certificate Secrets go there.
    #[arg(long, default_value = k8s::DEFAULT_NAMESPACE, value_name = "NS")]
    pub namespace: String,
    /// Namespace of the ephemeral store itself (root Secret, users ConfigMap); default: --namespace.
    #[arg(long, value_name = "NS")]
    pub store_namespace: Option<String>,
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
  curl -fsS http://marathon.mesos:8080/v2/apps/marathon-asp-ctlr \\
      | pki export asp --user myuser --merge - > ctlr.json

ASP_EPHEMERAL_STORE is a JSON object in a string:
  {\"host\", \"port\", \"users\": {USER: {\"key\", \"cert\"}}, \"root-ca\"}
--merge sets the named users and root-ca and keeps every other user, every other
variable and field as they are (a GET /v2/apps/ID answer is unwrapped and its
read-only fields dropped). The output carries the users' private keys in clear
(never the CA key): treat it as a secret.")]
pub struct AspArgs {
    /// A user whose key and certificate go in (repeat --user, or name several after one).
    #[arg(long = "user", value_name = "USER", required = true, num_args = 1..)]
    pub users: Vec<String>,
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
    /// Docker image of the controller, for --format app.
    #[arg(long, default_value = asp::DEFAULT_IMAGE, value_name = "IMAGE", requires = "format")]
    pub image: String,
    /// App id of the controller, for --format app.
    #[arg(long, default_value = asp::DEFAULT_APP_ID, value_name = "ID", requires = "format")]
    pub app_id: String,
    /// MARATHON_URL of the controller (Marathon as the controller reaches it), for --format app.
    #[arg(long, default_value = asp::DEFAULT_MARATHON_URL, value_name = "URL", requires = "format")]
    pub marathon_url: String,
    /// Set or replace one env variable of the controller (e.g. ASP_DEFAULT_STATS_URL=...), for --format app.
    #[arg(long = "env", value_name = "NAME=VALUE", requires = "format")]
    pub env: Vec<String>,
    /// Form of the users' keys: native (PKCS#1 for RSA, as the store documents) or pkcs8.
    #[arg(long, value_enum, default_value_t = KeyFormat::Native)]
    pub key_format: KeyFormat,
    /// Export even though the CA or a user key is not RSA (the store's TLS stack cannot use it).
    #[arg(long)]
    pub allow_non_rsa: bool,
    #[command(flatten)]
    pub lock: crate::cli::Wait,
    #[command(flatten)]
    pub pass: crate::cli::PassphraseFile,
}

pub fn run(ctx: &Ctx, t: Target) -> Result<()> {
    match t {
        Target::Marathon(a) => marathon_cmd(ctx, a),
        Target::Files(a) => files(ctx, a),
        Target::K8s(a) => k8s_cmd(ctx, a),
        Target::Asp(a) => asp_cmd(ctx, a),
    }
}

fn k8s_cmd(ctx: &Ctx, a: K8sArgs) -> Result<()> {
    let store_ns = a.store_namespace.as_deref().unwrap_or(&a.namespace);
    k8s::validate_namespace(&a.namespace)?;
    k8s::validate_namespace(store_ns)?;
    let index = ctx.store.read_index()?;
    let entry = pick_user(&ctx.store, &index, a.user.as_deref())?;
    k8s::user_secret_name(&entry.user)?;
    let ca = ca_pem(&ctx.store, &index, a.key_format, a.allow_non_rsa)?;
    ctx.warn_all(&ca.warnings);
    let user = user_pem(&ctx.store, entry, a.key_format)?;
    let items = k8s::manifests(
        &k8s::Material {
            user: &entry.user,
            user_cert: &user.cert,
            user_key: &user.key,
            ca_cert: &ca.cert,
            ca_key: &ca.key,
        },
        &a.namespace,
        store_ns,
    )?;
    let text = Zeroizing::new(if ctx.json || a.format == K8sFormat::Json {
        crate::json::to_text(&k8s::to_list(items), "the Kubernetes objects")?
    } else {
        k8s::to_yaml(&items)?
    });
    // Record-or-refuse: the export is recorded (under the lock) before any key leaves.
    let audit = crate::store::audit::Appender::open_locking(&ctx.store, ctx.wait, ctx.now)?;
    audit.append(vec![crate::store::audit::Event::new(
        "export k8s",
        "ca-key-exported",
    )
    .user(&entry.user)
    .serial(&entry.serial)
    .detail(format!(
        "Kubernetes Secrets with the CA key and the user's key, namespaces {} and {store_ns}",
        a.namespace
    ))])?;
    ctx.data(&text)?;
    ctx.say(format!(
        "Kubernetes objects for user {}: they carry the root CA private key; apply them with kubectl apply -f - and keep the text nowhere else",
        entry.user
    ));
    Ok(())
}

fn marathon_cmd(ctx: &Ctx, a: MarathonArgs) -> Result<()> {
    marathon::validate_app_id(&a.app_id)?;
    // Read the app to merge into before anything else, so bad input fails first.
    let merge_into = match &a.merge {
        Some(p) => {
            let v = read_app(ctx, p)?;
            // Refuse what is not an app now, before the store (and a passphrase) is touched.
            marathon::merge(&mut v.clone(), Default::default(), &p.display().to_string())?;
            Some(v)
        }
        None => None,
    };
    let index = ctx.store.read_index()?;
    let user = pick_user(&ctx.store, &index, a.user.as_deref())?
        .user
        .clone();
    let (env, warnings) = env_for(&ctx.store, &index, &user, a.key_format, a.allow_non_rsa)?;
    ctx.warn_all(&warnings);
    // The store refuses every client under an expired CA: say so (issue 14).
    ctx.warn_all(crate::ca::export_warning(
        index.ca(&ctx.store)?,
        crate::ca::policy::Within::default(),
        ctx.now,
    ));
    let doc = match (merge_into, a.format) {
        (Some(mut app), _) => {
            let what = a.merge.as_ref().expect("merge given").display().to_string();
            marathon::merge(&mut app, env, &what)?;
            app
        }
        (None, Format::Env) => Value::Object(env),
        (None, Format::App) => marathon::app_definition(&a.app_id, &a.image, env),
    };
    let text = crate::json::to_text(&doc, "the Marathon document")?;
    // Record-or-refuse: the export is recorded (under the lock) before any key leaves.
    let audit = crate::store::audit::Appender::open_locking(&ctx.store, ctx.wait, ctx.now)?;
    audit.append(vec![crate::store::audit::Event::new(
        "export marathon",
        "ca-key-exported",
    )
    .user(&user)
    .detail(match &a.merge {
        Some(p) => format!("Marathon env merged into {}", p.display()),
        None => format!("Marathon {} on stdout", a.format.name()),
    })])?;
    ctx.data(&text)?;
    ctx.say(format!(
        "Marathon env for user {user}: it carries the root CA private key in clear; anyone who can read the app definition can mint users"
    ));
    Ok(())
}

/// The app file of `--merge` (or stdin for `-`), as JSON, made fit to PUT
/// back: a `GET /v2/apps/ID` answer is unwrapped and its read-only fields
/// dropped, which is said on stderr.
fn read_app(ctx: &Ctx, p: &std::path::Path) -> Result<Value> {
    let text = fs::read_input_text(p)?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        Error::input(
            format!(
                "{} is not JSON: {}",
                p.display(),
                crate::error::one_line(&e)
            ),
            "give a Marathon app definition in JSON (without comments)",
        )
    })?;
    let (app, dropped) = marathon::for_put(v);
    if !dropped.is_empty() {
        ctx.say(format!(
            "{}: dropped what Marathon reports but refuses on PUT: {}",
            p.display(),
            dropped.join(", ")
        ));
    }
    Ok(app)
}

fn asp_cmd(ctx: &Ctx, a: AspArgs) -> Result<()> {
    marathon::validate_app_id(&a.app_id)?;
    validate_marathon_url(&a.marathon_url)?;
    super::check_store_host(a.store_host.as_deref())?;
    let settings = a
        .env
        .iter()
        .map(|s| parse_env_setting(s))
        .collect::<Result<Vec<_>>>()?;
    let merge_into = match &a.merge {
        Some(p) => {
            let v = read_app(ctx, p)?;
            // Refuse what is not an app, or a value that is not one, before the store is touched.
            let what = p.display().to_string();
            let none = asp::Update {
                users: Vec::new(),
                root_ca: "",
                host: a.store_host.as_deref(),
                port: a.store_port,
            };
            marathon::merge_with(&mut v.clone(), &what, |env| {
                asp::merge_env(env, &none, &what)
            })?;
            Some(v)
        }
        None => None,
    };
    let index = ctx.store.read_index()?;
    // The controller's root-ca is the CA: an expired one fails every login.
    ctx.warn_all(crate::ca::export_warning(
        index.ca(&ctx.store)?,
        crate::ca::policy::Within::default(),
        ctx.now,
    ));
    let material = asp_material(&ctx.store, &index, &a.users, a.key_format, a.allow_non_rsa)?;
    let update = material.update(a.store_host.as_deref(), a.store_port);
    let doc = match (merge_into, a.format) {
        (Some(mut app), _) => {
            let what = a.merge.as_ref().expect("merge given").display().to_string();
            let kept =
                marathon::merge_with(&mut app, &what, |env| asp::merge_env(env, &update, &what))?;
            ctx.warn_all(asp::kept_warnings(&kept, &material.root_ca));
            app
        }
        (None, AspFormat::Env) => Value::Object(asp::env_block(&update)),
        (None, AspFormat::App) => asp::app_definition(
            &asp::AppOptions {
                id: &a.app_id,
                image: &a.image,
                marathon_url: &a.marathon_url,
                env: &settings,
            },
            &asp::store_value(&update),
        ),
    };
    let text = Zeroizing::new(crate::json::to_text(&doc, "the controller's env")?);
    // Record-or-refuse: the export is recorded (under the lock) before any key leaves.
    let audit = crate::store::audit::Appender::open_locking(&ctx.store, ctx.wait, ctx.now)?;
    let detail = match &a.merge {
        Some(p) => format!("{} merged into {}", asp::ENV_KEY, p.display()),
        None if a.format == AspFormat::App => "marathon-asp-ctlr app definition on stdout".into(),
        None => format!("{} on stdout", asp::ENV_KEY),
    };
    audit.append(
        material
            .users
            .iter()
            .map(|(user, serial, _)| {
                crate::store::audit::Event::new("export asp", "key-exported")
                    .user(user)
                    .serial(serial)
                    .detail(&detail)
            })
            .collect(),
    )?;
    ctx.data(&text)?;
    ctx.say(format!(
        "{} for {}: it carries their private keys in clear; anyone who can read the controller app can log in to the store as them",
        asp::ENV_KEY,
        material.names().join(", ")
    ));
    Ok(())
}

/// Check `--marathon-url`, the controller's `MARATHON_URL`.
fn validate_marathon_url(url: &str) -> Result<()> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() > "https://".len()
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Error::usage(
            format!("--marathon-url {url:?} is not an http:// or https:// URL"),
            format!("give Marathon's URL as the controller reaches it, e.g. --marathon-url {DEFAULT_MARATHON_URL}"),
        ))
    }
}

/// Check one `--env KEY=VALUE` for the controller app; returns the pair.
fn parse_env_setting(s: &str) -> Result<(String, String)> {
    let bad = |why: &str| {
        Error::usage(
            format!("--env {s:?} {why}"),
            "give NAME=VALUE with NAME of A-Z a-z 0-9 _, e.g. --env ASP_DEFAULT_LOG_LEVEL=info",
        )
    };
    let (k, v) = s.split_once('=').ok_or_else(|| bad("has no ="))?;
    let name_ok = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_ok {
        return Err(bad("does not start with a variable name"));
    }
    if k == ENV_KEY {
        return Err(Error::usage(
            format!("--env cannot set {ENV_KEY}"),
            "pki writes it from the store: name the users with --user",
        ));
    }
    if k == MARATHON_URL {
        return Err(Error::usage(
            format!("--env cannot set {MARATHON_URL}"),
            "use --marathon-url",
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(bad("has a control character in its value"));
    }
    Ok((k.to_string(), v.to_string()))
}

fn files(ctx: &Ctx, a: FilesArgs) -> Result<()> {
    let index = ctx.store.read_index()?;
    let entry = pick_user(&ctx.store, &index, Some(&a.user))?;
    index.ca(&ctx.store)?;
    let Pair { cert, key, .. } = user_pem(&ctx.store, entry, a.key_format)?;
    let ca_cert = trust_bundle(&ctx.store, &index)?;
    let cert_path = a.out.join(format!("{}.crt", a.user));
    let key_path = a.out.join(format!("{}.key", a.user));
    let ca_path = a.out.join("ca.crt");
    let replace = if a.force {
        Replace::Allow
    } else {
        Replace::Never
    };
    if !a.force {
        if let Some(p) = [&cert_path, &key_path, &ca_path]
            .into_iter()
            .find(|p| p.exists())
        {
            return Err(Error::Exists {
                path: p.to_path_buf(),
                instead: "--out",
            });
        }
    }
    // Record-or-refuse: the export is recorded (under the lock) before any key leaves.
    let audit = crate::store::audit::Appender::open_locking(&ctx.store, ctx.wait, ctx.now)?;
    if !a.out.exists() {
        fs::private_dir(&a.out)?;
    } else if !a.out.is_dir() {
        return Err(Error::input(
            format!("{} is not a directory", a.out.display()),
            "give a directory for --out",
        ));
    }
    // Recorded before the key is written: no unrecorded copy of it exists.
    audit.append(vec![crate::store::audit::Event::new(
        "export files",
        "key-exported",
    )
    .user(&a.user)
    .serial(&entry.serial)
    .detail(format!("user key written to {}", key_path.display()))])?;
    fs::write_atomic(&key_path, key.as_bytes(), SECRET_MODE, replace)?;
    fs::write_atomic(&cert_path, cert.as_bytes(), PUBLIC_MODE, replace)?;
    fs::write_atomic(&ca_path, ca_cert.as_bytes(), PUBLIC_MODE, replace)?;
    if ctx.json {
        ctx.emit_json(&json::ExportFilesDoc {
            version: json::VERSION,
            user: a.user.clone(),
            cert_path: cert_path.display().to_string(),
            key_path: key_path.display().to_string(),
            ca_cert_path: ca_path.display().to_string(),
        })?;
    }
    ctx.say(format!(
        "wrote {}, {} and {}",
        cert_path.display(),
        key_path.display(),
        ca_path.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_settings_are_checked() {
        assert_eq!(
            parse_env_setting("ASP_DEFAULT_MEM=512").unwrap(),
            ("ASP_DEFAULT_MEM".into(), "512".into())
        );
        assert_eq!(parse_env_setting("X=a=b").unwrap().1, "a=b");
        for bad in [
            "X",
            "=1",
            "1X=2",
            "A-B=1",
            "ASP_EPHEMERAL_STORE={}",
            "MARATHON_URL=x",
            "X=a\nb",
        ] {
            assert_eq!(parse_env_setting(bad).unwrap_err().code(), 2, "{bad}");
        }
    }
}
