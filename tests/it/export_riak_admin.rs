//! `pki export riak-admin`: the `riak-admin security` script for the
//! store's users. Every command line is checked against Riak's documented
//! grammar (docs.basho.com, "Riak Security"):
//!
//! ```text
//! riak-admin security add-user <user> [<option>=<value>...]
//! riak-admin security add-source all|<users> <CIDR> <source> [<option>=<value>...]
//! riak-admin security del-source all|<users> <CIDR>
//! riak-admin security grant <permissions> on any|<type> [bucket] to all|{<user>|<group>}...
//! riak-admin security print-user <user>
//! ```

use crate::support::common;

use common::Env;

/// One `riak-admin security` command, as the grammar reads it.
#[derive(Debug, PartialEq)]
enum Cmd {
    AddUser(String),
    PrintUser(String),
    AddSource(Vec<String>, String, String),
    DelSource(Vec<String>, String),
    Grant(Vec<String>, Vec<String>),
}

fn user(w: &str) -> Result<String, String> {
    let ok = !w.is_empty()
        && w.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '@' | '-')
        })
        && !["all", "on", "to", "from", "any"].contains(&w);
    ok.then(|| w.to_string())
        .ok_or_else(|| format!("{w:?} is not a user name"))
}

fn users(w: &str) -> Result<Vec<String>, String> {
    if w == "all" {
        return Ok(vec!["all".into()]);
    }
    w.split(',').map(user).collect()
}

fn cidr(w: &str) -> Result<String, String> {
    let (a, p) = w.split_once('/').ok_or(format!("{w:?} is not a CIDR"))?;
    let a: std::net::IpAddr = a.parse().map_err(|_| format!("{w:?}: bad address"))?;
    let p: u8 = p.parse().map_err(|_| format!("{w:?}: bad prefix"))?;
    if p > if a.is_ipv4() { 32 } else { 128 } {
        return Err(format!("{w:?}: prefix too long"));
    }
    Ok(w.to_string())
}

fn option(w: &str) -> Result<(), String> {
    match w.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok(()),
        _ => Err(format!("{w:?} is not <option>=<value>")),
    }
}

/// Parse one `riak-admin security ...` command by the documented grammar.
fn parse(cmd: &str) -> Result<Cmd, String> {
    let w: Vec<&str> = cmd.split(' ').collect();
    let ["riak-admin", "security", verb, rest @ ..] = w.as_slice() else {
        return Err(format!("{cmd:?} is not a riak-admin security command"));
    };
    match (*verb, rest) {
        ("add-user", [u, opts @ ..]) => {
            opts.iter().try_for_each(|o| option(o))?;
            Ok(Cmd::AddUser(user(u)?))
        }
        ("print-user", [u]) => Ok(Cmd::PrintUser(user(u)?)),
        ("add-source", [us, c, source, opts @ ..]) => {
            opts.iter().try_for_each(|o| option(o))?;
            let known = ["trust", "password", "pam", "certificate"];
            if !known.contains(source) {
                return Err(format!("{source:?} is not a Riak source"));
            }
            Ok(Cmd::AddSource(users(us)?, cidr(c)?, source.to_string()))
        }
        ("del-source", [us, c]) => Ok(Cmd::DelSource(users(us)?, cidr(c)?)),
        ("grant", [perms, "on", target @ .., "to", us]) => {
            match target {
                ["any"] | [_] | [_, _] => {}
                _ => return Err(format!("{cmd:?}: on any|<type> [bucket]")),
            }
            let perms: Vec<String> = perms.split(',').map(str::to_string).collect();
            for p in &perms {
                let (app, name) = p
                    .split_once('.')
                    .ok_or(format!("{p:?}: not app.permission"))?;
                if app.is_empty() || name.is_empty() {
                    return Err(format!("{p:?}: not app.permission"));
                }
            }
            Ok(Cmd::Grant(perms, users(us)?))
        }
        _ => Err(format!("{cmd:?} does not follow the grammar of {verb}")),
    }
}

