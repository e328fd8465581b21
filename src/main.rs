fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(pki::run(std::env::args_os()))
}
