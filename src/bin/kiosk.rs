//! The `kiosk` binary: parses the command line and calls into the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use checkin_kiosk::config::{self, KioskConfig};
use checkin_kiosk::kiosk::app;
use checkin_kiosk::sync::{self, SyncSettings};
use clap::{Parser, Subcommand};

/// Where the kiosk's config file is installed.
const DEFAULT_CONFIG: &str = "/etc/checkin-kiosk/kiosk.toml";

/// Patient self check-in kiosk.
#[derive(Parser)]
#[command(name = "kiosk", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Try the kiosk with no configuration: an embedded clinic server with a
    /// demo clinic for today, a kiosk enrolled with it, and the kiosk window.
    #[cfg(feature = "server")]
    Demo {
        /// The loopback port for the embedded server; 0 picks a free one.
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Keep the demo's data in this directory. Without it the data goes
        /// to a temporary directory that is removed when the demo ends.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Run an enrolled kiosk (what the systemd unit starts).
    Run {
        /// The kiosk config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate a kiosk config file; prints "ok" and a summary, or every error.
    CheckConfig {
        /// The config file, for example /etc/checkin-kiosk/kiosk.toml.
        path: PathBuf,
    },
    /// Enroll this kiosk with a clinic server, using a one-time code from
    /// the staff console. Prints the kiosk and clinic ids, never the token.
    Enroll {
        /// The clinic server's base URL, for example https://checkin.clinic.example.org.
        #[arg(long)]
        server: url::Url,
        /// The one-time enrollment code staff created.
        #[arg(long)]
        code: String,
        /// The kiosk config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The name shown in the fleet view; defaults to the config's `kiosk.name`.
        #[arg(long)]
        name: Option<String>,
        /// Replace an existing enrollment (for example after the kiosk was revoked).
        #[arg(long)]
        force: bool,
    },
    /// Print the enrollment, last sync, outbox and whether the server answers
    /// now. Shows no patient data and no token.
    Status {
        /// The kiosk config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(feature = "server")]
        Command::Demo { port, data_dir } => {
            // The demo's own output is on stdout; only the kiosk's own
            // warnings and other libraries' errors go to stderr.
            checkin_kiosk::logging::init("error,checkin_kiosk=warn");
            demo(port, data_dir)
        }
        Command::Run { config } => {
            checkin_kiosk::logging::init("info");
            run(&config)
        }
        Command::CheckConfig { path } => check_config(&path),
        Command::Enroll {
            server,
            code,
            config,
            name,
            force,
        } => enroll(&config, server, &code, name.as_deref(), force),
        Command::Status { config } => status(&config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &Path) -> anyhow::Result<KioskConfig> {
    Ok(config::load_kiosk(path)?)
}

fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = load(config_path)?;
    app::run(&config)?;
    Ok(())
}

#[cfg(feature = "server")]
fn demo(port: u16, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    app::demo(port, data_dir, |info| {
        let url = info.server_url.as_str().trim_end_matches('/');
        println!("checkin-kiosk demo");
        println!();
        println!("staff console: {url}/");
        println!("staff login: {} {}", info.staff_login.0, info.staff_login.1);
        if info.removed_on_exit {
            println!(
                "demo data: {} (removed when the demo ends)",
                info.data_dir.display()
            );
        } else {
            println!("demo data: {}", info.data_dir.display());
        }
        println!();
        println!(
            "Try these patients: type the date of birth, then the first letters of the last name."
        );
        for s in &info.samples {
            println!(
                "  {}  {:<16} {}",
                s.date_of_birth.format("%m/%d/%Y"),
                s.last_name,
                s.label
            );
        }
        println!();
        println!("Or scan a pass. A scanner types the pass text then Enter into the kiosk window;");
        println!("to do the same by hand: xdotool type --delay 5 'PASS' && xdotool key Return");
        println!(
            "In the staff console, Today has a \"Show pass\" button with each appointment's QR code."
        );
        for s in info.samples.iter().take(4) {
            println!("  {} ({}):", s.last_name, s.label);
            println!("    {}", s.pass);
        }
        println!();
    })?;
    Ok(())
}

fn check_config(path: &Path) -> anyhow::Result<()> {
    let config = load(path)?;
    println!("ok");
    println!("{}", config.summary());
    Ok(())
}

fn enroll(
    config_path: &Path,
    server: url::Url,
    code: &str,
    name: Option<&str>,
    force: bool,
) -> anyhow::Result<()> {
    let config = load(config_path)?;
    let name = name.unwrap_or(&config.kiosk.name);
    let settings = SyncSettings::from_config(&config, server);
    let enrollment = sync::enroll_kiosk(&settings, &config.kiosk.data_dir, code, name, force)?;
    println!("enrolled");
    println!("  kiosk id: {}", enrollment.kiosk_id);
    println!(
        "  clinic:   {} ({})",
        enrollment.clinic.clinic_id, enrollment.clinic.name
    );
    println!("  server:   {}", enrollment.server_url);
    println!(
        "  store:    {}",
        config.kiosk.data_dir.join(sync::DB_FILE).display()
    );
    Ok(())
}

fn status(config_path: &Path) -> anyhow::Result<()> {
    let config = load(config_path)?;
    let report = sync::status_report(&config)?;
    println!("{report}");
    Ok(())
}