/// Every command of the script, in order; the shell around them must be
/// a header comment, `set -eu`, and `A || B >/dev/null` guards only.
fn commands(script: &str) -> Vec<Cmd> {
    let mut out = Vec::new();
    let mut lines = script.lines();
    assert_eq!(lines.next(), Some("#!/bin/sh"), "{script}");
    for line in lines {
        if line.starts_with('#') || line == "set -eu" {
            continue;
        }
        let parts: Vec<&str> = line.split(" || ").collect();
        match parts.as_slice() {
            [one] => out.push(parse(one).unwrap_or_else(|e| panic!("{e}\n{script}"))),
            [add, check] => {
                let add = parse(add).unwrap_or_else(|e| panic!("{e}\n{script}"));
                let check = check
                    .strip_suffix(" >/dev/null")
                    .unwrap_or_else(|| panic!("{line:?}: the guard is quiet"));
                let check = parse(check).unwrap_or_else(|e| panic!("{e}\n{script}"));
                match (&add, &check) {
                    (Cmd::AddUser(a), Cmd::PrintUser(b)) if a == b => {}
                    _ => {
                        panic!("{line:?}: only add-user is guarded, by print-user of the same user")
                    }
                }
                out.push(add);
                out.push(check);
            }
            _ => panic!("{line:?} is not one command"),
        }
    }
    out
}

/// `export riak-admin --json`, as docs/formats.md specifies it.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RiakAdminDoc {
    #[allow(dead_code)]
    version: u32,
    cidr: String,
    users: Vec<String>,
    revoked: Vec<String>,
    script: String,
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn three_users_get_users_a_certificate_source_and_grants_by_riaks_grammar() {
    let env = Env::with_users(&["alice", "bob", "carol"]);
    let args = [
        "export",
        "riak-admin",
        "--cidr",
        "10.0.0.0/8",
        "--grant",
        "riak_kv.get,riak_kv.put",
    ];
    let r = env.run(&args);
    r.ok();
    let cmds = commands(&r.stdout);
    let mut want = Vec::new();
    for u in ["alice", "bob", "carol"] {
        want.push(Cmd::AddUser(u.into()));
        want.push(Cmd::PrintUser(u.into()));
    }
    want.push(Cmd::AddSource(
        s(&["alice", "bob", "carol"]),
        "10.0.0.0/8".into(),
        "certificate".into(),
    ));
    want.push(Cmd::Grant(
        s(&["riak_kv.get", "riak_kv.put"]),
        s(&["alice", "bob", "carol"]),
    ));
    assert_eq!(cmds, want, "{}", r.stdout);
    // sh reads it, and set -e makes a failure stop it.
    let (ok, out) = sh_syntax(&r.stdout);
    assert!(ok, "{out}");
    // The same store gives the same script: running it twice is the same act.
    assert_eq!(env.run(&args).stdout, r.stdout);
}

/// `sh -n`: the script parses as a shell script.
fn sh_syntax(script: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.sh");
    std::fs::write(&p, script).unwrap();
    let out = std::process::Command::new("sh")
        .arg("-n")
        .arg(&p)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_script_runs_twice_with_a_riak_admin_that_refuses_existing_users() {
    let env = Env::with_users(&["alice", "bob", "carol"]);
    let r = env.run(&["export", "riak-admin", "--cidr", "10.0.0.0/8"]);
    r.ok();
    // A stand-in riak-admin with Riak's behaviour: add-user of a known
    // user prints {error,role_exists} and exits 1; print-user of an
    // unknown user exits 1.
    let dir = env.root().join("bin");
    std::fs::create_dir(&dir).unwrap();
    let fake = dir.join("riak-admin");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nset -eu\ndb={}\ntouch \"$db\"\ncase $2 in\n\
             add-user) if grep -qx \"$3\" \"$db\"; then echo '{{error,role_exists}}'; exit 1; fi; echo \"$3\" >> \"$db\" ;;\n\
             print-user) grep -qx \"$3\" \"$db\" ;;\n\
             *) echo \"$*\" >> \"$db.log\" ;;\nesac\n",
            env.root().join("users.db").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let script = env.root().join("riak-users.sh");
    std::fs::write(&script, &r.stdout).unwrap();
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap());
    for run in 1..=2 {
        let out = std::process::Command::new("sh")
            .arg(&script)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(out.status.success(), "run {run}: {out:?}");
    }
    let db = std::fs::read_to_string(env.root().join("users.db")).unwrap();
    assert_eq!(db, "alice\nbob\ncarol\n");
    // A real failure still stops it: a riak-admin that cannot add anyone.
    std::fs::write(&fake, "#!/bin/sh\nexit 1\n").unwrap();
    let out = std::process::Command::new("sh")
        .arg(&script)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
}

