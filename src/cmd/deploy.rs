//! `pki deploy marathon` and `pki deploy asp`: push the store's material
//! to a running Marathon app, the ephemeral store's or the ASP controller's.
//!
//! One flow for both ([`deliver`]): validate every flag and file first
//! (exit 2, nothing sent), read the app (`GET`), plan the one mutating
//! request (pure: [`marathon_api`]), print it for `--dry-run` or send it,
//! recording the attempt in the audit log before it leaves and its outcome
//! after, and report Marathon's deployment id and version. What differs
//! (which variables are set, what is recorded) is a [`Payload`].

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::cmd::Ctx;
use crate::deliver::marathon_api::{self, Auth, Client, Method, Request, Transport};
use crate::deliver::{asp, marathon};
use crate::deliver::{env_for, pick_user};
use crate::error::{Error, Result};
use crate::json;
use crate::store::audit::{Appender, Event, SENDING, SEND_FAILED};
use crate::x509::keys::KeyFormat;

#[derive(Debug, clap::Subcommand)]
pub enum Target {
    /// Set the ephemeral-store env of a running Marathon app, keeping its other variables.
    Marathon(MarathonArgs),
    /// Set ASP_EPHEMERAL_STORE of the running marathon-asp-ctlr app, keeping its other variables and users.
    Asp(AspArgs),
}

/// The environment variable DC/OS's CLI and docs use for an ACS token.
pub const TOKEN_ENV: &str = "DCOS_ACS_TOKEN";

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

Exit codes: 0 deployed (or planned, with --dry-run); 1 network failure, 401/403,
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
  pki deploy asp --url https://dcos.example/service/marathon \\
      --token-file ~/.dcos/token --ca-cert dcos-ca.crt --user myuser

What is sent: GET /v2/apps/ID, then PUT /v2/apps/ID with {\"id\", \"env\"}: the app's
whole env with ASP_EPHEMERAL_STORE updated (the named users' keys and
certificates and root-ca set; host, port and every other user kept unless
--store-host/--store-port say otherwise). Every other variable is sent back as
read. Any env change restarts the controller, which restarts the ASP instances.
No redirect is followed; every send is recorded in the audit log before and after.

Exit codes: as deploy marathon: 0 deployed (or planned, with --dry-run); 1 network
failure, 401/403, a redirected PUT or a server error; 2 bad input, no such app,
a redirected GET or 422 from Marathon; 4 a deployment is in progress (409; --force).")]
pub struct AspArgs {
    #[command(flatten)]
    pub conn: Connection,
    /// The controller app to update.
    #[arg(long, default_value = asp::DEFAULT_APP_ID, value_name = "ID")]
    pub app_id: String,
    /// A user whose key and certificate go in (repeat --user, or name several after one).
    #[arg(long = "user", value_name = "USER", required = true, num_args = 1..)]
    pub users: Vec<String>,
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
}

pub fn run(ctx: &Ctx, t: Target) -> Result<()> {
    match t {
        Target::Marathon(a) => deploy_marathon(ctx, a),
        Target::Asp(a) => deploy_asp(ctx, a),
    }
}

/// Everything checked before the store is read or a byte is sent.
struct Config {
    base: String,
    app_id: String,
    auth: Auth,
    transport: Transport,
}

fn config(a: &Connection, app_id: &str) -> Result<Config> {
    let base = marathon_api::base_url(&a.url)?;
    marathon::validate_app_id(app_id)?;
    let auth = if let Some(f) = &a.token_file {
        Auth::token(
            &crate::store::fs::read_input_text(f)?,
            &f.display().to_string(),
        )?
    } else if let Some(f) = &a.credentials_file {
        Auth::basic(
            &crate::store::fs::read_input_text(f)?,
            &f.display().to_string(),
        )?
    } else {
        match std::env::var(TOKEN_ENV) {
            Ok(t) if !t.trim().is_empty() => Auth::token(&t, TOKEN_ENV)?,
            _ => Auth::None,
        }
    };
    let ca_certs = match &a.ca_cert {
        Some(p) => {
            if !base.starts_with("https://") {
                return Err(Error::usage(
                    "--ca-cert is for https, but --url is http",
                    "use an https:// URL, or leave --ca-cert out",
                ));
            }
            Some(marathon_api::read_ca_certs(p)?)
        }
        None => None,
    };
    Ok(Config {
        base,
        app_id: marathon_api::absolute_id(app_id),
        auth,
        transport: Transport {
            timeout: Duration::from_secs(a.timeout),
            ca_certs,
        },
    })
}

/// What one deploy sets and records; the rest of the flow is shared.
trait Payload {
    /// The command, as the audit log names it.
    fn command(&self) -> &'static str;
    /// The env variables pki sets; every other one is sent back as read.
    fn owned(&self) -> &'static [&'static str];
    /// Set them in the app's env (`what` names the app for messages).
    fn set(&self, env: &mut Map<String, Value>, what: &str) -> Result<Set>;
    /// The POST that creates the app when it is missing, if asked for.
    fn create(&self, base: &str, app_id: &str) -> Option<Request>;
    /// The hint when the app is missing.
    fn missing_hint(&self) -> &'static str;
    /// Who the material belongs to: (user, serial when one is sent).
    fn users(&self) -> Vec<(String, Option<String>)>;
    /// The material's name in audit events: `ca-key` or `key`.
    fn material(&self) -> &'static str;
    /// What is sent, for messages: "the env of user myuser".
    fn describe(&self) -> String;
    /// Whether the JSON document lists the users (deploy asp).
    fn lists_users(&self) -> bool;
}

