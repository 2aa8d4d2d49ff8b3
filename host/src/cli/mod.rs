//! The `wasync` command line: one file per command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod run;

/// wasync: a durable job queue whose jobs are WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "wasync", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one job locally in the sandbox, with no server and no database.
    Run(run::RunArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => run::main(args),
    }
}
