//! The `clinic-server` binary: parses the command line and calls into the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The clinic server that check-in kiosks sync with.
#[derive(Parser)]
#[command(name = "clinic-server", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a server config file; prints "ok" and a summary, or every error.
    CheckConfig {
        /// The config file, for example /etc/clinic-server/clinic-server.toml.
        path: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { path } => match checkin_kiosk::config::load_server(&path) {
            Ok(config) => {
                println!("ok");
                println!("{}", config.summary());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("{err}");
                ExitCode::FAILURE
            }
        },
    }
}