/// What setting the variables found: users kept, warnings to print.
#[derive(Default)]
struct Set {
    kept_users: Vec<String>,
    warnings: Vec<String>,
}

struct MarathonPayload {
    user: String,
    env: Map<String, Value>,
    create: Option<String>,
}

impl Payload for MarathonPayload {
    fn command(&self) -> &'static str {
        "deploy marathon"
    }
    fn owned(&self) -> &'static [&'static str] {
        &marathon::ENV_KEYS
    }
    fn set(&self, env: &mut Map<String, Value>, _what: &str) -> Result<Set> {
        for (k, v) in &self.env {
            env.insert(k.clone(), v.clone());
        }
        Ok(Set::default())
    }
    fn create(&self, base: &str, app_id: &str) -> Option<Request> {
        let image = self.create.as_deref()?;
        Some(marathon_api::create_request(
            base,
            app_id,
            image,
            self.env.clone(),
        ))
    }
    fn missing_hint(&self) -> &'static str {
        "check --app-id, or pass --create to create the app"
    }
    fn users(&self) -> Vec<(String, Option<String>)> {
        vec![(self.user.clone(), None)]
    }
    fn material(&self) -> &'static str {
        "ca-key"
    }
    fn describe(&self) -> String {
        format!("the env of user {}", self.user)
    }
    fn lists_users(&self) -> bool {
        false
    }
}

struct AspPayload {
    material: asp::Material,
    host: Option<String>,
    port: Option<u16>,
}

impl Payload for AspPayload {
    fn command(&self) -> &'static str {
        "deploy asp"
    }
    fn owned(&self) -> &'static [&'static str] {
        &[asp::ENV_KEY]
    }
    fn set(&self, env: &mut Map<String, Value>, what: &str) -> Result<Set> {
        let update = self.material.update(self.host.as_deref(), self.port);
        let kept = asp::merge_env(env, &update, what)?;
        Ok(Set {
            warnings: asp::kept_warnings(&kept, &self.material.root_ca),
            kept_users: kept.into_iter().map(|k| k.name).collect(),
        })
    }
    fn create(&self, _base: &str, _app_id: &str) -> Option<Request> {
        None
    }
    fn missing_hint(&self) -> &'static str {
        "check --app-id; create the controller first (pki export asp --format app, then POST it to /v2/apps)"
    }
    fn users(&self) -> Vec<(String, Option<String>)> {
        self.material
            .users
            .iter()
            .map(|(u, serial, _)| (u.clone(), Some(serial.clone())))
            .collect()
    }
    fn material(&self) -> &'static str {
        "key"
    }
    fn describe(&self) -> String {
        format!("{} for {}", asp::ENV_KEY, self.material.names().join(", "))
    }
    fn lists_users(&self) -> bool {
        true
    }
}

fn deploy_marathon(ctx: &Ctx, a: MarathonArgs) -> Result<()> {
    let cfg = config(&a.conn, &a.app_id)?;
    let index = ctx.store.read_index()?;
    let user = pick_user(&ctx.store, &index, a.user.as_deref())?
        .user
        .clone();
    let (env, warnings) = env_for(
        &ctx.store,
        &index,
        &user,
        a.key_format,
        false,
        &ctx.passphrase,
    )?;
    ctx.warn_all(&warnings);
    let payload = MarathonPayload {
        user,
        env,
        create: a.create.then_some(a.image),
    };
    deliver(ctx, cfg, &a.conn, &payload)
}

fn deploy_asp(ctx: &Ctx, a: AspArgs) -> Result<()> {
    let cfg = config(&a.conn, &a.app_id)?;
    if let Some(h) = &a.store_host {
        asp::validate_host(h)?;
    }
    let index = ctx.store.read_index()?;
    let material = asp::Material::read(
        &ctx.store,
        &index,
        &a.users,
        a.key_format,
        a.allow_non_rsa,
        &ctx.passphrase,
    )?;
    let payload = AspPayload {
        material,
        host: a.store_host,
        port: a.store_port,
    };
    deliver(ctx, cfg, &a.conn, &payload)
}

