//! `--by-reference`: the apps get `{"secret": NAME}` env references and a
//! `secrets` block instead of key material, and the values are published
//! on the store's Vault, where Marathon's secrets plugin reads them at task
//! launch (docs/vault-by-reference.md).
//!
//! Two values are published, each one object under `PATH/published/`:
//!
//! | name    | fields                          | the env variables it feeds |
//! |---------|---------------------------------|----------------------------|
//! | `store` | `root_ca_cert`, `root_ca_key`   | `EPHEMERAL_STORE_ROOT_CA_CERT`, `EPHEMERAL_STORE_ROOT_CA_KEY` |
//! | `asp`   | `asp_ephemeral_store`           | `ASP_EPHEMERAL_STORE` |
//!
//! The app refers to them as the secrets `pki-root-ca-cert`,
//! `pki-root-ca-key` and `pki-asp-ephemeral-store`, whose `source` is
//! `/PATH/published/NAME@FIELD`. `ORCHESTRATION` and `EPHEMERAL_STORE_USER`
//! hold no secret and stay plain strings.
//!
//! What was published, and how, is recorded in the index
//! ([`Publication`]), so [`republish`] computes the same fields again from
//! a rotated or rolled-over store. Every publish is a send of key material:
//! it is recorded in the audit log (`ca-key-published`, `key-published`)
//! under the store lock before it is written, as an export is.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::ca::key::Passphrase;
use crate::deliver::deploy::{stale, trusted_serials, Payload, Set};
use crate::deliver::marathon_api::{self, Request};
use crate::deliver::{all_users, asp, asp_material, ca_pem, marathon};
use crate::error::{Error, Result};
use crate::store::audit::{self, Appender, Event, Kind, Material, SendStage};
use crate::store::publish::{Publication, Published};
use crate::store::{Index, Store};
use crate::x509::keys::KeyFormat;

/// The published name of the ephemeral store's CA.
pub const STORE: &str = "store";
/// The published name of the ASP controller's `ASP_EPHEMERAL_STORE`.
pub const ASP: &str = "asp";
/// The fields of [`STORE`]: the trust bundle (PEM) and the CA key (PEM).
pub const ROOT_CA_CERT: &str = "root_ca_cert";
pub const ROOT_CA_KEY: &str = "root_ca_key";
/// The field of [`ASP`]: the whole `ASP_EPHEMERAL_STORE` string.
pub const ASP_EPHEMERAL_STORE: &str = "asp_ephemeral_store";

/// The oldest Marathon `--by-reference` is for: 1.4, as issue #19 sets
/// the floor. (Marathon 1.3.9's own schema already accepts the form; what
/// changed in 1.4 is the plugin interface the secret stores' plugins are
/// built against: Marathon's 1.4.0 release notes, "Plugin API has changed".)
pub const MIN_MARATHON: (u64, u64) = (1, 4);

/// One env variable set to a published field, through a named secret.
struct Ref {
    env: &'static str,
    secret: &'static str,
    field: &'static str,
}

const STORE_REFS: [Ref; 2] = [
    Ref {
        env: marathon::CA_CERT,
        secret: "pki-root-ca-cert",
        field: ROOT_CA_CERT,
    },
    Ref {
        env: marathon::CA_KEY,
        secret: "pki-root-ca-key",
        field: ROOT_CA_KEY,
    },
];

const ASP_REFS: [Ref; 1] = [Ref {
    env: asp::ENV_KEY,
    secret: "pki-asp-ephemeral-store",
    field: ASP_EPHEMERAL_STORE,
}];

/// What an app gets instead of the values: its env variables (references
/// and the plain ones) and the secrets they name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct References {
    pub env: Map<String, Value>,
    pub secrets: Map<String, Value>,
}

impl References {
    fn new(mut env: Map<String, Value>, refs: &[Ref], at: &Published) -> Self {
        let mut secrets = Map::new();
        for r in refs {
            env.insert(r.env.into(), serde_json::json!({ "secret": r.secret }));
            secrets.insert(
                r.secret.into(),
                serde_json::json!({ "source": at.source(r.field) }),
            );
        }
        References { env, secrets }
    }

