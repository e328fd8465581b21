//! `pki export`: the store's material for Marathon and other tools.

use serde_json::Value;
use zeroize::Zeroizing;

use crate::cmd::Ctx;
use crate::deliver::asp::{DEFAULT_MARATHON_URL, ENV_KEY, MARATHON_URL};
use crate::deliver::{
    asp, ca_pem, env_for, k8s, marathon, pick_user, pick_users, require_rsa, riak_admin,
    trust_bundle, user_pem, Pair,
};
use crate::error::{Error, Result};
use crate::json;
use crate::store::audit::{Kind, Material};
use crate::store::fs::{self, Replace, PUBLIC_MODE, SECRET_MODE};
use crate::store::CertState;

mod args;
mod by_reference;

pub use args::{
    AspArgs, AspFormat, FilesArgs, Format, K8sArgs, K8sFormat, MarathonArgs, RiakAdminArgs, Target,
};

pub fn run(ctx: &Ctx, t: Target) -> Result<()> {
    match t {
        Target::Marathon(a) => marathon_cmd(ctx, a),
        Target::Files(a) => files(ctx, a),
        Target::K8s(a) => k8s_cmd(ctx, a),
        Target::Asp(a) => asp_cmd(ctx, a),
        Target::RiakAdmin(a) => riak_admin_cmd(ctx, a),
    }
}

fn riak_admin_cmd(ctx: &Ctx, a: RiakAdminArgs) -> Result<()> {
    let index = ctx.store.read_index()?;
    index.ca(&ctx.store)?;
    let current = index.current();
    let named = |state: CertState| -> Vec<&str> {
        current
            .iter()
            .filter(|c| c.state == state)
            .map(|c| c.user.as_str())
            .collect()
    };
    let users = riak_admin::Users {
        current: &named(CertState::Active),
        revoked: &named(CertState::Revoked),
    };
    if users.current.is_empty() {
        ctx.warn("the store has no user with a current certificate: the script adds nobody");
    }
    if a.cidr.is_everything() {
        ctx.warn(format!(
            "--cidr {} is every address: these users can log in from anywhere their certificate goes",
            a.cidr
        ));
    }
    let store = format!("{:?}", ctx.store.name().display().to_string());
    let script = riak_admin::script(&store, &users, a.cidr, a.grant.as_deref());
    if ctx.json {
        let names = |v: &[&str]| v.iter().map(|u| u.to_string()).collect();
        return ctx.emit_json(&json::ExportRiakAdminDoc {
            version: json::VERSION,
            cidr: a.cidr.to_string(),
            users: names(users.current),
            revoked: names(users.revoked),
            script,
        });
    }
    ctx.text(&script)
}

