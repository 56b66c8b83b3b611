//! The `clinic-server` binary: parses the command line and calls into the library.

use std::io::{BufRead, IsTerminal, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use checkin_kiosk::config::{self, ServerConfig};
use checkin_kiosk::domain::ClinicId;
use checkin_kiosk::server::{self, AppState, demo, import, staff};
use clap::{Parser, Subcommand};

/// Where the packaged server keeps its configuration.
const DEFAULT_CONFIG: &str = "/etc/clinic-server/clinic-server.toml";

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
    /// Run the server.
    Serve {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Run the server on 127.0.0.1 with a deterministic demo clinic for today.
    Demo {
        /// The port to listen on; 0 picks a free one.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Where to keep the demo's database and key; a fresh temporary
        /// directory when absent.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Add a staff user to a clinic (or reset their password, which ends
    /// their sessions). The password is read from a prompt, or from the
    /// first line of standard input.
    AddStaff {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The clinic id.
        #[arg(long)]
        clinic: String,
        /// The user name.
        #[arg(long)]
        user: String,
    },
    /// Remove a staff user from a clinic, or from every clinic, and end
    /// their sessions.
    RemoveStaff {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The clinic id; every clinic when absent.
        #[arg(long)]
        clinic: Option<String>,
        /// The user name.
        #[arg(long)]
        user: String,
    },
    /// Print a one-time kiosk enrollment code that expires after 24 h.
    EnrollmentCode {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The clinic id.
        #[arg(long)]
        clinic: String,
    },
    /// Import a day's schedule from JSON or CSV. Every row is validated
    /// first; a bad row is reported with its line and nothing is imported.
    Import {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The clinic id.
        #[arg(long)]
        clinic: String,
        /// The schedule file (.json or .csv).
        file: PathBuf,
    },
    /// Copy a SQLite server's data into PostgreSQL, then verify row counts
    /// and checksums per table; safe to run again. Stop the SQLite server
    /// first. The password comes from --password-file, else from
    /// $CLINIC_SERVER_DB_PASSWORD, never from the command line. Exits
    /// non-zero unless PostgreSQL holds every row with the same data.
    MigrateData {
        /// The SQLite server's data directory (its server.data_dir).
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL URL, as [database] url: postgres://user@host:port/db?sslmode=…
        /// (no password in it).
        #[arg(long)]
        to: String,
        /// A file whose first line is the database password.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// PEM CA certificates the database's certificate must chain to
        /// (with sslmode=require or verify-full).
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Compare only: write nothing and report what differs.
        #[arg(long)]
        verify_only: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::CheckConfig { path } = &cli.command {
        return match config::load_server(path) {
            Ok(config) => {
                println!("ok");
                println!("{}", config.summary());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("{err}");
                ExitCode::FAILURE
            }
        };
    }
    init_logging();
    if let Command::MigrateData {
        from,
        to,
        password_file,
        ca_file,
        verify_only,
    } = cli.command
    {
        return match migrate_data(from, &to, password_file, ca_file, verify_only) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(3),
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    checkin_kiosk::logging::init("info");
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::CheckConfig { .. } | Command::MigrateData { .. } => Ok(()),
        Command::Serve { config } => {
            let config = load(&config)?;
            tracing::info!("{}", config.summary());
            let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(config.server.listen)
                    .await
                    .with_context(|| format!("binding {}", config.server.listen))?;
                let stop = stop_signals()?;
                server::run(listener, config, notify_systemd(stop)).await?;
                Ok(())
            })
        }
        Command::Demo { port, data_dir } => demo(port, data_dir),
        Command::AddStaff {
            config,
            clinic,
            user,
        } => {
            let config = load(&config)?;
            let clinic = known_clinic(&config, &clinic)?;
            if !staff::valid_username(&user) {
                bail!(staff::StaffError::BadUsername);
            }
            let password = read_password()?;
            let (store, runtime) = server::open_store(&config)?;
            let added = runtime.block_on(staff::add_staff_to(
                &store,
                &clinic,
                &user,
                &password,
                chrono::Utc::now(),
            ))?;
            if added {
                println!("added {user} to clinic {clinic}");
            } else {
                println!("updated the password of {user}");
            }
            Ok(())
        }
        Command::RemoveStaff {
            config,
            clinic,
            user,
        } => remove_staff(&config, clinic.as_deref(), &user),
        Command::EnrollmentCode { config, clinic } => {
            let config = load(&config)?;
            let clinic = known_clinic(&config, &clinic)?;
            let (store, runtime) = server::open_store(&config)?;
            let (code, expires) = runtime.block_on(staff::issue_enrollment_code(
                &store,
                clinic,
                chrono::Utc::now(),
                None,
            ))?;
            println!("enrollment code: {code}");
            println!("expires: {}", expires.to_rfc3339());
            Ok(())
        }
        Command::Import {
            config,
            clinic,
            file,
        } => {
            let config = load(&config)?;
            let clinic_id = known_clinic(&config, &clinic)?;
            let settings = config
                .clinic(&clinic_id)
                .context("the clinic vanished from the configuration")?;
            let (store, runtime) = server::open_store(&config)?;
            let summary = runtime.block_on(import::import_into(&store, settings, &file))?;
            println!(
                "imported {}: {} added or changed, {} unchanged, {} removed",
                file.display(),
                summary.upserted,
                summary.unchanged,
                summary.removed
            );
            Ok(())
        }
    }
}

/// `clinic-server migrate-data`: prints the report; `Ok(false)` when the
/// data did not verify (nothing was written).
fn migrate_data(
    from: PathBuf,
    to: &str,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    verify_only: bool,
) -> anyhow::Result<bool> {
    let (url, tls) = config::check_database_url(to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    if tls == config::DbTls::Disable && ca_file.is_some() {
        bail!("--ca-file is only used with TLS; add ?sslmode=verify-full to --to");
    }
    let options = server::migrate_data::MigrateOptions {
        from,
        to: config::DatabaseSettings {
            url,
            tls,
            ca_file,
            password_file,
            pool_size: 2,
        },
        verify_only,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let report = runtime.block_on(server::migrate_data::migrate_data(&options))?;
    print!("{report}");
    Ok(report.verified())
}

fn remove_staff(config: &Path, clinic: Option<&str>, user: &str) -> anyhow::Result<()> {
    let config = load(config)?;
    let clinic = clinic.map(|c| known_clinic(&config, c)).transpose()?;
    let (store, runtime) = server::open_store(&config)?;
    let removed = runtime.block_on(staff::remove_staff_from(&store, clinic.as_ref(), user))?;
    match (removed, &clinic) {
        (0, Some(c)) => bail!("{user} is not a staff user of clinic {c}"),
        (0, None) => bail!("{user} is not a staff user"),
        (_, Some(c)) => println!("removed {user} from clinic {c} and ended their sessions"),
        (n, None) => println!("removed {user} from {n} clinic(s) and ended their sessions"),
    }
    Ok(())
}

fn load(path: &Path) -> anyhow::Result<ServerConfig> {
    Ok(config::load_server(path)?)
}

fn known_clinic(config: &ServerConfig, clinic: &str) -> anyhow::Result<ClinicId> {
    let id = ClinicId(clinic.to_string());
    if config.clinic(&id).is_none() {
        bail!(staff::StaffError::UnknownClinic(clinic.to_string()));
    }
    Ok(id)
}

/// Reads a password: prompted twice without echo on a terminal, otherwise
/// the first line of standard input.
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let first = prompt_hidden("password: ")?;
    let second = prompt_hidden("again: ")?;
    if first != second {
        bail!("the passwords differ");
    }
    Ok(first)
}

fn prompt_hidden(prompt: &str) -> anyhow::Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let echo_off = std::process::Command::new("stty")
        .arg("-echo")
        .stdin(std::process::Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success());
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if echo_off {
        let _ = std::process::Command::new("stty")
            .arg("echo")
            .stdin(std::process::Stdio::inherit())
            .status();
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Wraps the shutdown signal so that systemd (`Type=notify`) hears
/// `READY=1` once the server serves, and `STOPPING=1` when it stops.
/// `server::run` opens the database and key first and polls the signal
/// only when it starts accepting connections, so readiness is not claimed
/// early. Outside systemd nothing is sent.
#[cfg(target_os = "linux")]
async fn notify_systemd(shutdown: impl Future<Output = ()>) {
    let notifier = checkin_kiosk::systemd::SystemdNotifier::from_env().ok();
    if let Some(n) = &notifier {
        let _ = n.ready();
    }
    shutdown.await;
    if let Some(n) = &notifier {
        let _ = n.stopping();
    }
}

#[cfg(not(target_os = "linux"))]
async fn notify_systemd(shutdown: impl Future<Output = ()>) {
    shutdown.await;
}

/// `clinic-server demo`: listens and takes the data directory before it
/// touches any data, so a second demo on the same port or directory fails
/// without re-seeding the first one's. A temporary directory is removed
/// when the demo ends; one given with `--data-dir` is kept.
fn demo(port: u16, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let temporary = data_dir.is_none();
    let data_dir = data_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("clinic-server-demo-{}", std::process::id()))
    });
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let lock = server::lock_data_dir(&data_dir)?;
    let _cleanup = TempDirGuard(temporary.then(|| data_dir.clone()));
    let config = ServerConfig::demo(data_dir, addr);
    let (db, signer) = server::open_data_dir(&config)?;
    let login = demo::prepare(&db, &config, chrono::Utc::now())?;
    print_demo(&config, &login);
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let state = AppState::new(config, db, signer);
        // Ctrl-C and SIGTERM are caught from before "listening" is printed,
        // so a stop right after it still cleans up.
        let stop = stop_signals()?;
        println!("listening: http://{addr}");
        std::io::stdout().flush()?;
        server::serve(listener, state, stop).await?;
        anyhow::Ok(())
    })?;
    drop(lock);
    Ok(())
}