    /// The two fields as one object, `{"env": ..., "secrets": ...}`: what
    /// `--format env` prints (an env block alone cannot name its secrets).
    pub fn fragment(&self) -> Value {
        serde_json::json!({ "env": self.env, "secrets": self.secrets })
    }
}

/// The ephemeral store's env for `user` by reference: `ORCHESTRATION` and
/// `EPHEMERAL_STORE_USER` as values, the CA certificate and key as
/// references to [`STORE`] published at `at`; in the documented order.
pub fn store_references(user: &str, at: &Published) -> References {
    References::new(marathon::env_block(user, "", ""), &STORE_REFS, at)
}

/// The controller's `ASP_EPHEMERAL_STORE` as a reference to [`ASP`] published at `at`.
pub fn asp_references(at: &Published) -> References {
    References::new(Map::new(), &ASP_REFS, at)
}

/// The fields a name is published with, in order, for the JSON documents.
pub fn fields_of(name: &str) -> Vec<String> {
    let refs: &[Ref] = if name == ASP { &ASP_REFS } else { &STORE_REFS };
    refs.iter().map(|r| r.field.to_string()).collect()
}

/// Refuse `--by-reference` for a Marathon older than [`MIN_MARATHON`]
/// (exit 2); `from` says where the version came from (`--marathon-version`,
/// `GET .../v2/info`).
pub fn check_marathon_version(version: &str, from: &str) -> Result<()> {
    let mut parts = version
        .trim()
        .trim_start_matches('v')
        .split(|c: char| !c.is_ascii_digit());
    let number = |p: Option<&str>| p.and_then(|p| p.parse::<u64>().ok());
    let shown = crate::error::one_line(&format!("{version:?}"));
    let (Some(major), Some(minor)) = (number(parts.next()), number(parts.next())) else {
        return Err(Error::input(
            format!("{from} gave {shown}, which is not a Marathon version"),
            "give it as MAJOR.MINOR[.PATCH], e.g. 1.5.15",
        ));
    };
    if (major, minor) < MIN_MARATHON {
        return Err(Error::input(
            format!(
                "Marathon {major}.{minor} ({from} {shown}) cannot take --by-reference: pki writes secret references for Marathon {}.{} and later",
                MIN_MARATHON.0, MIN_MARATHON.1
            ),
            "send the values themselves (leave out --by-reference), or upgrade Marathon (docs/vault-by-reference.md); nothing was published or sent",
        ));
    }
    Ok(())
}

/// Refuse a `--merge` or running app whose `ASP_EPHEMERAL_STORE` holds,
/// by value, another address than the one to be published (a silent move
/// of every ASP instance), and warn about the users it held that the
/// published value does not: by reference the value holds exactly the
/// users named.
pub fn check_asp_value(
    env: &Map<String, Value>,
    host: &str,
    port: u16,
    users: &[String],
    what: &str,
) -> Result<Vec<String>> {
    let Some(Value::String(s)) = env.get(asp::ENV_KEY) else {
        return Ok(Vec::new());
    };
    let Ok(Value::Object(v)) = serde_json::from_str::<Value>(s) else {
        return Ok(vec![format!(
            "{} in {what} is not a JSON object; it is replaced by the reference",
            asp::ENV_KEY
        )]);
    };
    let had_host = v.get("host").and_then(Value::as_str);
    let had_port = v.get("port").and_then(Value::as_u64);
    if had_host.is_some_and(|h| h != host) || had_port.is_some_and(|p| p != u64::from(port)) {
        let (h, p) = (had_host.unwrap_or(host), had_port.unwrap_or(port.into()));
        return Err(Error::usage(
            format!(
                "{} in {what} has the store at {h}:{p}, but the value to publish has {host}:{port}",
                asp::ENV_KEY
            ),
            format!("give --store-host {h} --store-port {p} to keep it, or the address the ASP instances should use"),
        ));
    }
    let dropped: Vec<String> = v
        .get("users")
        .and_then(Value::as_object)
        .map(|u| {
            u.keys()
                .filter(|n| !users.contains(n))
                .map(|n| crate::error::one_line(&format!("{n:?}")))
                .collect()
        })
        .unwrap_or_default();
    Ok(match dropped.as_slice() {
        [] => Vec::new(),
        names => vec![format!(
            "{} in {what} held {} by value; by reference it holds only the users named: name them with --user (or --all-users) to keep them",
            asp::ENV_KEY,
            names.join(", ")
        )],
    })
}

