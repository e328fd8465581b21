//! `pki completions SHELL`: the script that makes SHELL complete `pki`
//! lines by asking `pki` itself (clap_complete's dynamic completion), so
//! commands, flags and the store's user names complete.

use clap_complete::env::Shells;

use crate::cmd::Ctx;
use crate::error::{Error, Result};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  source <(pki completions bash)                    # in ~/.bashrc\n  pki completions bash > /etc/bash_completion.d/pki\n  pki completions zsh > \"${fpath[1]}/_pki\"\n\nThe script calls pki to complete each line (commands, flags, and the user\nnames of the store that --dir or PKI_DIR names), so it keeps up with new users."
)]
pub struct Args {
    /// The shell to print the script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(ctx: &Ctx, a: Args, completer: &str) -> Result<()> {
    let name = a.shell.to_string();
    let shells = Shells::builtins();
    let shell = shells.completer(&name).ok_or_else(|| {
        Error::usage(
            format!("no completions for {name}"),
            "use bash, elvish, fish, powershell or zsh",
        )
    })?;
    let mut buf = Vec::new();
    shell
        .write_registration(crate::cli::COMPLETE_VAR, "pki", "pki", completer, &mut buf)
        .map_err(|e| Error::io("write", std::path::Path::new("stdout"), e))?;
    let script = String::from_utf8_lossy(&buf).into_owned();
    if ctx.json {
        return ctx.emit_json(&crate::json::CompletionsDoc {
            version: crate::json::VERSION,
            shell: name,
            script,
        });
    }
    ctx.data(&script)
}
