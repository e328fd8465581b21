//! The `pki` binary: core dumps off, then everything else in `pki::run`.

fn main() -> std::process::ExitCode {
    pki::no_core_dumps();
    std::process::ExitCode::from(pki::run(std::env::args_os()))
}
