//! The newcomer's path (issue 14): the README's two set-up commands, the
//! docs a newcomer reads next (docs/store.md, the fuzz list), the man page,
//! completions that know the store's users, and `--help` that says what
//! each command takes. Commands are taken from the docs' text.
//!
//! The README's main job runs once on a directory store and once on a
//! store in OpenBao (`each_backend!`, support/backend.rs).

use crate::support::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{sh, Backend, Env, PKI};

/// The README's section `## TITLE` up to the next `## `.
fn readme_section(title: &str) -> String {
    let readme = common::page("README.md");
    let start = readme
        .find(&format!("## {title}\n"))
        .unwrap_or_else(|| panic!("README has ## {title}"));
    let rest = &readme[start + title.len() + 4..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
}

/// A directory holding only `pki` (a link to the binary under test): what
/// `cargo install` leaves in `~/.cargo/bin`.
fn installed(env: &Env) -> String {
    let bin = env.path("cargo-bin");
    if !bin.exists() {
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(PKI, bin.join("pki")).unwrap();
    }
    bin.display().to_string()
}

/// Run `job` with `sh -c` as a newcomer would after `cargo install`: only
/// the installed `pki` and the system's tools on PATH, HOME and TMPDIR in
/// the scratch directory (and the env's variables: a store in Vault).
fn run_installed(env: &Env, job: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(job)
        .env_clear()
        .envs(env.vars.iter().map(|(k, v)| (k, v)))
        .env("PATH", format!("{}:/usr/bin:/bin", installed(env)))
        .env("HOME", env.root())
        .env("TMPDIR", env.root())
        .current_dir(env.root())
        .output()
        .unwrap()
}

fn the_readme_has_two_set_up_commands_install_then_the_main_job_and_the_test_suite(
    backend: Backend,
) {
    let blocks = common::code_blocks(&readme_section("Set-up on a fresh machine"));
    assert_eq!(blocks.len(), 2, "exactly two set-up commands: {blocks:?}");
    let first = blocks[0].1.trim();
    let second = blocks[1].1.trim();
    assert_eq!(first.lines().count(), 1, "{first}");

    // 1. Install (puts pki on PATH), then the main job with bare `pki`.
    let (install, job) = first.split_once(" && ").unwrap();
    assert_eq!(install, "cargo install --locked --path .");
    let env = Env::on(backend);
    let out = run_installed(&env, job);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{job}\n{stderr}");
    let block: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(block["ORCHESTRATION"], "marathon");
    assert_eq!(
        block["EPHEMERAL_STORE_USER"],
        "{ \"name\" : \"myuser\", \"auth_mode\" : \"certificate\" }"
    );
    // The job ran in a scratch directory of its own, not in the caller's.
    assert!(!env.path("pki").exists());

    // 2. The test suite: the command CI runs.
    assert_eq!(second, "bash .ci/run");
    assert!(Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".ci/run")
        .is_file());

    // Every later example calls the installed `pki` by name.
    for (_, b) in common::code_blocks(&readme_section("Everyday use")) {
        for l in b.lines() {
            assert!(l.starts_with("pki "), "{l}");
        }
    }
}

/// Issue 21 items 12 and 13: the README's main job prints no private key
/// and says where it left its store; the test command installs Python
/// tools into a virtual environment, never the system Python, and the
/// README says what it installs and where.
#[test]
fn the_readme_smoke_job_hides_the_ca_key_and_names_its_store() {
    let section = readme_section("Set-up on a fresh machine");
    let blocks = common::code_blocks(&section);
    let (_, job) = blocks[0].1.trim().split_once(" && ").unwrap();
    let env = Env::new();
    let out = run_installed(&env, job);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{job}\n{stderr}");
    assert!(!stdout.contains("PRIVATE KEY"), "{stdout}");
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    let block: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(block["EPHEMERAL_STORE_ROOT_CA_KEY"], "<redacted>");
    let store = stderr
        .lines()
        .find_map(|l| l.strip_prefix("pki: the store of this run is "))
        .unwrap_or_else(|| panic!("no store path on stderr: {stderr}"));
    assert!(Path::new(store).join("index.json").is_file(), "{store}");
    assert!(Path::new(store).starts_with(env.root()), "{store}");

    let ci =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run")).unwrap();
    assert!(!ci.contains("--break-system-packages"), "{ci}");
    assert!(ci.contains("python3 -m venv \"$PKI_TEST_VENV\""), "{ci}");
    assert!(ci.contains("$HOME/.cache/pki-test-venv"), "{ci}");
    assert!(
        !ci.contains("python3 -m pip install"),
        "pip runs from the venv only: {ci}"
    );
    for w in [
        "kubernetes-validate",
        "~/.cache/pki-test-venv",
        "PKI_TEST_VENV",
        "apt-get",
    ] {
        assert!(section.contains(w), "the set-up section lacks {w}");
    }
}

