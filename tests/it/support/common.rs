//! Shared helpers for integration tests: run the real `pki` binary in a
//! fresh temporary directory with a cleared environment, and look at what
//! it printed and wrote.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use super::backend::Backend;
use super::backend::VaultPrefix;

pub const PKI: &str = env!("CARGO_BIN_EXE_pki");

/// The test-only variable that lets writing commands honour PKI_NOW.
pub const ALLOW_NOW: &str = "PKI_TEST_ALLOW_NOW";

/// A scratch directory; the store lives in `<root>/pki` unless told
/// otherwise, or in Vault ([`Env::on`]).
pub struct Env {
    pub tmp: tempfile::TempDir,
    pub umask: Option<u32>,
    pub vars: Vec<(String, String)>,
    /// The store in Vault every run uses (`PKI_STORE`); None: a directory.
    pub vault: Option<VaultPrefix>,
    /// The host name every run sees ([`Env::on_host`]); None: this machine's.
    pub host: Option<String>,
}

/// What one run of `pki` did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Assert the exit code, showing both streams when it is wrong.
    #[track_caller]
    pub fn code(&self, want: i32) -> &Self {
        assert_eq!(
            self.code, want,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.code(0)
    }

    /// Assert stderr holds exactly one line, an attention result (exit 3:
    /// `pki: attention: ...`, not an error), containing each of `parts`.
    #[track_caller]
    pub fn one_line_attention(&self, parts: &[&str]) -> &Self {
        self.one_line_with("pki: attention: ", parts)
    }

    /// Assert stderr holds exactly one line (an error message) containing each of `parts`.
    #[track_caller]
    pub fn one_line_error(&self, parts: &[&str]) -> &Self {
        self.one_line_with("pki: error: ", parts)
    }

    #[track_caller]
    fn one_line_with(&self, prefix: &str, parts: &[&str]) -> &Self {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one line on stderr, got:\n{}",
            self.stderr
        );
        assert!(lines[0].starts_with(prefix), "{}", lines[0]);
        for p in parts {
            assert!(lines[0].contains(p), "stderr {:?} lacks {p:?}", lines[0]);
        }
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// What makes a directory store keep its index in shards from the first
/// certificate ([`Backend::Sharded`]).
pub const SHARDED_VAR: &str = "PKI_INDEX_INLINE_MAX";

impl Env {
    pub fn new() -> Self {
        Env {
            tmp: tempfile::tempdir().expect("tempdir"),
            umask: None,
            vars: Vec::new(),
            vault: None,
            host: None,
        }
    }

    /// A scratch directory whose runs keep their store on `backend`: the
    /// directory `<root>/pki`, or a fresh store in the shared OpenBao dev
    /// server (`PKI_STORE`, `VAULT_ADDR` and `VAULT_TOKEN` set for every run).
    pub fn on(backend: Backend) -> Self {
        let mut env = Env::new();
        if backend == Backend::Vault {
            let vault = VaultPrefix::fresh();
            for (k, v) in vault.vars() {
                env.var(&k, &v);
            }
            env.vault = Some(vault);
        }
        if backend == Backend::Sharded {
            env.var(SHARDED_VAR, "0");
        }
        env
    }

    /// Another "host" using this env's store in Vault: a scratch directory
    /// of its own (its working directory and HOME), and, where this
    /// machine allows user namespaces, its runs see the host name `host`
    /// (`unshare --uts`; [`hosts_can_differ`]), as the lock's holder
    /// names them.
    pub fn on_host(&self, host: &str) -> Env {
        let vault = self.vault.as_ref().expect("a store in Vault is shared");
        let mut env = Env::new();
        env.vars = self.vars.clone();
        env.vault = Some(vault.same());
        let home = env.root().display().to_string();
        env.var("HOME", &home);
        if hosts_can_differ() {
            env.host = Some(host.to_string());
        }
        env
    }

    /// Hold the store's lock (`.lock`, as pki takes it) until the file
    /// returned is dropped.
    pub fn hold_lock(&self) -> std::fs::File {
        let lock = std::fs::OpenOptions::new()
            .write(true)
            .open(self.store().join(".lock"))
            .unwrap();
        lock.lock().unwrap();
        lock
    }

    /// The backend this env's store is on.
    pub fn backend(&self) -> Backend {
        if self.vault.is_some() {
            Backend::Vault
        } else if self.vars.iter().any(|(k, _)| k == SHARDED_VAR) {
            Backend::Sharded
        } else {
            Backend::Dir
        }
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// The store's files: the directory store itself, or for a store in
    /// Vault a read-only snapshot of its objects in the same layout
    /// ([`VaultPrefix::snapshot`]), current as of this call.
    pub fn store(&self) -> PathBuf {
        match &self.vault {
            None => self.root().join("pki"),
            Some(v) => v.snapshot(self.root()),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// Set an environment variable for every later run (e.g. PKI_NOW).
    ///
    /// Setting PKI_NOW also sets PKI_TEST_ALLOW_NOW=1, the documented
    /// test-only switch that lets writing commands use the injected clock
    /// (without it they refuse PKI_NOW). A test of that refusal removes it
    /// with `unset`.
    pub fn var(&mut self, k: &str, v: &str) -> &mut Self {
        self.vars.retain(|(key, _)| key != k);
        self.vars.push((k.into(), v.into()));
        if k == "PKI_NOW" {
            self.var(ALLOW_NOW, "1");
        }
        self
    }

    /// Stop setting an environment variable.
    pub fn unset(&mut self, k: &str) -> &mut Self {
        self.vars.retain(|(key, _)| key != k);
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut first = Vec::new();
        if let Some(mask) = self.umask {
            first.push(format!("umask {mask:03o}"));
        }
        if let Some(host) = &self.host {
            first.push(format!("hostname {host}"));
        }
        let mut c = if first.is_empty() {
            Command::new(PKI)
        } else {
            // exec: pki keeps the pid the caller sees (`Child::id`).
            let mut c = if self.host.is_some() {
                let mut c = Command::new("unshare");
                c.args(["--user", "--map-root-user", "--uts", "sh"]);
                c
            } else {
                Command::new("sh")
            };
            c.arg("-c")
                .arg(format!("{} && exec \"$0\" \"$@\"", first.join(" && ")))
                .arg(PKI);
            c
        };
        c.args(args)
            .current_dir(self.root())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    /// Run `pki ARGS` in the scratch directory with no stdin.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run pki");
        to_run(out)
    }

    /// Run with `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pki");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        to_run(child.wait_with_output().unwrap())
    }

    /// A store with a CA and the given users.
    pub fn with_users(users: &[&str]) -> Self {
        Env::with_users_on(Backend::Dir, users)
    }

    /// A store on `backend` with a CA and the given users.
    pub fn with_users_on(backend: Backend, users: &[&str]) -> Self {
        let env = Env::on(backend);
        env.run(&["init"]).ok();
        if !users.is_empty() {
            let mut args = vec!["issue"];
            args.extend_from_slice(users);
            env.run(&args).ok();
        }
        env
    }

    /// Every file under `dir` with its bytes and mode: compare before and after a refusal.
    pub fn snapshot(&self, dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
        let mut out = BTreeMap::new();
        fn walk(d: &Path, base: &Path, out: &mut BTreeMap<PathBuf, (Vec<u8>, u32)>) {
            let Ok(rd) = std::fs::read_dir(d) else { return };
            for e in rd.flatten() {
                let p = e.path();
                let m = std::fs::symlink_metadata(&p).unwrap();
                let rel = p.strip_prefix(base).unwrap().to_path_buf();
                if m.is_dir() {
                    out.insert(rel.clone(), (Vec::new(), m.mode()));
                    walk(&p, base, out);
                } else {
                    out.insert(rel, (std::fs::read(&p).unwrap_or_default(), m.mode()));
                }
            }
        }
        walk(dir, dir, &mut out);
        out
    }

    /// A new scratch directory holding a copy of this env's store, with
    /// the same variables (PKI_NOW, ...).
    pub fn copy_of(&self) -> Env {
        assert!(self.vault.is_none(), "copy_of copies a directory store");
        let mut env = Env::new();
        env.umask = self.umask;
        env.vars = self.vars.clone();
        copy_tree(&self.store(), &env.store());
        env
    }

    /// The current certificate and key paths of `user`, from the index.
    pub fn user_files(&self, user: &str) -> (PathBuf, PathBuf) {
        let index = self.index();
        let e = index
            .active(user)
            .unwrap_or_else(|| panic!("no active certificate for {user}"));
        let key = e.key.as_ref().expect("the user's key is in the store");
        (self.store().join(&e.cert), self.store().join(key))
    }

    /// The current CA certificate and key paths.
    pub fn ca_files(&self) -> (PathBuf, PathBuf) {
        let index = self.index();
        let ca = index.ca.as_ref().expect("the store has a CA");
        (self.store().join(&ca.cert), self.store().join(&ca.key))
    }
}

/// Whether a run can be given a host name of its own: `unshare --user
/// --map-root-user --uts` works here (else the "hosts" of [`Env::on_host`]
/// share this machine's name, and say so once).
pub fn hosts_can_differ() -> bool {
    static CAN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CAN.get_or_init(|| {
        let ok = Command::new("unshare")
            .args([
                "--user",
                "--map-root-user",
                "--uts",
                "hostname",
                "pki-probe",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("note: no user namespaces here; the tests' hosts share this machine's name");
        }
        ok
    })
}

fn to_run(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o7777
}

/// Run `openssl ARGS`; returns (success, stdout+stderr).
pub fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The public key in a certificate or private key file, as openssl reads it
/// (PEM SubjectPublicKeyInfo): equal for a key and its certificate. Panics
/// when openssl cannot read the file.
pub fn openssl_public_key(path: &Path) -> String {
    let is_cert = std::fs::read_to_string(path)
        .unwrap()
        .contains("-----BEGIN CERTIFICATE-----");
    let file = path.to_str().unwrap();
    let (ok, out) = if is_cert {
        openssl(&["x509", "-in", file, "-noout", "-pubkey"])
    } else {
        openssl(&["pkey", "-in", file, "-pubout"])
    };
    assert!(
        ok && out.contains("-----BEGIN PUBLIC KEY-----"),
        "{file}: {out}"
    );
    out
}

/// Run a shell script in the scratch directory (with $PKI naming the
/// binary); panics when it fails.
pub fn sh(env: &Env, script: &str) {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(env.root())
        .env("PKI", PKI)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The one ```sh block of `docs/<page>` that holds `marker`, as a script
/// for [`sh`]: a line's leading `pki` is the binary under test.
pub fn doc_sh_block(page: &str, marker: &str) -> String {
    let found: Vec<String> = doc_blocks(page, "sh")
        .into_iter()
        .filter(|b| b.contains(marker))
        .collect();
    assert_eq!(found.len(), 1, "{page}: one ```sh block with {marker:?}");
    found[0]
        .lines()
        .map(|l| match l.strip_prefix("pki ") {
            Some(rest) => format!("\"$PKI\" {rest}"),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The repository's `../shared` directory (Marathon schemas, docs).
pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// Marathon's AppDefinition schema of `version` (e.g. "1.3.9"), read from
/// ../shared and loaded as JSON Schema draft 4 explicitly: its `$schema`
/// ("http://json-schema.org/schema#") names no draft and is a URI the
/// validator would otherwise try to fetch.
pub fn marathon_schema(version: &str) -> jsonschema::Validator {
    let path = shared().join(format!("marathon/AppDefinition-{version}.json"));
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut schema: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/schema#");
    schema.as_object_mut().unwrap().remove("$schema");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .expect("the schema loads as draft 4")
}

/// The virtual environment `.ci/run` installs Python test tools into
/// (never the system Python): `$PKI_TEST_VENV`, by default
/// `~/.cache/pki-test-venv`.
pub fn test_venv() -> PathBuf {
    std::env::var_os("PKI_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/pki-test-venv")
        })
}

/// A test tool to run: the one in [`test_venv`] when it is there, else
/// `tool` as PATH finds it.
pub fn test_tool(tool: &str) -> Command {
    let venv = test_venv().join("bin").join(tool);
    Command::new(if venv.is_file() {
        venv.into_os_string()
    } else {
        tool.into()
    })
}

/// Whether a test that needs `tool` can run: true when it is on PATH. On
/// CI (`CI` set) a missing tool fails the test, since `.ci/run` installs
/// it; elsewhere the test says why it is skipped.
pub fn tool_or_skip(tool: &str, install: &str) -> bool {
    let found = test_venv().join("bin").join(tool).is_file()
        || Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{tool} missing on CI: .ci/run must install it ({install})"
    );
    eprintln!("skipped: {tool} not installed ({install})");
    false
}

/// Assert `app` validates against Marathon's AppDefinition schema `version`.
#[track_caller]
pub fn assert_app_valid(version: &str, app: &serde_json::Value) {
    let v = marathon_schema(version);
    let errors: Vec<String> = v
        .iter_errors(app)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "invalid against {version}: {errors:#?}\n{app:#}"
    );
}

/// `v` without its `null` members, at any depth: Marathon's GET says "not
/// set" with null, the same to Marathon as leaving the field out (which is
/// what `--merge` does with them).
pub fn without_nulls(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(o) => serde_json::Value::Object(
            o.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `openssl verify -purpose sslclient`: does `cert` chain to `ca` as a TLS client certificate?
pub fn openssl_verify_client(ca: &Path, cert: &Path) -> (bool, String) {
    openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
    ])
}

/// The fenced blocks of `lang` (```lang) in `docs/<page>`, as written
/// (through the one extractor, [`code_blocks`]).
pub fn doc_blocks(page: &str, lang: &str) -> Vec<String> {
    blocks(&self::page(&format!("docs/{page}")), lang)
}

// ---- kill tests: copies of stores, what an index names, killing pki -------

/// Copy a store with its modes (fs::copy keeps permissions).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::metadata(from).unwrap().permissions()).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// serial -> (cert, key) of every entry in an index.
pub fn indexed_files(ix: &serde_json::Value) -> BTreeMap<String, (String, Option<String>)> {
    let mut out = BTreeMap::new();
    for c in ix["certificates"].as_array().unwrap() {
        out.insert(
            c["serial"].as_str().unwrap().to_string(),
            (
                c["cert"].as_str().unwrap().to_string(),
                c["key"].as_str().map(str::to_string),
            ),
        );
    }
    for ca in std::iter::once(&ix["ca"]).chain(ix["ca_history"].as_array().unwrap()) {
        out.insert(
            ca["serial"].as_str().unwrap().to_string(),
            (
                ca["cert"].as_str().unwrap().to_string(),
                ca["key"].as_str().map(str::to_string),
            ),
        );
    }
    out
}

/// user -> serial of every active certificate in an index.
pub fn active_serials(ix: &serde_json::Value) -> BTreeMap<String, String> {
    ix["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == "active")
        .map(|c| {
            (
                c["user"].as_str().unwrap().to_string(),
                c["serial"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// How many files (not directories) are under `dir`.
pub fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// The slowest of `n` whole runs of `pki ARGS`, each on a fresh env from
/// `fresh` (each must succeed): the span a kill sweep spreads its delays over.
pub fn slowest_run(fresh: &dyn Fn() -> Env, args: &[&str], n: usize) -> std::time::Duration {
    let mut slowest = std::time::Duration::ZERO;
    for _ in 0..n {
        let env = fresh();
        let t = std::time::Instant::now();
        env.run(args).ok();
        slowest = slowest.max(t.elapsed());
    }
    slowest
}

/// Start `pki ARGS` in `env` and SIGKILL it after `delay` (a run that has
/// finished by then is not disturbed).
pub fn kill_after(env: &Env, args: &[&str], delay: std::time::Duration) {
    let mut child = env
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill(); // SIGKILL
    child.wait().unwrap();
}

/// Run one row of a table test: a failed assertion in `check` is added to
/// `failures` (as "LABEL: message") instead of stopping the table, so one
/// run reports every failing row.
pub fn table_row(failures: &mut Vec<String>, label: impl FnOnce() -> String, check: impl FnOnce()) {
    if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        failures.push(format!("{}: {msg}", label()));
    }
}

/// The text of a page of the repository: `README.md` or `docs/NAME.md`.
pub fn page(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every page a user is told to follow: README.md and docs/*.md, by name.
pub fn pages() -> Vec<(String, String)> {
    let mut names = vec!["README.md".to_string()];
    let mut docs: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".md"))
            .map(|n| format!("docs/{n}"))
            .collect();
    docs.sort();
    names.extend(docs);
    names
        .into_iter()
        .map(|n| {
            let text = page(&n);
            (n, text)
        })
        .collect()
}

/// The one extractor of command text from the docs. A code block is a
/// fenced block (its language after the fence, "" for none) or an indented
/// one (four spaces, language "indented"); returned in page order with
/// their language.
pub fn code_blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    let mut prev_blank = true;
    while let Some(line) = lines.next() {
        if let Some(lang) = line.strip_prefix("```") {
            let mut body = String::new();
            for l in lines.by_ref() {
                if l.starts_with("```") {
                    break;
                }
                body.push_str(l);
                body.push('\n');
            }
            out.push((lang.trim().to_string(), body));
            prev_blank = false;
            continue;
        }
        if prev_blank && line.starts_with("    ") && !line.trim().is_empty() {
            let mut body = format!("{}\n", &line[4..]);
            while let Some(l) = lines.peek() {
                if l.starts_with("    ") || l.trim().is_empty() {
                    body.push_str(l.get(4..).unwrap_or(""));
                    body.push('\n');
                    lines.next();
                } else {
                    break;
                }
            }
            out.push(("indented".to_string(), body.trim_end().to_string() + "\n"));
            prev_blank = true;
            continue;
        }
        prev_blank = line.trim().is_empty();
    }
    out
}

/// The fenced blocks of one language in a page.
pub fn blocks(text: &str, lang: &str) -> Vec<String> {
    code_blocks(text)
        .into_iter()
        .filter(|(l, _)| l == lang)
        .map(|(_, b)| b)
        .collect()
}

/// Whether a line is a crontab line: five time fields, then a command.
pub fn is_cron_line(l: &str) -> bool {
    let field =
        |f: &str| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit() || "*/,-".contains(c));
    let w: Vec<&str> = l.split_whitespace().collect();
    w.len() > 5 && w[..5].iter().all(|f| field(f))
}

/// Every crontab line in a page's code blocks, whole.
pub fn cron_lines(text: &str) -> Vec<String> {
    code_blocks(text)
        .into_iter()
        .flat_map(|(_, b)| b.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| is_cron_line(l))
        .collect()
}

/// The command of a crontab line (what cron hands to `sh -c`).
pub fn cron_command(line: &str) -> String {
    let mut rest = line.trim_start();
    for _ in 0..5 {
        rest = rest
            .split_once(' ')
            .expect("five time fields")
            .1
            .trim_start();
    }
    rest.to_string()
}

/// Run a command line as cron or a hook runner would: `sh -c LINE` under
/// `env -i PATH=/usr/bin:/bin`, plus `vars`, in `dir`. `line` is the doc's
/// text with only its paths pointed elsewhere by the caller.
pub fn run_as_cron(line: &str, vars: &[(&str, &str)], dir: &Path) -> Output {
    let mut c = Command::new("env");
    c.arg("-i").arg("PATH=/usr/bin:/bin");
    for (k, v) in vars {
        c.arg(format!("{k}={v}"));
    }
    c.arg("sh").arg("-c").arg(line).current_dir(dir);
    c.env_clear().output().expect("run env -i sh -c")
}

/// Replace each `(from, to)` in `text`, in order: a doc's paths pointed into a scratch directory.
pub fn localise(text: &str, map: &[(&str, String)]) -> String {
    map.iter()
        .fold(text.to_string(), |t, (from, to)| t.replace(from, to))
}

/// How many JSON documents `stdout` holds (whitespace between them allowed).
pub fn json_documents(stdout: &str) -> usize {
    serde_json::Deserializer::from_str(stdout)
        .into_iter::<serde_json::Value>()
        .inspect(|d| {
            if let Err(e) = d {
                panic!("not JSON ({e}):\n{stdout}")
            }
        })
        .count()
}