/// The publication of the store's CA, with the CA key in `format`.
pub fn store_publication(format: KeyFormat, allow_non_rsa: bool) -> Publication {
    Publication::Store {
        pkcs8: format == KeyFormat::Pkcs8,
        allow_non_rsa,
    }
}

/// The publication of the controller's value: the users named (or every
/// current user), at `--store-host`/`--store-port` when given, else at the
/// address the index recorded for it, else at the defaults.
pub fn asp_publication(
    index: &Index,
    users: &[String],
    all_users: bool,
    host: Option<&str>,
    port: Option<u16>,
    format: KeyFormat,
    allow_non_rsa: bool,
) -> Publication {
    let (was_host, was_port) = match index.settings.published.get(ASP) {
        Some(Publication::Asp { host, port, .. }) => (host.clone(), *port),
        _ => (None, None),
    };
    Publication::Asp {
        users: if all_users {
            Vec::new()
        } else {
            users.to_vec()
        },
        all_users,
        host: host.map(str::to_string).or(was_host),
        port: port.or(was_port),
        pkcs8: format == KeyFormat::Pkcs8,
        allow_non_rsa,
    }
}

/// The address a controller publication gives the ASP instances.
pub fn asp_address(p: &Publication) -> (String, u16) {
    match p {
        Publication::Asp { host, port, .. } => (
            host.clone()
                .unwrap_or_else(|| asp::DEFAULT_HOST.to_string()),
            port.unwrap_or(asp::DEFAULT_PORT),
        ),
        Publication::Store { .. } => (asp::DEFAULT_HOST.to_string(), asp::DEFAULT_PORT),
    }
}

/// The values of one publication, computed from an index, and whose they are.
pub struct Outgoing {
    pub name: String,
    pub fields: Vec<(&'static str, Zeroizing<String>)>,
    /// The CA key ([`STORE`]) or users' keys ([`ASP`]).
    pub material: Material,
    /// (user, serial) of each user key carried, in order.
    pub users: Vec<(String, String)>,
    /// The users the recipe names that the store no longer has a current
    /// certificate for (left out by [`republish`]).
    pub left_out: Vec<String>,
    pub warnings: Vec<String>,
}

impl Outgoing {
    /// The users whose keys it carries, in order.
    pub fn names(&self) -> Vec<String> {
        self.users.iter().map(|(u, _)| u.clone()).collect()
    }

