//! The `wasync` command.

fn main() -> std::process::ExitCode {
    wasync::cli::main()
}