/// The one deploy flow: GET, merge, print (`--dry-run`) or record, send,
/// record the outcome, report.
fn deliver(ctx: &Ctx, cfg: Config, conn: &Connection, p: &dyn Payload) -> Result<()> {
    let client = Client::new(cfg.auth, cfg.transport);
    let get = Request::get_app(&cfg.base, &cfg.app_id);
    ctx.detail(format!("GET {}", get.url));
    let reply = client.send(&get)?;
    let (request, kept, set) = match reply.status {
        200 => {
            let app = reply.json().ok_or_else(|| {
                Error::failed(
                    format!("GET {} answered 200 but not with JSON", get.url),
                    "check that --url points at Marathon itself",
                )
            })?;
            marathon_api::update_request_with(
                &cfg.base,
                &cfg.app_id,
                app,
                conn.force,
                p.owned(),
                |env| p.set(env, &format!("the app {} in Marathon", cfg.app_id)),
            )?
        }
        404 => match p.create(&cfg.base, &cfg.app_id) {
            Some(req) => (req, Vec::new(), Set::default()),
            None => {
                return Err(Error::input(
                    format!("Marathon at {} has no app {}", cfg.base, cfg.app_id),
                    p.missing_hint(),
                ))
            }
        },
        _ => return Err(reply.error(&get, &cfg.app_id, client.auth())),
    };
    ctx.warn_all(&set.warnings);
    let action = if request.method == Method::Post {
        "create"
    } else {
        "update"
    };
    let users = p.users();
    let names: Vec<String> = users.iter().map(|(u, _)| u.clone()).collect();
    let mut doc = json::DeployDoc {
        version: json::VERSION,
        dry_run: conn.dry_run,
        app_id: cfg.app_id.clone(),
        user: names.join(" "),
        action: action.into(),
        method: request.method.as_str().into(),
        url: request.url.clone(),
        kept_env: kept.clone(),
        users: if p.lists_users() {
            names.clone()
        } else {
            Vec::new()
        },
        kept_users: set.kept_users.clone(),
        status: None,
        deployment_id: None,
        app_version: None,
        body: None,
    };
    let what = p.describe();

    if conn.dry_run {
        doc.body = request.redacted_body();
        if ctx.json {
            ctx.emit_json(&doc)?;
        } else {
            let body = crate::json::to_text(&doc.body, "the request")?;
            ctx.data(&format!("{} {}\n{body}", doc.method, doc.url))?;
        }
        ctx.say(format!(
            "dry run: would {action} {} with {what}{}; only the GET was sent",
            cfg.app_id,
            kept_note(&kept)
        ));
        return Ok(());
    }

    // Record-or-refuse: the audit log is opened (under the lock), and the
    // attempt recorded, before any key leaves; the outcome follows, whatever it is.
    let mut audit = Appender::open_locking(&ctx.store, ctx.wait, ctx.now)?;
    let sent = format!("{} {}", doc.method, doc.url);
    let events = |event: &str, detail: &str| -> Vec<Event> {
        users
            .iter()
            .map(|(u, serial)| {
                let e = Event::new(p.command(), &format!("{}{event}", p.material()))
                    .user(u)
                    .detail(detail);
                match serial {
                    Some(s) => e.serial(s),
                    None => e,
                }
            })
            .collect()
    };
    audit.record(events(SENDING, &format!("{sent}: {what}")))?;
    ctx.detail(&sent);
    let result = client.send(&request);
    let outcome = match &result {
        Ok(r) if matches!(r.status, 200 | 201) => {
            let (id, _) = r.deployment();
            events(
                "-deployed",
                &format!(
                    "{sent} (status {}, deployment {})",
                    r.status,
                    id.as_deref().unwrap_or("not reported")
                ),
            )
        }
        Ok(r) => events(SEND_FAILED, &format!("{sent}: answered {}", r.status)),
        Err(e) => events(SEND_FAILED, &format!("{sent}: {e}")),
    };
    audit.append(outcome)?;
    let reply = result?;
    if !matches!(reply.status, 200 | 201) {
        return Err(reply.error(&request, &cfg.app_id, client.auth()));
    }
    let (deployment_id, app_version) = reply.deployment();
    doc.status = Some(reply.status);
    doc.deployment_id = deployment_id;
    doc.app_version = app_version;
    if ctx.json {
        ctx.emit_json(&doc)?;
    }
    ctx.say(format!(
        "{} {} with {what}{}: deployment {}, version {}; Marathon restarts its tasks",
        if action == "create" {
            "created"
        } else {
            "updated"
        },
        cfg.app_id,
        kept_note(&kept),
        doc.deployment_id.as_deref().unwrap_or("(not reported)"),
        doc.app_version.as_deref().unwrap_or("(not reported)"),
    ));
    Ok(())
}

fn kept_note(kept: &[String]) -> String {
    match kept.len() {
        0 => String::new(),
        1 => " (kept 1 other variable)".into(),
        n => format!(" (kept {n} other variables)"),
    }
}