    /// The users as the deploy flow names them (a serial for each key sent).
    pub fn deploy_users(&self) -> Vec<(String, Option<String>)> {
        self.users
            .iter()
            .map(|(u, s)| (u.clone(), Some(s.clone())))
            .collect()
    }
}

fn key_format(pkcs8: bool) -> KeyFormat {
    if pkcs8 {
        KeyFormat::Pkcs8
    } else {
        KeyFormat::Native
    }
}

/// The fields of `p` as `index` gives them now. `strict`: a user the
/// recipe names must have a current certificate and key (a command the
/// operator runs); otherwise such a user is left out (a republish after a
/// revocation) and named in [`Outgoing::left_out`].
pub fn compute(
    store: &Store,
    index: &Index,
    name: &str,
    p: &Publication,
    pass: &Passphrase,
    now: OffsetDateTime,
    strict: bool,
) -> Result<Outgoing> {
    match p {
        Publication::Store {
            pkcs8,
            allow_non_rsa,
        } => {
            let ca = ca_pem(store, index, key_format(*pkcs8), *allow_non_rsa, pass, now)?;
            Ok(Outgoing {
                name: name.into(),
                fields: vec![
                    (ROOT_CA_CERT, Zeroizing::new(ca.cert)),
                    (ROOT_CA_KEY, ca.key),
                ],
                material: Material::CaKey,
                users: Vec::new(),
                left_out: Vec::new(),
                warnings: ca.warnings,
            })
        }
        Publication::Asp {
            users,
            all_users: all,
            host,
            port,
            pkcs8,
            allow_non_rsa,
        } => {
            let named = if *all {
                all_users(index)
            } else {
                users.clone()
            };
            let (names, left_out): (Vec<String>, Vec<String>) = named
                .into_iter()
                .partition(|u| strict || index.active(u).is_some_and(|c| c.key.is_some()));
            let material = asp_material(
                store,
                index,
                &names,
                &[],
                key_format(*pkcs8),
                *allow_non_rsa,
                pass,
                now,
            )?;
            let value = asp::store_value(&material.update(host.as_deref(), *port));
            let warnings = left_out
                .iter()
                .map(|u| {
                    format!(
                        "user {} has no current certificate in the store: left out of the published {}",
                        crate::error::one_line(&format!("{u:?}")),
                        asp::ENV_KEY
                    )
                })
                .collect();
            Ok(Outgoing {
                name: name.into(),
                fields: vec![(ASP_EPHEMERAL_STORE, value)],
                material: Material::Key,
                users: material
                    .users
                    .iter()
                    .map(|(u, s, _)| (u.clone(), s.clone()))
                    .collect(),
                left_out,
                warnings,
            })
        }
    }
}

/// What a command by reference reads before it records or sends
/// anything: where `name` goes, the index, the publication made from it
/// (`recipe`, which may refuse: a user that is not there) and its values.
pub struct Read {
    pub at: Published,
    pub index: Index,
    pub recipe: Publication,
    pub out: Outgoing,
}

/// Read, in this order: where `name` would be published (a directory
/// store is refused here, exit 2, before the store is read), the index,
/// the publication `recipe` makes of it, and its values (the CA key read,
/// users checked as an export checks them). Warnings are the caller's to print.
pub fn read(
    store: &Store,
    name: &str,
    pass: &Passphrase,
    now: OffsetDateTime,
    recipe: impl FnOnce(&Index) -> Result<Publication>,
) -> Result<Read> {
    let at = store.publish_target(name)?;
    let index = store.read_index()?;
    let recipe = recipe(&index)?;
    let out = compute(store, &index, name, &recipe, pass, now, true)?;
    Ok(Read {
        at,
        index,
        recipe,
        out,
    })
}

/// Record in the index how `name` is published, so rotations and
/// rollovers publish it again (a `config-changed` event when it changed;
/// nothing is written when the index already says so).
pub fn remember(
    store: &Store,
    wait: bool,
    now: OffsetDateTime,
    command: &str,
    name: &str,
    p: &Publication,
) -> Result<()> {
    store.transact(wait, now, |tx| {
        if tx.index.settings.published.get(name) != Some(p) {
            tx.index
                .settings
                .published
                .insert(name.to_string(), p.clone());
            tx.record(Event::new(command, Kind::ConfigChanged).detail(format!(
                "published {name}: kept current on the store's Vault by every rotation and rollover ({})",
                serde_json::to_string(p).expect("plain data encodes")
            )));
        }
        Ok(())
    })
}

/// Publish `out`, computed from `read`: under the store lock, refused with
/// nothing written when the store changed what it carries since `read`
/// (a CA replaced, a user re-issued: run again), recorded in the audit log
/// before the value leaves. `held`: for [`ASP`], the audit detail naming
/// the users the controller holds (as `export asp` records it).
pub fn publish(
    store: &Store,
    wait: bool,
    now: OffsetDateTime,
    command: &str,
    read: &Index,
    out: &Outgoing,
) -> Result<Published> {
    let mut audit = Appender::open_locking(store, wait, now)?;
    let current = store.read_index()?;
    if let Some(why) = stale(read, &current, &out.deploy_users(), now) {
        return Err(Error::failed(
            format!("nothing was published: {why} since the material was read"),
            "run the command again to publish what the store holds now",
        ));
    }
    send(&mut audit, store, &current, now, command, out)
}

/// Record, then write, one publication; the caller holds the lock in `audit`.
fn send(
    audit: &mut Appender,
    store: &Store,
    index: &Index,
    now: OffsetDateTime,
    command: &str,
    out: &Outgoing,
) -> Result<Published> {
    let at = store.publish_target(&out.name)?;
    let cas = trusted_serials(index, now).join(" and ");
    let names: Vec<&str> = out.fields.iter().map(|(f, _)| *f).collect();
    let mut detail = format!(
        "{} published at {} ({}); CA serial {cas}",
        out.name,
        at.location(),
        names.join(", ")
    );
    if out.material == Material::Key {
        let held: Vec<String> = out.users.iter().map(|(u, _)| u.clone()).collect();
        detail.push_str(&crate::ca::rollover::controller_users_detail(&held));
    }
    let kind = Kind::Published(out.material);
    let mut events: Vec<Event> = out
        .users
        .iter()
        .map(|(u, s)| Event::new(command, kind).user(u).serial(s).detail(&detail))
        .collect();
    if events.is_empty() {
        let e = Event::new(command, kind).detail(&detail);
        events.push(match index.ca.as_ref() {
            Some(ca) => e.serial(&ca.serial),
            None => e,
        });
    }
    audit.record(events)?;
    let fields: Vec<(&str, &str)> = out.fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    store.publish(&out.name, &fields)
}

/// Publish again every value the index records (`settings.published`),
/// computed from the store as it is now: for `rotate` and `rollover` to
/// call once their change is committed and the lock released. Takes the
/// lock (waiting for it), reads the index under it, and records each
/// publish before it is written; users no longer current are left out with
/// a warning. Returns the names published and the warnings; nothing is
/// done, and no lock taken, when `index` records no publication.
pub fn republish(
    store: &Store,
    index: &Index,
    pass: &Passphrase,
    now: OffsetDateTime,
    command: &str,
) -> Result<(Vec<String>, Vec<String>)> {
    if index.settings.published.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut audit = Appender::open_locking(store, true, now)?;
    let current = store.read_index()?;
    let (mut names, mut warnings) = (Vec::new(), Vec::new());
    for (name, p) in &current.settings.published {
        let out = compute(store, &current, name, p, pass, now, false)?;
        send(&mut audit, store, &current, now, command, &out)?;
        warnings.extend(out.warnings);
        names.push(name.clone());
    }
    Ok((names, warnings))
}

/// What the audit detail of a by-reference delivery carries, so that a
/// later deploy can tell the running tasks took the same references.
fn marker(name: &str, p: &Publication) -> String {
    let format = match p {
        Publication::Store { pkcs8: true, .. } | Publication::Asp { pkcs8: true, .. } => "pkcs8",
        _ => "native",
    };
    format!("; by reference to {name} (key format {format})")
}

/// Whether the app's running tasks hold what the store would publish now:
/// Marathon resolves a reference when it launches a task, so after a
/// rotation they keep the old values until they restart. True when the
/// last deploy of `command` that Marathon took for `app_id` was by
/// reference with the same [`marker`], carried the CAs the store trusts
/// now, and each user's current serial.
pub fn tasks_current(
    log: &[audit::Entry],
    command: &str,
    app_id: &str,
    cas: &[String],
    out: &Outgoing,
    p: &Publication,
) -> bool {
    let deployed = Kind::Deploy(out.material, SendStage::Deployed);
    let mark = marker(&out.name, p);
    let ca_suffix = format!("; CA serial {}", cas.join(" and "));
    let of_app = |d: &str| {
        [" ", "?"]
            .iter()
            .any(|end| d.contains(&format!("/v2/apps{app_id}{end}")))
    };
    let last = |user: Option<&str>| {
        log.iter().rev().find(|e| {
            e.command == command
                && e.kind() == Some(deployed)
                && e.detail.as_deref().is_some_and(of_app)
                && user.is_none_or(|u| e.user.as_deref() == Some(u))
        })
    };
    let holds = |e: Option<&audit::Entry>, serial: Option<&str>| {
        e.is_some_and(|e| {
            let d = e.detail.as_deref().unwrap_or_default();
            d.contains(&mark)
                && d.ends_with(&ca_suffix)
                && serial.is_none_or(|s| e.serial.as_deref() == Some(s))
        })
    };
    if out.users.is_empty() {
        return holds(last(None), None);
    }
    out.users.iter().all(|(u, s)| holds(last(Some(u)), Some(s)))
}

/// `deploy marathon --by-reference` and `deploy asp --by-reference`: the
/// app's env gets the references and its `secrets` the sources; no key
/// goes to Marathon (the values are published on Vault first).
pub struct RefPayload {
    pub command: &'static str,
    pub refs: References,
    pub owned: &'static [&'static str],
    /// Who the published material belongs to (the store's user, or the controller's users).
    pub users: Vec<(String, Option<String>)>,
    pub material: Material,
    pub describe: String,
    /// `deploy marathon --create`: the image of the app to create.
    pub create: Option<String>,
    /// `deploy asp`: the address and users the published value holds, to
    /// check the app's value by value against ([`check_asp_value`]).
    pub asp: Option<(String, u16, Vec<String>)>,
    /// The audit-detail marker of this delivery ([`marker`]).
    pub marker: String,
}