/// `cargo fuzz list`: the `[[bin]]` names of fuzz/Cargo.toml, in order.
fn cargo_fuzz_list() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let toml = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let mut names = Vec::new();
    for bin in toml.split("[[bin]]").skip(1) {
        let field = |k: &str| {
            bin.lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{k} = ")))
                .map(|v| v.trim_matches('"').to_string())
                .unwrap_or_else(|| panic!("[[bin]] without {k}: {bin}"))
        };
        let (name, path) = (field("name"), field("path"));
        assert!(root.join(&path).is_file(), "{path}");
        assert_eq!(path, format!("fuzz_targets/{name}.rs"));
        names.push(name);
    }
    let files: BTreeSet<String> = std::fs::read_dir(root.join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let bins: BTreeSet<String> = names.iter().map(|n| format!("{n}.rs")).collect();
    assert_eq!(files, bins, "every fuzz target file is a [[bin]]");
    names
}

#[test]
fn the_readmes_fuzz_list_is_what_cargo_fuzz_list_prints() {
    let dev = readme_section("Development");
    let after = &dev[dev.find("cargo fuzz list").expect("names cargo fuzz list")..];
    let listed = common::code_blocks(after)
        .into_iter()
        .next()
        .expect("the list, as a code block")
        .1;
    let listed: Vec<&str> = listed.split_whitespace().collect();
    assert_eq!(listed, cargo_fuzz_list());
}

/// Every key of a JSON value, recursively.
fn keys(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone());
                keys(v, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

/// A store that has been through every command that writes to it.
fn busy_store() -> Env {
    let env = Env::new();
    std::fs::write(env.path("pass.txt"), "s3cret\n").unwrap();
    env.run(&["init", "--encrypt", "--passphrase-file", "pass.txt"])
        .ok();
    env.run(&[
        "init",
        "--force",
        "--crl-url",
        "http://crl.example.internal/rootCA.crl",
    ])
    .ok();
    env.run(&["issue", "alice", "bob"]).ok();
    env.run(&["rotate", "alice", "--force"]).ok();
    env.run(&["revoke", "bob", "--reason", "key-compromise"])
        .ok();
    env.run(&["crl", "--out", "rootCA.crl"]).ok();
    sh(
        &env,
        "openssl req -new -newkey rsa:2048 -nodes -keyout carol.key -subj /CN=carol -out carol.csr 2>/dev/null",
    );
    env.run(&["sign", "--csr", "carol.csr"]).ok();
    env
}

#[test]
fn docs_store_md_shows_the_whole_layout_and_every_index_field() {
    let env = busy_store();
    let doc = common::page("docs/store.md");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.store().join("index.json")).unwrap()).unwrap();
    let mut fields = BTreeSet::new();
    keys(&index, &mut fields);
    for f in &fields {
        assert!(
            doc.contains(&format!("| `{f}`")) || doc.contains(&format!(", `{f}` |")),
            "docs/store.md's field table lacks `{f}`"
        );
    }
    // Every path in the store, its serials, numbers and users named as the layout names them.
    let layout = &common::blocks(&doc, "text")[0];
    let users = ["alice", "bob", "carol"];
    for (rel, _) in env.snapshot(&env.store()) {
        let generic: Vec<String> = rel
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .map(|c| {
                let (stem, ext) = c.split_once('.').unwrap_or((&c, ""));
                let stem = if users.contains(&stem) {
                    "<user>"
                } else if stem.len() > 8 && stem.chars().all(|c| c.is_ascii_hexdigit()) {
                    "<serial>"
                } else if !stem.is_empty() && stem.chars().all(|c| c.is_ascii_digit()) {
                    "<number>"
                } else {
                    stem
                };
                if ext.is_empty() {
                    stem.to_string()
                } else {
                    format!("{stem}.{ext}")
                }
            })
            .collect();
        let generic = generic.join("/");
        assert!(
            layout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(generic.as_str())
                    || l.split_whitespace().next() == Some(&format!("{generic}/"))),
            "docs/store.md's layout lacks {generic} ({})",
            rel.display()
        );
    }
}