#[test]
fn revoked_users_lose_their_source_and_are_not_added() {
    let env = Env::with_users(&["alice", "bob", "carol"]);
    env.run(&["revoke", "bob"]).ok();
    let r = env.run(&["export", "riak-admin", "--cidr", "192.168.10.0/24"]);
    r.ok();
    let cmds = commands(&r.stdout);
    assert!(
        cmds.contains(&Cmd::DelSource(s(&["bob"]), "192.168.10.0/24".into())),
        "{}",
        r.stdout
    );
    assert!(!cmds.contains(&Cmd::AddUser("bob".into())), "{}", r.stdout);
    assert!(cmds.contains(&Cmd::AddSource(
        s(&["alice", "carol"]),
        "192.168.10.0/24".into(),
        "certificate".into()
    )));
    assert!(
        !cmds.iter().any(|c| matches!(c, Cmd::Grant(..))),
        "no grant unless asked"
    );
    // Issued again, bob is a current user once more.
    env.run(&["issue", "bob"]).ok();
    let r = env.run(&["export", "riak-admin", "--cidr", "192.168.10.0/24"]);
    assert!(
        commands(&r.stdout).contains(&Cmd::AddUser("bob".into())),
        "{}",
        r.stdout
    );
}

#[test]
fn the_network_and_the_permissions_are_checked_and_required() {
    let env = Env::with_users(&["alice"]);
    env.run(&["export", "riak-admin"]).code(2);
    for bad in [
        "10.1.2.3/8",
        "10.0.0.0/33",
        "10.0.0.0",
        "any",
        "10.0.0.0/8 && id",
    ] {
        let r = env.run(&["export", "riak-admin", "--cidr", bad]);
        r.code(2);
        assert!(r.stdout.is_empty(), "{bad}: {}", r.stdout);
    }
    let r = env.run(&["export", "riak-admin", "--cidr", "10.1.2.3/8"]);
    assert!(
        r.stderr.contains("10.0.0.0/8"),
        "the hint names the network: {}",
        r.stderr
    );
    for bad in ["all", "riak_kv.get;id", "get"] {
        env.run(&[
            "export",
            "riak-admin",
            "--cidr",
            "10.0.0.0/8",
            "--grant",
            bad,
        ])
        .code(2);
    }
    // With --json, one document: the script and whom it names.
    let r = env.run(&["--json", "export", "riak-admin", "--cidr", "10.0.0.0/8"]);
    r.ok();
    let doc: RiakAdminDoc = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (doc.cidr.as_str(), doc.users, doc.revoked.len()),
        ("10.0.0.0/8", vec!["alice".to_string()], 0)
    );
    assert!(
        doc.script.contains("riak-admin security add-user alice"),
        "{}",
        doc.script
    );
    // Every address only when asked, and then with a warning.
    let r = env.run(&["export", "riak-admin", "--cidr", "0.0.0.0/0"]);
    r.ok();
    assert!(r.stderr.contains("every address"), "{}", r.stderr);
}

#[test]
fn the_commands_of_docs_deploy_run_as_written() {
    let env = Env::with_users(&["alice", "bob"]);
    common::sh(
        &env,
        &common::doc_sh_block("deploy.md", "export riak-admin"),
    );
    let script = std::fs::read_to_string(env.root().join("riak-users.sh")).unwrap();
    assert_eq!(commands(&script).len(), 5, "{script}");
}
