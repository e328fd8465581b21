//! `pki deploy marathon` and `pki deploy asp`: push the store's material
//! to a running Marathon app, the ephemeral store's or the ASP controller's.
//!
//! Each checks its flags and files first (exit 2, nothing sent), reads the
//! material into a [`Payload`], and runs the one flow of
//! [`crate::deliver::deploy`]: [`plan`] (GET, merge), then for `--dry-run`
//! the request printed, else [`send`]; this file renders the report. The
//! flags and their help are in `args`.

mod args;

use std::time::Duration;

pub use args::{AspArgs, Connection, MarathonArgs, Target};

use crate::cmd::Ctx;
use crate::deliver::by_reference::{self as byref, Outgoing, Read, RefPayload};
use crate::deliver::deploy::{
    plan, record_unchanged, send, AspPayload, MarathonPayload, Payload, Plan,
};
use crate::deliver::marathon_api::{self, Config, Settings};
use crate::deliver::{asp, env_for, pick_user};
use crate::error::Result;
use crate::json;
use crate::store::publish::Publication;
use crate::store::Index;

pub fn run(ctx: &Ctx, t: Target) -> Result<()> {
    match t {
        Target::Marathon(a) if a.by_reference => marathon_by_reference(ctx, a),
        Target::Asp(a) if a.by_reference => asp_by_reference(ctx, a),
        Target::Marathon(a) => {
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
                ctx.now,
            )?;
            ctx.warn_all(&warnings);
            let create = a.create.then_some(a.image);
            let payload = MarathonPayload { user, env, create };
            deploy(ctx, cfg, &a.conn, &index, &payload, false, None)
        }
        Target::Asp(a) => {
            let cfg = config(&a.conn, &a.app_id)?;
            super::check_store_host(a.store_host.as_deref())?;
            let index = ctx.store.read_index()?;
            let material = a.who.material(
                &ctx.store,
                &index,
                a.key_format,
                a.allow_non_rsa,
                &ctx.passphrase,
                ctx.now,
            )?;
            let payload = AspPayload {
                material,
                host: a.store_host,
                port: a.store_port,
            };
            deploy(ctx, cfg, &a.conn, &index, &payload, true, None)
        }
    }
}

/// `deploy marathon --by-reference`: the CA published on the store's
/// Vault, the app given references to it.
fn marathon_by_reference(ctx: &Ctx, a: MarathonArgs) -> Result<()> {
    let cfg = config(&a.conn, &a.app_id)?;
    let (
        user,
        Read {
            at,
            index,
            recipe,
            out,
        },
    ) = crate::cmd::read_store(ctx, a.user.as_deref(), a.key_format, false)?;
    let payload = RefPayload::new(
        "deploy marathon",
        byref::store_references(&user, &at),
        &out,
        &recipe,
        vec![(user.clone(), None)],
        format!(
            "the env of user {user} by reference (the CA published at {})",
            at.location()
        ),
        a.create.then_some(a.image),
        None,
    );
    deploy(
        ctx,
        cfg,
        &a.conn,
        &index,
        &payload,
        false,
        Some((&out, &recipe)),
    )
}

/// `deploy asp --by-reference`: the controller's value, with exactly the
/// users named, published on the store's Vault; the app given a reference.
fn asp_by_reference(ctx: &Ctx, a: AspArgs) -> Result<()> {
    let cfg = config(&a.conn, &a.app_id)?;
    super::check_store_host(a.store_host.as_deref())?;
    let Read {
        at,
        index,
        recipe,
        out,
    } = crate::cmd::read_asp(
        ctx,
        &a.who,
        (a.store_host.as_deref(), a.store_port),
        a.key_format,
        a.allow_non_rsa,
    )?;
    let (host, port) = byref::asp_address(&recipe);
    let describe = match out.names().as_slice() {
        [] => format!("{} by reference with no user", asp::ENV_KEY),
        names => format!("{} by reference for {}", asp::ENV_KEY, names.join(", ")),
    };
    let payload = RefPayload::new(
        "deploy asp",
        byref::asp_references(&at),
        &out,
        &recipe,
        out.deploy_users(),
        describe,
        None,
        Some((host, port, out.names())),
    );
    deploy(
        ctx,
        cfg,
        &a.conn,
        &index,
        &payload,
        true,
        Some((&out, &recipe)),
    )
}

