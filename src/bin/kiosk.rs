//! The `kiosk` binary: parses the command line and calls into the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Patient self check-in kiosk.
#[derive(Parser)]
#[command(name = "kiosk", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a kiosk config file; prints "ok" and a summary, or every error.
    CheckConfig {
        /// The config file, for example /etc/checkin-kiosk/kiosk.toml.
        path: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { path } => match checkin_kiosk::config::load_kiosk(&path) {
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
