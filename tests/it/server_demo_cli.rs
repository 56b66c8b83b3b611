//! Integration tests: `clinic-server demo` as a user runs it. It listens
//! and takes its data directory before touching any data, removes a
//! temporary data directory when stopped, and logs without colour codes
//! when stderr is not a terminal.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

/// A running `clinic-server demo`, with what it printed before listening.
struct Demo {
    child: Child,
    data_dir: PathBuf,
    port: u16,
    stderr: PathBuf,
}

fn start(args: &[&str], stderr: &Path) -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .arg("demo")
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut data_dir = None;
    let port = loop {
        let line = lines
            .next()
            .expect("the demo ended before listening")
            .unwrap();
        if let Some(d) = line.strip_prefix("demo clinic: ") {
            data_dir = Some(PathBuf::from(d));
        }
        if let Some(url) = line.strip_prefix("listening: http://") {
            break url.rsplit(':').next().unwrap().parse().unwrap();
        }
    };
    // Keep draining stdout so the demo never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Demo {
        child,
        data_dir: data_dir.expect("the demo names its data directory"),
        port,
        stderr: stderr.to_path_buf(),
    }
}

impl Demo {
    /// Sends SIGTERM, as systemd or `kill` would, and waits for the exit.
    fn terminate(mut self) -> (bool, String) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "the demo did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        (
            status.success(),
            std::fs::read_to_string(&self.stderr).unwrap(),
        )
    }
}

/// Runs a demo that is expected to fail at once; its success and stderr.
fn run_to_end(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .arg("demo")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// What a re-seed would change: the staff password hashes and the audit.
fn fingerprint(dir: &Path) -> (Vec<String>, i64) {
    let conn = Connection::open_with_flags(
        dir.join(checkin_kiosk::server::DB_FILE),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut s = conn
        .prepare("SELECT password_hash FROM staff_members ORDER BY clinic_id, username")
        .unwrap();
    let hashes = s
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<String>, _>>()
        .unwrap();
    let audit = conn
        .query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
        .unwrap();
    (hashes, audit)
}

#[test]
fn a_temporary_demo_is_removed_on_sigterm_and_logs_without_colour() {
    let scratch = tempfile::tempdir().unwrap();
    let demo = start(&["--port", "0"], &scratch.path().join("stderr"));
    let data_dir = demo.data_dir.clone();
    assert!(data_dir.join(checkin_kiosk::server::DB_FILE).exists());
    let (ok, stderr) = demo.terminate();
    assert!(ok, "{stderr}");
    assert!(!data_dir.exists(), "{} left behind", data_dir.display());
    assert!(stderr.contains("listening"), "no log line: {stderr:?}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a file: {stderr:?}"
    );
}

#[test]
fn a_second_demo_on_the_same_data_dir_fails_before_touching_it() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("demo");
    let dir_arg = dir.to_str().unwrap().to_string();
    let first = start(
        &["--port", "0", "--data-dir", &dir_arg],
        &scratch.path().join("first.stderr"),
    );
    let before = fingerprint(&dir);

    // The same port: refused before the data is opened.
    let port = first.port.to_string();
    let (ok, stderr) = run_to_end(&["--port", &port, "--data-dir", &dir_arg]);
    assert!(!ok);
    assert!(stderr.contains("binding"), "{stderr}");
    // Another port, the same directory: refused by the directory's lock.
    let (ok, stderr) = run_to_end(&["--port", "0", "--data-dir", &dir_arg]);
    assert!(!ok);
    assert!(
        stderr.contains("in use by another running clinic-server"),
        "{stderr}"
    );
    assert_eq!(fingerprint(&dir), before, "the running demo's data changed");

    let (ok, stderr) = first.terminate();
    assert!(ok, "{stderr}");
    assert!(dir.exists(), "a directory given with --data-dir is kept");
    // Once the first has stopped, the directory can be served again.
    let again = start(
        &["--port", "0", "--data-dir", &dir_arg],
        &scratch.path().join("again.stderr"),
    );
    let (ok, stderr) = again.terminate();
    assert!(ok, "{stderr}");
}