fn config(c: &Connection, app_id: &str) -> Result<Config> {
    let settings = Settings {
        url: &c.url,
        token_file: c.token_file.as_deref(),
        credentials_file: c.credentials_file.as_deref(),
        ca_cert: c.ca_cert.as_deref(),
        timeout: Duration::from_secs(c.timeout),
    };
    marathon_api::config(&settings, app_id)
}

/// Plan, print the plan (`--dry-run`) or send it, and report; `read` is
/// the index the material was read from; `lists_users`: the JSON document
/// names the users one by one (deploy asp). `by_reference`: the values to
/// publish on the store's Vault before anything is sent to Marathon (not
/// with `--dry-run`), and how.
fn deploy(
    ctx: &Ctx,
    cfg: Config,
    c: &Connection,
    read: &Index,
    p: &dyn Payload,
    lists_users: bool,
    by_reference: Option<(&Outgoing, &Publication)>,
) -> Result<()> {
    let mut plan = plan(cfg, c.force, p)?;
    ctx.warn_all(&plan.warnings);
    let mut published = Vec::new();
    if let Some((out, recipe)) = by_reference {
        // The tasks read the values when they launch: the app's env alone
        // unchanged is not enough, they must have launched with these.
        if plan.unchanged {
            let log = crate::store::audit::read(&ctx.store)?;
            let log = crate::store::audit::verify(&log).unwrap_or_else(|(read, _)| read);
            let cas = crate::deliver::deploy::trusted_serials(read, ctx.now);
            plan.unchanged =
                byref::tasks_current(&log, p.command(), &plan.app_id, &cas, out, recipe);
        }
        let at = if c.dry_run {
            ctx.store.publish_target(&out.name)?
        } else {
            byref::remember(
                &ctx.store,
                ctx.wait,
                ctx.now,
                p.command(),
                &out.name,
                recipe,
            )?;
            byref::publish(&ctx.store, ctx.wait, ctx.now, p.command(), read, out)?
        };
        published.push(crate::cmd::published_doc(&out.name, &at));
    }
    let names: Vec<String> = p.users().into_iter().map(|(u, _)| u).collect();
    let Plan {
        app_id,
        request,
        action,
        kept_env,
        ..
    } = &plan;
    let mut doc = json::DeployDoc {
        version: json::VERSION,
        dry_run: c.dry_run,
        app_id: app_id.clone(),
        user: names.join(" "),
        action: action.as_str().into(),
        method: request.method.as_str().into(),
        url: request.url.clone(),
        kept_env: kept_env.clone(),
        users: if lists_users { names } else { Vec::new() },
        kept_users: plan.kept_users.clone(),
        unchanged: plan.unchanged && !c.force_restart,
        status: None,
        deployment_id: None,
        app_version: None,
        body: None,
        published,
    };
    let (what, kept) = (p.describe(), kept_note(kept_env));
    if doc.unchanged && !c.dry_run {
        record_unchanged(&ctx.store, ctx.wait, ctx.now, &plan, p)?;
        if ctx.json {
            ctx.emit_json(&doc)?;
        }
        ctx.say(format!(
            "unchanged: nothing sent; {app_id} already holds {what}{kept} (--force-restart sends it anyway)"
        ));
        return Ok(());
    }
    if c.dry_run {
        doc.body = request.redacted_body();
        if ctx.json {
            ctx.emit_json(&doc)?;
        } else {
            let body = json::to_text(&doc.body, "the request")?;
            ctx.data(&format!("{} {}\n{body}", doc.method, doc.url))?;
        }
        let action = action.as_str();
        if doc.unchanged {
            ctx.say(format!(
                "dry run: {app_id} already holds {what}{kept}, so nothing would be sent (--force-restart would send it); only the GET was sent"
            ));
        } else {
            ctx.say(format!(
                "dry run: would {action} {app_id} with {what}{kept}; only the GET was sent"
            ));
        }
        return Ok(());
    }
    let sent = send(&ctx.store, ctx.wait, ctx.now, read, &plan, p)?;
    doc.status = Some(sent.status);
    doc.deployment_id = sent.deployment_id;
    doc.app_version = sent.app_version;
    if ctx.json {
        ctx.emit_json(&doc)?;
    }
    ctx.say(format!(
        "{} {app_id} with {what}{kept}: deployment {}, version {}; Marathon restarts its tasks",
        action.done(),
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