impl RefPayload {
    /// The payload that delivers `refs` for the publication `p` of `out`.
    #[allow(clippy::too_many_arguments)] // what the app gets, and what the audit says of it
    pub fn new(
        command: &'static str,
        refs: References,
        out: &Outgoing,
        p: &Publication,
        users: Vec<(String, Option<String>)>,
        describe: String,
        create: Option<String>,
        asp: Option<(String, u16, Vec<String>)>,
    ) -> Self {
        RefPayload {
            command,
            refs,
            owned: if out.material == Material::Key {
                &[asp::ENV_KEY]
            } else {
                &marathon::ENV_KEYS
            },
            users,
            material: out.material,
            describe,
            create,
            asp,
            marker: marker(&out.name, p),
        }
    }
}

impl Payload for RefPayload {
    fn command(&self) -> &'static str {
        self.command
    }
    fn owned(&self) -> &'static [&'static str] {
        self.owned
    }
    fn set(&self, env: &mut Map<String, Value>, what: &str) -> Result<Set> {
        let warnings = match &self.asp {
            Some((host, port, users)) => check_asp_value(env, host, *port, users, what)?,
            None => Vec::new(),
        };
        for (k, v) in &self.refs.env {
            env.insert(k.clone(), v.clone());
        }
        Ok(Set {
            warnings,
            kept_users: Vec::new(),
        })
    }
    fn create(&self, base: &str, app_id: &str) -> Option<Request> {
        let image = self.create.as_deref()?;
        Some(marathon_api::create_request(
            base,
            app_id,
            image,
            self.refs.env.clone(),
            self.refs.secrets.clone(),
        ))
    }
    fn missing_hint(&self) -> &'static str {
        if self.material == Material::Key {
            "check --app-id; create the controller first (pki export asp --by-reference --format app, then POST it to /v2/apps)"
        } else {
            "check --app-id, or pass --create to create the app"
        }
    }
    fn users(&self) -> Vec<(String, Option<String>)> {
        self.users.clone()
    }
    fn material(&self) -> Material {
        self.material
    }
    fn describe(&self) -> String {
        self.describe.clone()
    }
    fn held_detail(&self, _kept_users: &[String]) -> String {
        let mut d = self.marker.clone();
        if self.material == Material::Key {
            let held: Vec<String> = self.users.iter().map(|(u, _)| u.clone()).collect();
            d.push_str(&crate::ca::rollover::controller_users_detail(&held));
        }
        d
    }
    fn secrets(&self) -> Map<String, Value> {
        self.refs.secrets.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(name: &str) -> Published {
        Published {
            mount: "secret".into(),
            path: format!("pki/es/published/{name}"),
        }
    }

    #[test]
    fn the_store_env_refers_to_the_ca_and_keeps_its_plain_values() {
        let r = store_references("myuser", &at(STORE));
        assert_eq!(
            r.env.keys().collect::<Vec<_>>(),
            marathon::ENV_KEYS.iter().collect::<Vec<_>>()
        );
        assert_eq!(r.env[marathon::ORCHESTRATION], "marathon");
        assert_eq!(r.env[marathon::USER], marathon::user_json("myuser"));
        assert_eq!(
            r.env[marathon::CA_KEY],
            serde_json::json!({"secret": "pki-root-ca-key"})
        );
        assert_eq!(
            r.secrets["pki-root-ca-key"]["source"],
            "/pki/es/published/store@root_ca_key"
        );
        assert_eq!(
            r.secrets["pki-root-ca-cert"]["source"],
            "/pki/es/published/store@root_ca_cert"
        );
        let a = asp_references(&at(ASP));
        assert_eq!(
            a.fragment(),
            serde_json::json!({
                "env": {"ASP_EPHEMERAL_STORE": {"secret": "pki-asp-ephemeral-store"}},
                "secrets": {"pki-asp-ephemeral-store": {"source": "/pki/es/published/asp@asp_ephemeral_store"}}
            })
        );
        assert_eq!(fields_of(STORE), [ROOT_CA_CERT, ROOT_CA_KEY]);
        assert_eq!(fields_of(ASP), [ASP_EPHEMERAL_STORE]);
    }

    #[test]
    fn marathon_before_1_4_is_refused_with_exit_2() {
        for ok in ["1.4.0", "1.5.15", "v1.10.2", "2.0", "1.4.0-RC4"] {
            check_marathon_version(ok, "--marathon-version").unwrap();
        }
        for old in ["1.3.9", "1.3", "0.15.3"] {
            let e = check_marathon_version(old, "--marathon-version").unwrap_err();
            assert_eq!(e.code(), 2, "{old}");
            assert!(e.to_string().contains("cannot take --by-reference"), "{e}");
        }
        for bad in ["", "one", "1", "1.x"] {
            let e = check_marathon_version(bad, "--marathon-version").unwrap_err();
            assert!(e.to_string().contains("not a Marathon version"), "{e}");
        }
    }

    #[test]
    fn an_app_value_at_another_address_is_refused_and_dropped_users_named() {
        let env = |v: &str| {
            let mut m = Map::new();
            m.insert(asp::ENV_KEY.into(), Value::String(v.into()));
            m
        };
        let users = vec!["alice".to_string()];
        let held = r#"{"host":"h","port":8087,"users":{"alice":{},"bob":{}}}"#;
        let w = check_asp_value(&env(held), "h", 8087, &users, "f").unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("held \"bob\" by value"), "{w:?}");
        let e = check_asp_value(&env(held), "other", 8087, &users, "f").unwrap_err();
        assert_eq!(e.code(), 2);
        assert!(
            e.to_string().contains("--store-host h --store-port 8087"),
            "{e}"
        );
        // A reference, or nothing: nothing to compare.
        let mut reference = Map::new();
        reference.insert(asp::ENV_KEY.into(), serde_json::json!({"secret": "s"}));
        assert!(check_asp_value(&reference, "x", 1, &users, "f")
            .unwrap()
            .is_empty());
        assert!(check_asp_value(&Map::new(), "x", 1, &users, "f")
            .unwrap()
            .is_empty());
    }

    fn entry(
        seq: u64,
        command: &str,
        event: &str,
        user: Option<&str>,
        serial: &str,
        detail: &str,
    ) -> audit::Entry {
        audit::Entry {
            seq,
            time: "2026-01-01T00:00:00Z".into(),
            actor: "t".into(),
            command: command.into(),
            event: event.into(),
            user: user.map(str::to_string),
            serial: Some(serial.into()),
            detail: Some(detail.into()),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn tasks_are_current_only_after_a_deploy_by_reference_of_the_same_cas() {
        let p = Publication::Store {
            pkcs8: false,
            allow_non_rsa: false,
        };
        let out = Outgoing {
            name: STORE.into(),
            fields: Vec::new(),
            material: Material::CaKey,
            users: Vec::new(),
            left_out: Vec::new(),
            warnings: Vec::new(),
        };
        let mark = marker(STORE, &p);
        let deployed = |seq, app: &str, mark: &str, ca: &str| {
            entry(
                seq,
                "deploy marathon",
                "ca-key-deployed",
                Some("u"),
                ca,
                &format!(
                    "PUT http://m/v2/apps{app} (status 200, deployment d){mark}; CA serial {ca}"
                ),
            )
        };
        let cas = vec!["aa".to_string()];
        let check = |log: &[audit::Entry]| {
            tasks_current(log, "deploy marathon", "/ephemeral-store", &cas, &out, &p)
        };
        assert!(!check(&[]));
        assert!(check(&[deployed(1, "/ephemeral-store", &mark, "aa")]));
        // By value, another app, another CA: not what the tasks hold now.
        assert!(!check(&[deployed(1, "/ephemeral-store", "", "aa")]));
        assert!(!check(&[deployed(1, "/ephemeral-store-2", &mark, "aa")]));
        assert!(!check(&[
            deployed(1, "/ephemeral-store", &mark, "aa"),
            deployed(2, "/ephemeral-store", &mark, "bb")
        ]));
    }
}
