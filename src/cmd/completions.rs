//! `pki completions SHELL`.

use clap::CommandFactory;

use crate::cmd::Ctx;
use crate::error::Result;

#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  pki completions bash > /etc/bash_completion.d/pki")]
pub struct Args {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut crate::cli::Cli::command(), "pki", &mut buf);
    ctx.data(&String::from_utf8_lossy(&buf))
}
