//! The one deploy flow of `pki deploy marathon` and `pki deploy asp`, in two
//! steps the command calls in turn: [`plan`] reads the app (`GET`) and
//! plans the one mutating request (pure: [`marathon_api::request`]);
//! [`send`] checks under the store lock that the material is still
//! current and records the attempt in the audit log before it leaves,
//! sends it without the lock, records its outcome after, and returns
//! Marathon's deployment id and version. What differs between the two
//! (which variables are set, what is recorded) is a [`Payload`]. Nothing here prints except `ui::trace`
//! (`-v`: each request's method and URL); warnings come back in the
//! [`Plan`], the report is the command's to render.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::deliver::marathon_api::{self, Client, Config, Method, Reply, Request};
use crate::deliver::{asp, by_reference, marathon};
use crate::error::{Error, Result};
use crate::store::audit::{Appender, Event, Kind, Material, SendStage};
use crate::store::{Index, Store};

/// What one deploy sets and records; the rest of the flow is shared.
pub trait Payload {
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
    fn material(&self) -> Material;
    /// What is sent, for messages: "the env of user myuser".
    fn describe(&self) -> String;
    /// What the audit detail of a delivery adds, given the users the merge kept.
    fn held_detail(&self, _kept_users: &[String]) -> String {
        String::new()
    }
    /// The secrets the env refers to (`--by-reference`), set in the app's
    /// `secrets` beside its others; none by default. When there are any,
    /// Marathon's version is asked first: it must read them (1.4 and later).
    fn secrets(&self) -> Map<String, Value> {
        Map::new()
    }
}

/// What setting the variables found: users kept, warnings to print.
#[derive(Default)]
pub struct Set {
    pub kept_users: Vec<String>,
    pub warnings: Vec<String>,
}

/// `deploy marathon`: the ephemeral store's env for one user, with the CA key.
pub struct MarathonPayload {
    pub user: String,
    /// The env block ([`crate::deliver::env_for`]).
    pub env: Map<String, Value>,
    /// `--create`: the image of the app to POST when it is missing.
    pub create: Option<String>,
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
            Map::new(),
        ))
    }
    fn missing_hint(&self) -> &'static str {
        "check --app-id, or pass --create to create the app"
    }
    fn users(&self) -> Vec<(String, Option<String>)> {
        vec![(self.user.clone(), None)]
    }
    fn material(&self) -> Material {
        Material::CaKey
    }
    fn describe(&self) -> String {
        format!("the env of user {}", self.user)
    }
}

/// `deploy asp`: the controller's `ASP_EPHEMERAL_STORE`, merged.
pub struct AspPayload {
    /// The users' material ([`crate::deliver::asp_material`]).
    pub material: asp::Material,
    /// The store's address to set; `None` keeps the app's.
    pub host: Option<String>,
    pub port: Option<u16>,
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
        let merged = asp::merge_env(env, &update, what)?;
        let mut warnings = merged.warnings(&self.material.retire);
        warnings.extend(asp::kept_warnings(&merged.kept, &self.material.root_ca));
        Ok(Set {
            warnings,
            kept_users: merged.kept.into_iter().map(|k| k.name).collect(),
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
    fn material(&self) -> Material {
        Material::Key
    }
    fn describe(&self) -> String {
        match self.material.names().as_slice() {
            [] => format!("{} with no user set", asp::ENV_KEY),
            names => format!("{} for {}", asp::ENV_KEY, names.join(", ")),
        }
    }
    fn held_detail(&self, kept_users: &[String]) -> String {
        let mut held = self.material.names();
        held.extend_from_slice(kept_users);
        crate::ca::rollover::controller_users_detail(&held)
    }
}

/// Whether the request creates the app (`--create`, POST) or updates it (PUT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
}

impl Action {
    /// `create` or `update`, as the JSON document and messages say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
        }
    }
    /// `created` or `updated`.
    pub fn done(self) -> &'static str {
        match self {
            Action::Create => "created",
            Action::Update => "updated",
        }
    }
}