#[test]
fn pki_man_writes_a_page_per_command_that_man_renders() {
    let env = Env::new();
    let top = env.run(&["man"]);
    top.ok();
    assert!(top.stdout.starts_with(".ie \\n(.g .ds Aq \\(aq") || top.stdout.contains(".TH pki 1"));
    env.run(&["man", "--out", "man1"]).ok();
    let mut pages: Vec<String> = std::fs::read_dir(env.path("man1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for want in [
        "pki.1",
        "pki-init.1",
        "pki-issue.1",
        "pki-rotate.1",
        "pki-export-marathon.1",
        "pki-completions.1",
        "pki-man.1",
    ] {
        assert!(pages.contains(&want.to_string()), "{want} in {pages:?}");
    }
    // man(1) itself renders them (as `man -l`, with no pager).
    let render = |page: &str| {
        let out = Command::new("man")
            .args(["-l", env.path("man1").join(page).to_str().unwrap()])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("man is installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = render("pki.1");
    assert!(text.contains("certificate authority"), "{text}");
    assert!(
        text.contains("pki-init(1)") || text.contains("init"),
        "{text}"
    );
    let init = render("pki-init.1");
    assert!(init.contains("--crl-url"), "{init}");
    assert!(
        init.contains("Global options") || init.contains("--dir"),
        "{init}"
    );
}

/// What bash's programmable completion offers for `words` (the last one
/// being completed), with the script `pki completions bash` prints.
fn bash_completes(env: &Env, words: &[&str]) -> Vec<String> {
    let script = env.run(&["completions", "bash"]);
    script.ok();
    std::fs::write(env.path("pki.bash"), &script.stdout).unwrap();
    let words_q: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = words.join(" ");
    let prog = format!(
        r#"source ./pki.bash
f=$(complete -p pki | sed 's/.* -F \([^ ]*\) .*/\1/')
COMP_WORDS=({words})
COMP_CWORD={cword}
COMP_LINE='{line}'
COMP_POINT=${{#COMP_LINE}}
COMP_TYPE=9
"$f" pki '{cur}' '{prev}'
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        words = words_q.join(" "),
        cword = words.len() - 1,
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(prog)
        .current_dir(env.root())
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", installed(env)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    got.sort();
    got
}

#[test]
fn bash_completes_user_names_from_the_store() {
    let env = Env::with_users(&["alice", "albert", "bob"]);
    assert_eq!(
        bash_completes(&env, &["pki", "show", "al"]),
        ["albert", "alice"]
    );
    assert_eq!(
        bash_completes(&env, &["pki", "export", "marathon", "--user", "b"]),
        ["bob"]
    );
    assert_eq!(bash_completes(&env, &["pki", "revoke", "bo"]), ["bob"]);
    // Another store, named with --dir on the line being completed.
    env.run(&["--dir", "other", "init"]).ok();
    env.run(&["--dir", "other", "issue", "amy"]).ok();
    assert_eq!(
        bash_completes(&env, &["pki", "--dir", "other", "verify", "a"]),
        ["amy"]
    );
    // Commands and flags still complete.
    assert!(bash_completes(&env, &["pki", "rot"]).contains(&"rotate".to_string()));
}

/// Issue 21 item 12: `export asp --user` and `deploy asp --user` complete
/// user names too, the first and a further one.
#[test]
fn bash_completes_user_names_after_export_asp_and_deploy_asp() {
    let env = Env::with_users(&["alice", "albert", "bob"]);
    assert_eq!(
        bash_completes(&env, &["pki", "export", "asp", "--user", "al"]),
        ["albert", "alice"]
    );
    assert_eq!(
        bash_completes(&env, &["pki", "export", "asp", "--user", "alice", "b"]),
        ["bob"]
    );
    assert_eq!(
        bash_completes(
            &env,
            &[
                "pki",
                "deploy",
                "asp",
                "--url",
                "http://m:8080",
                "--user",
                "b"
            ]
        ),
        ["bob"]
    );
}

/// `pki ARGS -h`, the short help.
fn help(args: &[&str]) -> String {
    let mut a = args.to_vec();
    a.push("-h");
    let r = Env::new().run(&a);
    r.ok();
    r.stdout
}

/// The command names a help text lists under "Commands:".
fn commands_of(h: &str) -> Vec<String> {
    let Some(list) = h.split("Commands:\n").nth(1) else {
        return Vec::new();
    };
    list.lines()
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l[2..].starts_with(' '))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .filter(|c| c != "help")
        .collect()
}

/// Every command path: `init`, `export marathon`, ...
fn command_paths() -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for c in commands_of(&help(&[])) {
        let subs = commands_of(&help(&[&c]));
        if subs.is_empty() {
            out.push(vec![c.clone()]);
        }
        for s in subs {
            out.push(vec![c.clone(), s]);
        }
    }
    out
}

/// The option lines of a help text under `heading`, e.g. "Options" or "Global options".
fn options_under<'a>(h: &'a str, heading: &str) -> Vec<&'a str> {
    h.split(&format!("\n{heading}:\n"))
        .nth(1)
        .map(|s| s.lines().take_while(|l| !l.is_empty()).collect())
        .unwrap_or_default()
}

#[test]
fn help_lists_the_commands_own_options_first_then_the_global_ones_each_described() {
    let paths = command_paths();
    assert!(paths.len() >= 20, "{paths:?}");
    for path in &paths {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        let h = help(&p);
        let own = options_under(&h, "Options");
        let global = options_under(&h, "Global options");
        let flag = |l: &str| l.trim_start().split([' ', ',']).next().unwrap().to_string();
        let own_flags: Vec<String> = own.iter().map(|l| flag(l)).collect();
        let global_flags: Vec<String> = global.iter().map(|l| flag(l)).collect();
        assert!(
            h.find("\nOptions:\n") < h.find("\nGlobal options:\n"),
            "{p:?}: the command's own options come first\n{h}"
        );
        for g in ["--dir", "--json", "-q", "-v"] {
            assert!(global_flags.contains(&g.to_string()), "{p:?}: {g}\n{h}");
            assert!(!own_flags.contains(&g.to_string()), "{p:?}: {g}\n{h}");
        }
        // Each option line carries its description: flag, then two spaces, then words.
        for l in own.iter().chain(&global) {
            let t = l.trim_start();
            // Option lines are indented 2 (short) or 6 (long only); deeper
            // lines continue a description.
            if t.starts_with('-') && l.len() - t.len() <= 6 {
                assert!(
                    t.contains("  ") && !t.trim_end().ends_with('>'),
                    "{p:?}: {t:?} has no description\n{h}"
                );
            }
        }
    }
    // Commands that take no lock and never read the CA key do not offer the
    // flags for them.
    for p in [
        &["list"][..],
        &["show"],
        &["check"],
        &["completions"],
        &["man"],
        &["audit", "show"],
        &["audit", "verify"],
        &["config", "show"],
    ] {
        let h = help(p);
        for f in ["--wait", "--passphrase-file"] {
            assert!(!h.contains(f), "{p:?} lists {f}\n{h}");
        }
    }
    // verify takes no lock but reads the CA key to match it (an encrypted
    // one with its passphrase, as its failure line says).
    let h = help(&["verify"]);
    assert!(
        h.contains("--passphrase-file") && !h.contains("--wait"),
        "{h}"
    );
    // export files takes the lock (for the audit log) but never the CA key.
    let h = help(&["export", "files"]);
    assert!(
        h.contains("--wait") && !h.contains("--passphrase-file"),
        "{h}"
    );
    // ... and those that do, do.
    let h = help(&["issue"]);
    assert!(
        h.contains("--wait") && h.contains("--passphrase-file"),
        "{h}"
    );
    let h = help(&["rotate"]);
    assert!(
        h.contains("--wait") && h.contains("--passphrase-file"),
        "{h}"
    );
}

#[test]
fn quiet_prints_only_warnings_and_errors_and_verbose_says_what_was_read_and_written() {
    let h = help(&["issue"]);
    let q = options_under(&h, "Global options")
        .into_iter()
        .find(|l| l.trim_start().starts_with("-q"))
        .unwrap();
    assert!(
        q.ends_with("Print only warnings and errors on stderr"),
        "{q}"
    );

    let env = Env::new();
    let r = env.run(&["-q", "init", "--crl-url", "http://crl.example/root.crl"]);
    r.ok();
    assert_eq!(r.stderr, "");
    let r = env.run(&["-q", "issue", "alice"]);
    r.ok();
    assert_eq!(r.stderr, "");
    let r = env.run(&["-q", "issue", "eve", "--key-type", "ecdsa-p256"]);
    r.ok();
    assert_eq!(
        r.stderr,
        "pki: warning: ecdsa-p256 client keys cannot talk to the ASP ephemeral store, whose TLS stack needs RSA\n"
    );

    // -v: what was read and written, and why, each with the time since start.
    let r = env.run(&["-v", "issue", "bob"]);
    r.ok();
    let verbose: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("pki: ") && l.contains(" ms: "))
        .collect();
    for l in &verbose {
        let ms = l
            .strip_prefix("pki: ")
            .unwrap()
            .split(" ms: ")
            .next()
            .unwrap();
        assert!(ms.trim().parse::<f64>().is_ok(), "{l}");
    }
    let has = |words: &[&str]| verbose.iter().any(|l| words.iter().all(|w| l.contains(w)));
    assert!(has(&["read", "index.json"]), "{}", r.stderr);
    assert!(has(&["lock"]), "{}", r.stderr);
    assert!(has(&["read", "ca/", ".key", "to sign"]), "{}", r.stderr);
    assert!(
        has(&["wrote", "users/bob/", ".key", "0600"]),
        "{}",
        r.stderr
    );
    assert!(has(&["wrote", "users/bob/", ".crt"]), "{}", r.stderr);
    assert!(has(&["wrote", "index.json"]), "{}", r.stderr);
    assert!(has(&["audit.jsonl"]), "{}", r.stderr);
    assert!(!r.stderr.contains("PRIVATE KEY"));
    // Without -v none of it.
    let r = env.run(&["issue", "carol"]);
    assert!(!r.stderr.contains(" ms: "), "{}", r.stderr);
}

/// The line `init` prints about check_crl when no CRL URL is given.
const NO_CRL_URL: &str = "pki: warning: no --crl-url: Riak's check_crl (on by default) refuses every login (no_crl) until a CRL is published at a URL the certificates name; pass --crl-url URL, or run the store with check_crl off (docs/quickstart.md)";

#[test]
fn init_without_a_crl_url_says_in_one_line_what_check_crl_will_do() {
    let env = Env::new();
    let r = env.run(&["init"]);
    r.ok();
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("check_crl"))
        .collect();
    assert_eq!(lines, [NO_CRL_URL], "{}", r.stderr);
    let env = Env::new();
    let r = env.run(&[
        "init",
        "--crl-url",
        "http://crl.example.internal:8911/rootCA.crl",
    ]);
    r.ok();
    assert!(!r.stderr.contains("check_crl"), "{}", r.stderr);
    // The quickstart says the same, and shows both ways out.
    let q = common::page("docs/quickstart.md");
    for w in [
        "check_crl",
        "no_crl",
        "refuses every login",
        "--crl-url",
        "check_crl = off",
    ] {
        assert!(q.contains(w), "quickstart lacks {w}");
    }
    assert!(common::cron_lines(&q)
        .iter()
        .any(|l| l.contains(" crl --out ")));
}

crate::each_backend!(
    the_readme_has_two_set_up_commands_install_then_the_main_job_and_the_test_suite,
);