/// Prints the demo's data directory, sample patients, login and code.
fn print_demo(config: &ServerConfig, login: &demo::DemoLogin) {
    println!("demo clinic: {}", config.server.data_dir.display());
    println!("sample patients (date of birth, last name):");
    let now = chrono::Utc::now();
    let today = config.clinics.first().map_or(now.date_naive(), |c| {
        now.with_timezone(&c.time_zone).date_naive()
    });
    for s in demo::SAMPLES {
        println!(
            "  {}  {} {}: {}",
            s.date_of_birth(today),
            s.first_name,
            s.last_name,
            s.label
        );
    }
    println!("staff login: {} {}", login.username, login.password);
    println!("enrollment code: {}", login.enrollment_code);
}

/// Removes a temporary directory when dropped, including after Ctrl-C or
/// SIGTERM, which end `serve` normally.
struct TempDirGuard(Option<PathBuf>);

impl Drop for TempDirGuard {
    fn drop(&mut self) {
        if let Some(dir) = &self.0
            && let Err(e) = std::fs::remove_dir_all(dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("cannot remove the demo data {}: {e}", dir.display());
        }
    }
}

/// Registers for Ctrl-C and SIGTERM now, so a stop that comes at once is
/// not missed, and completes when either comes. Call it inside the runtime.
#[cfg(unix)]
fn stop_signals() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down");
    })
}

/// Ctrl-C only, where there is no SIGTERM.
#[cfg(not(unix))]
fn stop_signals() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
}