/// What the GET and the merge gave: the one request to send, and what to
/// report about it.
pub struct Plan {
    client: Client,
    /// The app, with its leading slash.
    pub app_id: String,
    pub request: Request,
    pub action: Action,
    /// The app's other env variables, sent back unchanged.
    pub kept_env: Vec<String>,
    /// `deploy asp`: the other users of `ASP_EPHEMERAL_STORE`, kept.
    pub kept_users: Vec<String>,
    /// For the command to print before it sends.
    pub warnings: Vec<String>,
    /// The app's env already holds exactly what the PUT would send: a PUT
    /// would only restart its tasks.
    pub unchanged: bool,
}

/// Read the app and plan the request: the merged env (PUT), the app to
/// create when it is missing and the payload makes one (POST), or the
/// error Marathon's answer calls for. Only the GET is sent.
pub fn plan(cfg: Config, force: bool, p: &dyn Payload) -> Result<Plan> {
    let client = Client::new(cfg.auth, cfg.transport);
    let secrets = p.secrets();
    if !secrets.is_empty() {
        check_reads_secrets(&client, &cfg.base, &cfg.app_id)?;
    }
    let get = Request::get_app(&cfg.base, &cfg.app_id);
    crate::ui::trace(format!("GET {}", get.url));
    let reply = client.send(&get)?;
    let mut before = None;
    let (request, kept_env, set) = match reply.status {
        200 => {
            let app = reply.json().ok_or_else(|| {
                Error::failed(
                    format!("GET {} answered 200 but not with JSON", get.url),
                    "check that --url points at Marathon itself",
                )
            })?;
            before = Some(app_env(&app));
            marathon_api::update_request_with(
                &cfg.base,
                &cfg.app_id,
                app,
                force,
                p.owned(),
                &secrets,
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
    let action = if request.method == Method::Post {
        Action::Create
    } else {
        Action::Update
    };
    let unchanged = before.is_some_and(|env| same_env(&env, &request));
    Ok(Plan {
        client,
        app_id: cfg.app_id,
        request,
        action,
        kept_env,
        kept_users: set.kept_users,
        warnings: set.warnings,
        unchanged,
    })
}

/// Refuse, before anything else is sent, a Marathon that cannot read
/// secret references: its version, from `GET /v2/info`, must be 1.4 or
/// later ([`by_reference::check_marathon_version`]).
fn check_reads_secrets(client: &Client, base: &str, app_id: &str) -> Result<()> {
    let info = Request::get_info(base);
    crate::ui::trace(format!("GET {}", info.url));
    let reply = client.send(&info)?;
    if matches!(reply.status, 401 | 403) {
        return Err(reply.error(&info, app_id, client.auth()));
    }
    let version = (reply.status == 200)
        .then(|| reply.json())
        .flatten()
        .and_then(|v| v.get("version").and_then(Value::as_str).map(str::to_string));
    match version {
        Some(v) => by_reference::check_marathon_version(&v, &format!("GET {}", info.url)),
        None => Err(Error::failed(
            format!(
                "GET {} answered {} without a Marathon version, so pki cannot tell whether it reads secret references",
                info.url, reply.status
            ),
            "check that --url points at Marathon itself; --by-reference needs Marathon 1.4 or later; nothing was sent",
        )),
    }
}

/// The `env` and `secrets` of a `GET /v2/apps/ID` answer (`{"app": {...}}`, or the app).
fn app_env(answer: &Value) -> (Map<String, Value>, Option<Value>) {
    let app = answer
        .get("app")
        .filter(|a| a.is_object())
        .unwrap_or(answer);
    let env = app
        .get("env")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    (env, app.get("secrets").cloned())
}

/// Whether the PUT's env is the app's env as read: the same variables with
/// the same values, a value holding JSON (`ASP_EPHEMERAL_STORE`) compared
/// as the JSON it holds, so that key order or spacing is no change; and,
/// when the PUT sends `secrets`, the app's as read.
fn same_env((before, secrets): &(Map<String, Value>, Option<Value>), request: &Request) -> bool {
    let body = request.body.as_ref().map(|b| b.expose());
    if let Some(sent) = body.and_then(|b| b.get("secrets")) {
        if secrets.as_ref() != Some(sent) {
            return false;
        }
    }
    let Some(after) = body.and_then(|b| b.get("env")).and_then(Value::as_object) else {
        return false;
    };
    let same = |a: &Value, b: &Value| {
        a == b
            || match (a.as_str(), b.as_str()) {
                (Some(a), Some(b)) => {
                    match (
                        serde_json::from_str::<Value>(a),
                        serde_json::from_str::<Value>(b),
                    ) {
                        (Ok(a), Ok(b)) => a.is_object() && a == b,
                        _ => false,
                    }
                }
                _ => false,
            }
    };
    before.len() == after.len()
        && before
            .iter()
            .all(|(k, v)| after.get(k).is_some_and(|w| same(v, w)))
}

/// Record that the deploy sent nothing, the app's env holding what it
/// would send ([`Plan::unchanged`]): an audit event that is no delivery.
pub fn record_unchanged(
    store: &Store,
    wait: bool,
    now: OffsetDateTime,
    plan: &Plan,
    p: &dyn Payload,
) -> Result<()> {
    let audit = Appender::open_locking(store, wait, now)?;
    let detail = format!(
        "{} already holds {}: nothing sent",
        plan.app_id,
        p.describe()
    );
    audit.append(
        p.users()
            .into_iter()
            .map(|(u, serial)| {
                let e = Event::new(p.command(), Kind::DeployUnchanged)
                    .user(&u)
                    .detail(&detail);
                match serial {
                    Some(s) => e.serial(&s),
                    None => e,
                }
            })
            .collect(),
    )
}

/// What Marathon answered to the request sent.
pub struct Sent {
    /// 200 updated, 201 created.
    pub status: u16,
    pub deployment_id: Option<String>,
    pub app_version: Option<String>,
}

/// Send the planned request. Record-or-refuse: the store lock is taken
/// (`wait` as `--wait`), the material is checked to be still what the
/// store holds (`read`: the index it was read from; a CA replaced, a
/// rollover moved on or a user re-issued meanwhile refuses the send), and
/// the attempt is recorded, naming the CA and user serials, before any key
/// leaves. The lock is released while the request waits on the network,
/// so a slow or silent Marathon never blocks the store's writers; it is
/// taken again (waiting for it) to record the outcome, whatever it is.
/// Should the CA have been replaced while the request was out, the outcome
/// is recorded and the deploy fails with what to do.
pub fn send(
    store: &Store,
    wait: bool,
    now: OffsetDateTime,
    read: &Index,
    plan: &Plan,
    p: &dyn Payload,
) -> Result<Sent> {
    let request = &plan.request;
    let sent = format!("{} {}", request.method.as_str(), request.url);
    let cas = trusted_serials(read, now);
    let users = p.users();
    let events = |stage: SendStage, detail: &str| -> Vec<Event> {
        let detail = format!("{detail}; CA serial {}", cas.join(" and "));
        let one = |u: Option<&str>, serial: Option<&String>| {
            let e = Event::new(p.command(), Kind::Deploy(p.material(), stage)).detail(&detail);
            let e = match u {
                Some(u) => e.user(u),
                None => e,
            };
            // A user's serial when its key is sent, else the CA's.
            match serial.or(cas.first()) {
                Some(s) => e.serial(s),
                None => e,
            }
        };
        if users.is_empty() {
            // `deploy asp --remove` alone: no key is sent, but the app changes.
            return vec![one(None, None)];
        }
        users
            .iter()
            .map(|(u, serial)| one(Some(u), serial.as_ref()))
            .collect()
    };
    let mut audit = Appender::open_locking(store, wait, now)?;
    if let Some(why) = stale(read, &store.read_index()?, &users, now) {
        return Err(Error::failed(
            format!("nothing was sent: {why} since the material was read"),
            "run the deploy again to send what the store holds now",
        ));
    }
    audit.record(events(
        SendStage::Sending,
        &format!("{sent}: {}", p.describe()),
    ))?;
    // The attempt is on record: the network wait happens without the lock.
    drop(audit);
    crate::ui::trace(&sent);
    let result = plan.client.send(request);
    let outcome = match &result {
        Ok(r) if succeeded(r) => {
            let (id, _) = r.deployment();
            events(
                SendStage::Deployed,
                &format!(
                    "{sent} (status {}, deployment {}){}",
                    r.status,
                    id.as_deref().unwrap_or("not reported"),
                    p.held_detail(&plan.kept_users)
                ),
            )
        }
        Ok(r) => events(SendStage::Failed, &format!("{sent}: answered {}", r.status)),
        Err(e) => events(SendStage::Failed, &format!("{sent}: {e}")),
    };
    let audit = Appender::open_locking(store, true, now)?;
    let replaced = stale(read, &store.read_index()?, &[], now);
    audit.append(outcome)?;
    let reply = result?;
    if !succeeded(&reply) {
        return Err(reply.error(request, &plan.app_id, plan.client.auth()));
    }
    if let Some(why) = replaced {
        return Err(Error::failed(
            format!(
                "{} took CA serial {}, but {why} while it was being sent",
                plan.app_id,
                cas.join(" and ")
            ),
            "run the deploy again to send the current CA",
        ));
    }
    let (deployment_id, app_version) = reply.deployment();
    Ok(Sent {
        status: reply.status,
        deployment_id,
        app_version,
    })
}

/// The serials of the CAs `index` trusts, the current one first.
pub fn trusted_serials(index: &Index, at: OffsetDateTime) -> Vec<String> {
    index
        .trusted(at)
        .iter()
        .map(|c| c.serial.to_string())
        .collect()
}

/// What changed between the index the material was read from and the one
/// the store holds now, if anything that the material carries: the CAs
/// trusted (a CA replaced, a rollover moved on) or the certificate of a
/// user sent with its serial.
pub(crate) fn stale(
    read: &Index,
    current: &Index,
    users: &[(String, Option<String>)],
    at: OffsetDateTime,
) -> Option<String> {
    let (was, is) = (trusted_serials(read, at), trusted_serials(current, at));
    if was != is {
        return Some(format!(
            "the store's CA changed from serial {} to {}",
            was.join(" and "),
            is.join(" and ")
        ));
    }
    users.iter().find_map(|(u, serial)| {
        let serial = serial.as_ref()?;
        let holds = current.active(u).is_some_and(|c| c.serial == *serial);
        (!holds).then(|| format!("the certificate of {u} changed from serial {serial}"))
    })
}

/// 200 (updated) or 201 (created).
fn succeeded(r: &Reply) -> bool {
    matches!(r.status, 200 | 201)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_say_what_they_set_and_record() {
        let m = MarathonPayload {
            user: "u".into(),
            env: marathon::env_block("u", "CERT", "KEY"),
            create: None,
        };
        assert_eq!(m.users(), [("u".to_string(), None)]);
        assert_eq!(
            (m.command(), m.material()),
            ("deploy marathon", Material::CaKey)
        );
        assert!(m.create("http://m", "/a").is_none());
        let mut env = Map::new();
        env.insert("OTHER".into(), "1".into());
        m.set(&mut env, "the app").unwrap();
        assert_eq!(env.len(), 1 + marathon::ENV_KEYS.len());
        let m = MarathonPayload {
            create: Some("img".into()),
            ..m
        };
        assert_eq!(
            m.create("http://m", "/a").map(|r| r.method),
            Some(Method::Post)
        );
        assert_eq!(
            (Action::Create.done(), Action::Update.as_str()),
            ("created", "update")
        );
    }
}
