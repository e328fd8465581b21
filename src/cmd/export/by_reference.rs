//! `pki export marathon --by-reference` and `pki export asp
//! --by-reference`: the app (fragment, whole app, or merged app) with
//! secret references instead of keys, the values published on the store's
//! Vault ([`crate::deliver::by_reference`]).
//!
//! Order: the flags and the app file are checked, then where the values
//! would go (a directory store is refused here, exit 2, before the store is
//! read), then the material is read and the output built; only then is the
//! publication recorded in the index, and the values published under the
//! lock, recorded in the audit log first. The output is printed last.

use serde_json::Value;

use super::{AspArgs, AspFormat, Format, MarathonArgs};
use crate::cmd::{published_doc, read_asp, read_store, Ctx};
use crate::deliver::by_reference::{self as byref, Outgoing, Read, References, ASP, STORE};
use crate::deliver::{asp, marathon};
use crate::error::Result;
use crate::json;
use crate::store::publish::{Publication, Published};

pub fn marathon_cmd(ctx: &Ctx, a: &MarathonArgs, merge_into: Option<Value>) -> Result<()> {
    if let Some(v) = &a.marathon_version {
        byref::check_marathon_version(v, "--marathon-version")?;
    }
    let (
        user,
        Read {
            at,
            index,
            recipe,
            out,
        },
    ) = read_store(ctx, a.user.as_deref(), a.key_format, a.allow_non_rsa)?;
    // The store refuses every client under an expired CA: say so (issue 14).
    ctx.warn_all(crate::ca::export_warning(
        index.ca(&ctx.store)?,
        crate::ca::policy::Within::default(),
        ctx.now,
    ));
    let refs = byref::store_references(&user, &at);
    let doc = match (merge_into, a.format) {
        (Some(mut app), _) => {
            let what = a.merge.as_ref().expect("merge given").display().to_string();
            marathon::merge(&mut app, refs.env.clone(), &what)?;
            marathon::set_secrets(&mut app, &refs.secrets, &what)?;
            app
        }
        (None, Format::Env) => refs.fragment(),
        (None, Format::App) => with_secrets(
            marathon::app_definition(&a.app_id, &a.image, refs.env.clone()),
            &refs,
        ),
    };
    let published = publish(ctx, "export marathon", &index, &recipe, &out)?;
    emit(ctx, doc, &published, STORE)?;
    ctx.say(format!(
        "Marathon env for user {user} by reference: the root CA certificate and key are published at {}; the output holds no key",
        published.location()
    ));
    Ok(())
}

pub fn asp_cmd(ctx: &Ctx, a: &AspArgs, settings: &[(String, String)]) -> Result<()> {
    if let Some(v) = &a.marathon_version {
        byref::check_marathon_version(v, "--marathon-version")?;
    }
    let merge_into = match &a.merge {
        Some(p) => {
            let v = super::read_app(ctx, p)?;
            // Refuse what is not an app before the store is touched.
            marathon::merge_with(&mut v.clone(), &p.display().to_string(), |_| Ok(()))?;
            Some(v)
        }
        None => None,
    };
    let Read {
        at,
        index,
        recipe,
        out,
    } = read_asp(
        ctx,
        &a.who,
        (a.store_host.as_deref(), a.store_port),
        a.key_format,
        a.allow_non_rsa,
    )?;
    // The controller's root-ca is the CA: an expired one fails every login.
    ctx.warn_all(crate::ca::export_warning(
        index.ca(&ctx.store)?,
        crate::ca::policy::Within::default(),
        ctx.now,
    ));
    let refs = byref::asp_references(&at);
    let doc = match (merge_into, a.format) {
        (Some(mut app), _) => {
            let what = a.merge.as_ref().expect("merge given").display().to_string();
            let (host, port) = byref::asp_address(&recipe);
            let warnings = marathon::merge_with(&mut app, &what, |env| {
                let w = byref::check_asp_value(env, &host, port, &out.names(), &what)?;
                env.extend(refs.env.clone());
                Ok(w)
            })?;
            ctx.warn_all(warnings);
            marathon::set_secrets(&mut app, &refs.secrets, &what)?;
            app
        }
        (None, AspFormat::Env) => refs.fragment(),
        (None, AspFormat::App) => {
            let mut app = asp::app_definition(
                &asp::AppOptions {
                    id: &a.app_id,
                    image: &a.image,
                    marathon_url: &a.marathon_url,
                    env: settings,
                },
                "",
            );
            app["env"][asp::ENV_KEY] = refs.env[asp::ENV_KEY].clone();
            with_secrets(app, &refs)
        }
    };
    let published = publish(ctx, "export asp", &index, &recipe, &out)?;
    emit(ctx, doc, &published, ASP)?;
    ctx.say(format!(
        "{} by reference for {}: the value, with their private keys, is published at {}; the output holds no key",
        asp::ENV_KEY,
        match out.names().as_slice() {
            [] => "no user".to_string(),
            names => names.join(", "),
        },
        published.location()
    ));
    Ok(())
}

/// `app` with the references' `secrets` block.
fn with_secrets(mut app: Value, refs: &References) -> Value {
    app["secrets"] = Value::Object(refs.secrets.clone());
    app
}

/// Record how the value is published (the index), then publish it
/// (recorded in the audit log before it leaves).
fn publish(
    ctx: &Ctx,
    command: &str,
    read: &crate::store::Index,
    recipe: &Publication,
    out: &Outgoing,
) -> Result<Published> {
    byref::remember(&ctx.store, ctx.wait, ctx.now, command, &out.name, recipe)?;
    byref::publish(&ctx.store, ctx.wait, ctx.now, command, read, out)
}

/// Print the document, or with `--json` the versioned one around it.
fn emit(ctx: &Ctx, doc: Value, at: &Published, name: &str) -> Result<()> {
    if ctx.json {
        return ctx.emit_json(&json::ExportByReferenceDoc {
            version: json::VERSION,
            document: doc,
            published: vec![published_doc(name, at)],
        });
    }
    ctx.data(&json::to_text(&doc, "the Marathon document")?)
}
