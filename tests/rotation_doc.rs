//! docs/rotation.md works as written: its crontab line, the systemd
//! service's ExecStart/ExecStartPost and the deploy hook are taken from the
//! page and run, with the page's paths pointed into a scratch directory.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{Env, PKI};

/// The page's fenced blocks of one language.
fn blocks(lang: &str) -> Vec<String> {
    common::doc_blocks("rotation.md", lang)
}

struct Scratch {
    env: Env,
}

impl Scratch {
    /// Point the page's paths into the scratch directory.
    fn localise(&self, text: &str) -> String {
        let r = self.env.root().display().to_string();
        text.replace(
            "/usr/local/bin/pki-redeploy",
            &format!("{r}/bin/pki-redeploy"),
        )
        .replace("/usr/local/bin/pki", PKI)
        .replace("/var/lib/pki/ephemeral-store", &format!("{r}/store"))
        .replace("/var/lib/node_exporter/textfile", &format!("{r}/prom"))
        .replace("/srv/asp", &format!("{r}/srv"))
    }

    /// Run a command line the way its runner would: `sh -c` (cron) or split on blanks (systemd).
    fn run(&self, line: &str, shell: bool, now: &str) -> std::process::Output {
        let line = self.localise(line);
        let mut c = if shell {
            let mut c = Command::new("sh");
            c.arg("-c").arg(&line);
            c
        } else {
            let mut words = line.split_whitespace();
            let mut c = Command::new(words.next().unwrap());
            c.args(words);
            c
        };
        let path = format!(
            "{}/bin:{}",
            self.env.root().display(),
            std::env::var("PATH").unwrap()
        );
        c.env_clear()
            .env("PATH", path)
            .env("PKI_NOW", now)
            .current_dir(self.env.root());
        c.output().unwrap()
    }
}

fn stored(env: &Env) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(env.root().join("store/index.json")).unwrap()).unwrap()
}

#[test]
fn the_crontab_line_the_systemd_service_and_the_hook_work_as_written() {
    let mut env = Env::new();
    env.var("PKI_DIR", env.root().join("store").to_str().unwrap());
    env.var("PKI_NOW", "2026-01-01T00:00:00Z");
    env.run(&["init"]).ok();
    env.run(&["issue", "myuser", "alice", "--days", "90"]).ok();
    let s = Scratch { env };
    let root = s.env.root().to_path_buf();
    for d in ["bin", "prom", "srv/certs"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::os::unix::fs::symlink(PKI, root.join("bin/pki")).unwrap();
    let hook = s.localise(&blocks("sh")[0]);
    std::fs::write(root.join("bin/pki-redeploy"), hook).unwrap();
    std::fs::set_permissions(
        root.join("bin/pki-redeploy"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let app = s
        .env
        .run(&["export", "marathon", "--format", "app", "--user", "myuser"]);
    std::fs::write(root.join("srv/ephemeral-store.json"), &app.ok().stdout).unwrap();

    // systemd: ExecStart and ExecStartPost of the service, with its Environment=.
    let service = &blocks("ini")[0];
    let setting = |key: &str| {
        service
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} in the service"))
            .to_string()
    };
    assert_eq!(
        setting("Environment"),
        "PKI_DIR=/var/lib/pki/ephemeral-store"
    );
    let day70 = "2026-03-12T00:00:00Z";
    // systemd passes Environment=; emulate by prefixing it for the split run.
    let exec = format!("env {} {}", setting("Environment"), setting("ExecStart"));
    let out = s.run(&exec, false, day70);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One line per rotation on stdout: cron mails (or the journal keeps) a record.
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        said.lines().filter(|l| l.starts_with("rotated")).count(),
        2,
        "{said}"
    );
    for u in ["myuser", "alice"] {
        let crt = root.join(format!("srv/certs/{u}/{u}.crt"));
        let (ok, msg) = common::openssl(&[
            "verify",
            "-attime",
            "1773300000",
            "-CAfile",
            root.join(format!("srv/certs/{u}/ca.crt")).to_str().unwrap(),
            crt.to_str().unwrap(),
        ]);
        assert!(ok, "{u}: {msg}");
    }
    let hook_said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        hook_said.contains("pki-redeploy: new serials: alice=")
            && hook_said.contains("(CA rotated: 0)"),
        "{hook_said}"
    );

    let post = setting("ExecStartPost");
    let post = post
        .strip_prefix('-')
        .expect("failure of the check is ignored");
    let out = s.run(
        &format!("env {} {post}", setting("Environment")),
        false,
        day70,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prom = std::fs::read_to_string(root.join("prom/pki.prom")).unwrap();
    assert!(
        prom.contains("pki_certificate_not_after_seconds{user=\"alice\""),
        "{prom}"
    );

    // cron: the crontab line's command, run by sh, 90 days later (due again).
    let cron = blocks("crontab")[0].trim().to_string();
    let fields: Vec<&str> = cron.splitn(6, ' ').collect();
    assert_eq!(&fields[..5], ["17", "3", "*", "*", "*"]);
    let before = stored(&s.env)["certificates"].as_array().unwrap().len();
    let out = s.run(fields[5], true, "2026-06-01T00:00:00Z");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stored(&s.env)["certificates"].as_array().unwrap().len(),
        before + 2
    );
    // ... and again at once: nothing to do, nothing printed.
    let out = s.run(fields[5], true, "2026-06-01T00:00:00Z");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{out:?}"
    );

    // The hook after a CA rotation updates the app definition's env.
    let rot = format!("{PKI} -q rotate --ca --force --on-change /usr/local/bin/pki-redeploy");
    let out = s.run(
        &format!("PKI_DIR=/var/lib/pki/ephemeral-store {rot}"),
        true,
        "2026-06-02T00:00:00Z",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("srv/ephemeral-store.json")).unwrap())
            .unwrap();
    let ca_pem = std::fs::read_to_string(
        root.join("store")
            .join(stored(&s.env)["ca"]["cert"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(
        app["env"]["EPHEMERAL_STORE_ROOT_CA_CERT"]
            .as_str()
            .unwrap()
            .trim(),
        ca_pem.trim()
    );
}