fn k8s_cmd(ctx: &Ctx, a: K8sArgs) -> Result<()> {
    k8s::validate_namespace(&a.namespace)?;
    k8s::validate_namespace(&a.store_namespace)?;
    let index = ctx.store.read_index()?;
    let entries = match a.users.as_slice() {
        [] => vec![pick_user(&ctx.store, &index, None)?],
        names => pick_users(&ctx.store, &index, names)?,
    };
    for e in &entries {
        k8s::user_secret_name(&e.user)?;
    }
    // The store's user is never guessed among several: it is named, or the one --user.
    let store_user = match (&a.store_user, a.clients_only, entries.as_slice()) {
        (_, true, _) => None,
        (Some(u), false, _) => Some(pick_user(&ctx.store, &index, Some(u))?),
        (None, false, [one]) => Some(*one),
        (None, false, _) => {
            return Err(Error::usage(
                format!(
                    "{} users given, but the store's ConfigMap names one user",
                    entries.len()
                ),
                "add --clients-only to export only their Secrets (the store's user left as it is), or name the store's user with --store-user USER",
            ))
        }
    };
    // The CA key only with the store's objects: --clients-only needs no passphrase.
    let ca = match store_user {
        Some(_) => Some(ca_pem(
            &ctx.store,
            &index,
            a.key_format,
            a.allow_non_rsa,
            &ctx.passphrase,
            ctx.now,
        )?),
        None => {
            require_rsa(index.ca(&ctx.store)?, a.allow_non_rsa)?;
            None
        }
    };
    let ca_cert = match &ca {
        Some(p) => {
            ctx.warn_all(&p.warnings);
            p.cert.clone()
        }
        None => trust_bundle(&ctx.store, &index, ctx.now)?,
    };
    let pems = entries
        .iter()
        .map(|e| user_pem(&ctx.store, e, a.key_format, &ctx.passphrase))
        .collect::<Result<Vec<_>>>()?;
    let items = k8s::manifests(
        &k8s::Material {
            clients: entries
                .iter()
                .zip(&pems)
                .map(|(e, p)| k8s::Client {
                    user: &e.user,
                    cert: &p.cert,
                    key: &p.key,
                })
                .collect(),
            ca_cert: &ca_cert,
            store: store_user.zip(ca.as_ref()).map(|(s, p)| k8s::StoreHalf {
                user: &s.user,
                ca_key: &p.key,
            }),
        },
        &a.namespace,
        &a.store_namespace,
    )?;
    let text = Zeroizing::new(if ctx.json || a.format == K8sFormat::Json {
        crate::json::to_text(&k8s::to_list(items), "the Kubernetes objects")?
    } else {
        k8s::to_yaml(&items)?
    });
    let names = entries
        .iter()
        .map(|e| e.user.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    // One event per user: ca-key-exported for the store's user (its
    // Secret, when exported, rides along), key-exported for the others.
    let mut events = Vec::new();
    if let Some(s) = store_user {
        events.push(
            crate::store::audit::Event::new("export k8s", Kind::Exported(Material::CaKey))
                .user(&s.user)
                .serial(&s.serial)
                .detail(format!(
                    "Kubernetes Secrets with the CA key (namespace {}) and the keys of {names} (namespace {})",
                    a.store_namespace, a.namespace
                )),
        );
    }
    for e in entries
        .iter()
        .filter(|e| store_user.is_none_or(|s| s.user != e.user))
    {
        events.push(
            crate::store::audit::Event::new("export k8s", Kind::Exported(Material::Key))
                .user(&e.user)
                .serial(&e.serial)
                .detail(format!("Kubernetes Secret in namespace {}", a.namespace)),
        );
    }
    // Record-or-refuse: the export is recorded (under the lock) before any key leaves.
    let audit = crate::store::audit::Appender::open_locking(&ctx.store, ctx.wait, ctx.now)?;
    audit.append(events)?;
    ctx.data(&text)?;
    ctx.say(match store_user {
        Some(s) if names == s.user => format!(
            "Kubernetes objects for user {}: they carry the root CA private key; apply them with kubectl apply -f - and keep the text nowhere else",
            s.user
        ),
        Some(s) => format!(
            "Kubernetes objects for the store (user {}, namespace {}) and for {names} (namespace {}): they carry the root CA private key; apply them with kubectl apply -f - and keep the text nowhere else",
            s.user, a.store_namespace, a.namespace
        ),
        None => format!(
            "Kubernetes Secrets for {names} (namespace {}): they carry their private keys; apply them with kubectl apply -f - and keep the text nowhere else",
            a.namespace
        ),
    });
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
    if a.by_reference {
        return by_reference::marathon_cmd(ctx, &a, merge_into);
    }
    let index = ctx.store.read_index()?;
    let user = pick_user(&ctx.store, &index, a.user.as_deref())?
        .user
        .clone();
    let (env, warnings) = env_for(
        &ctx.store,
        &index,
        &user,
        a.key_format,
        a.allow_non_rsa,
        &ctx.passphrase,
        ctx.now,
    )?;
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
        Kind::Exported(Material::CaKey),
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
    let (v, relaxed) = marathon::parse_app_text(&text).map_err(|e| {
        if e.to_string().starts_with("duplicate key") {
            return Error::input(
                format!("{} has a {}", p.display(), crate::error::one_line(&e)),
                "keep one of them: which one Marathon would take is not defined",
            );
        }
        Error::input(
            format!(
                "{} is not JSON: {}",
                p.display(),
                crate::error::one_line(&e)
            ),
            if text.contains(ENV_KEY) {
                // The vendor's controller example: comments, placeholders.
                "remove its // comments, or let pki write the whole controller app: pki export asp --user USER --format app (the vendor's settings are its defaults; --env for others)"
            } else {
                "give a Marathon app definition in JSON (without comments)"
            },
        )
    })?;
    if relaxed {
        ctx.say(format!(
            "{}: read the line breaks inside its strings as \\n (as the vendor's controller example writes {ENV_KEY})",
            p.display()
        ));
    }
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
    if !a.who.remove.is_empty() && a.merge.is_none() {
        return Err(Error::usage(
            "--remove drops users from an existing ASP_EPHEMERAL_STORE, and there is none without --merge",
            "give the controller app with --merge FILE (or use pki deploy asp --remove), or leave the user out of --user",
        ));
    }
    if a.by_reference {
        return by_reference::asp_cmd(ctx, &a, &settings);
    }
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
                retire: &[],
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
    let material = a.who.material(
        &ctx.store,
        &index,
        a.key_format,
        a.allow_non_rsa,
        &ctx.passphrase,
        ctx.now,
    )?;
    let update = material.update(a.store_host.as_deref(), a.store_port);
    let mut held = material.names();
    let doc = match (merge_into, a.format) {
        (Some(mut app), _) => {
            let what = a.merge.as_ref().expect("merge given").display().to_string();
            let merged =
                marathon::merge_with(&mut app, &what, |env| asp::merge_env(env, &update, &what))?;
            ctx.warn_all(merged.warnings(&material.retire));
            ctx.warn_all(asp::kept_warnings(&merged.kept, &material.root_ca));
            held = merged.held(&held);
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
    // The users the controller holds now, for `rollover advance`.
    let detail = format!(
        "{detail}{}",
        crate::ca::rollover::controller_users_detail(&held)
    );
    let mut events: Vec<_> = material
        .users
        .iter()
        .map(|(user, serial, _)| {
            crate::store::audit::Event::new("export asp", Kind::Exported(Material::Key))
                .user(user)
                .serial(serial)
                .detail(&detail)
        })
        .collect();
    if events.is_empty() {
        // Only --remove: no key left, but the controller changed.
        events.push(
            crate::store::audit::Event::new("export asp", Kind::UsersRemoved).detail(&detail),
        );
    }
    audit.append(events)?;
    ctx.data(&text)?;
    if material.users.is_empty() {
        ctx.say(format!(
            "{} with no user set: it holds {}",
            asp::ENV_KEY,
            if held.is_empty() {
                "no user".to_string()
            } else {
                held.join(", ")
            }
        ));
    } else {
        ctx.say(format!(
            "{} for {}: it carries their private keys in clear; anyone who can read the controller app can log in to the store as them",
            asp::ENV_KEY,
            material.names().join(", ")
        ));
    }
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
    let Pair { cert, key, .. } = user_pem(&ctx.store, entry, a.key_format, &ctx.passphrase)?;
    let ca_cert = trust_bundle(&ctx.store, &index, ctx.now)?;
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
        Kind::Exported(Material::Key),
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
