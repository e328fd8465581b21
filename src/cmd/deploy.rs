//! `pki deploy marathon`: push the ephemeral-store env to a running Marathon.
//!
//! Validate every flag and file first (exit 2, nothing sent), read the app
//! (`GET`), plan the one mutating request (pure: [`marathon_api`]), print it
//! for `--dry-run` or send it, and report Marathon's deployment id and
//! version.

use std::path::PathBuf;
use std::time::Duration;

use crate::cmd::Ctx;
use crate::deliver::marathon;
use crate::deliver::marathon_api::{self, Auth, Client, Method, Request, Transport};
use crate::deliver::{env_for, pick_user};
use crate::error::{Error, Result};
use crate::json;
use crate::x509::keys::KeyFormat;

#[derive(Debug, clap::Subcommand)]
pub enum Target {
    /// Set the ephemeral-store env of a running Marathon app, keeping its other variables.
    Marathon(MarathonArgs),
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

Exit codes: 0 deployed (or planned, with --dry-run); 1 network failure, 401/403
or a server error; 2 bad input, app not found (without --create) or 422 from
Marathon; 4 a deployment is in progress (409; --force supersedes it).")]
pub struct MarathonArgs {
    /// Marathon's base URL, e.g. http://marathon.mesos:8080 (on DC/OS: https://HOST/service/marathon).
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The Marathon app to update.
    #[arg(long, default_value = marathon::DEFAULT_APP_ID, value_name = "ID")]
    pub app_id: String,
    /// The ephemeral-store user; may be left out when the store has exactly one.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Send force=true: supersede a deployment in progress (Marathon answers 409 otherwise).
    #[arg(long)]
    pub force: bool,
    /// Print the request that would be sent (CA key redacted); only the GET is sent.
    #[arg(long)]
    pub dry_run: bool,
    /// If the app does not exist, create it (POST /v2/apps, the app of `export marathon --format app`).
    #[arg(long)]
    pub create: bool,
    /// Image of the app --create makes.
    #[arg(long, default_value = marathon::DEFAULT_IMAGE, value_name = "IMAGE")]
    pub image: String,
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
    /// Form of the CA key in the env: native (PKCS#1, as the store documents) or pkcs8.
    #[arg(long, value_enum, default_value_t = KeyFormat::Native)]
    pub key_format: KeyFormat,
}

pub fn run(ctx: &Ctx, t: Target) -> Result<()> {
    match t {
        Target::Marathon(a) => deploy_marathon(ctx, a),
    }
}

/// Everything checked before the store is read or a byte is sent.
struct Config {
    base: String,
    app_id: String,
    auth: Auth,
    transport: Transport,
}

fn config(a: &MarathonArgs) -> Result<Config> {
    let base = marathon_api::base_url(&a.url)?;
    marathon::validate_app_id(&a.app_id)?;
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
        app_id: marathon_api::absolute_id(&a.app_id),
        auth,
        transport: Transport {
            timeout: Duration::from_secs(a.timeout),
            ca_certs,
        },
    })
}

fn deploy_marathon(ctx: &Ctx, a: MarathonArgs) -> Result<()> {
    let cfg = config(&a)?;
    let index = ctx.store.read_index()?;
    let user = pick_user(&ctx.store, &index, a.user.as_deref())?
        .user
        .clone();
    let (env, warnings) = env_for(&ctx.store, &index, &user, a.key_format, false)?;
    ctx.warn_all(&warnings);

    let client = Client::new(cfg.auth, cfg.transport);
    let get = Request::get_app(&cfg.base, &cfg.app_id);
    ctx.detail(format!("GET {}", get.url));
    let reply = client.send(&get)?;
    let (request, kept) = match reply.status {
        200 => {
            let app = reply.json().ok_or_else(|| {
                Error::failed(
                    format!("GET {} answered 200 but not with JSON", get.url),
                    "check that --url points at Marathon itself",
                )
            })?;
            marathon_api::update_request(&cfg.base, &cfg.app_id, app, env, a.force)?
        }
        404 if a.create => (
            marathon_api::create_request(&cfg.base, &cfg.app_id, &a.image, env),
            Vec::new(),
        ),
        404 => {
            return Err(Error::input(
                format!("Marathon at {} has no app {}", cfg.base, cfg.app_id),
                "check --app-id, or pass --create to create the app",
            ))
        }
        _ => return Err(reply.error(&get, &cfg.app_id, client.auth())),
    };
    let action = if request.method == Method::Post {
        "create"
    } else {
        "update"
    };
    let mut doc = json::DeployDoc {
        version: json::VERSION,
        dry_run: a.dry_run,
        app_id: cfg.app_id.clone(),
        user: user.clone(),
        action: action.into(),
        method: request.method.as_str().into(),
        url: request.url.clone(),
        kept_env: kept.clone(),
        users: Vec::new(),
        kept_users: Vec::new(),
        status: None,
        deployment_id: None,
        app_version: None,
        body: None,
    };

    if a.dry_run {
        doc.body = request.redacted_body();
        if ctx.json {
            ctx.emit_json(&doc)?;
        } else {
            let body = crate::json::to_text(&doc.body, "the request")?;
            ctx.data(&format!("{} {}\n{body}", doc.method, doc.url))?;
        }
        ctx.say(format!(
            "dry run: would {action} {} for user {user}{}; only the GET was sent",
            cfg.app_id,
            kept_note(&kept)
        ));
        return Ok(());
    }

    // Record-or-refuse: the audit log is opened (under the lock) before any key leaves.
    let audit = crate::store::audit::Appender::open_locking(&ctx.store, ctx.wait, ctx.now)?;
    ctx.detail(format!("{} {}", request.method.as_str(), request.url));
    let reply = client.send(&request)?;
    if !matches!(reply.status, 200 | 201) {
        return Err(reply.error(&request, &cfg.app_id, client.auth()));
    }
    let (deployment_id, app_version) = reply.deployment();
    doc.status = Some(reply.status);
    doc.deployment_id = deployment_id;
    doc.app_version = app_version;
    audit.append(vec![crate::store::audit::Event::new(
        "deploy marathon",
        "ca-key-deployed",
    )
    .user(&user)
    .detail(format!(
        "{} {} (status {}, deployment {})",
        doc.method,
        doc.url,
        reply.status,
        doc.deployment_id.as_deref().unwrap_or("not reported")
    ))])?;
    if ctx.json {
        ctx.emit_json(&doc)?;
    }
    ctx.say(format!(
        "{} {} with the env of user {user}{}: deployment {}, version {}; Marathon restarts its tasks",
        if action == "create" { "created" } else { "updated" },
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
