//! Integration tests: the kiosk store, against temporary files, through its
//! public API (and, where a property is about the file itself, a raw
//! SQLCipher connection or the file's bytes).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use checkin_kiosk::domain::testkit::appointment;
use checkin_kiosk::domain::{
    Appointment, AppointmentId, AppointmentStatus, CoPayChoice, CoverageUpdate, Demographics,
    DomainEvent, FlagRaised, KioskId, LookupQuery, MatchError, Money, PatientId, PhiShown,
    ReasonCode, Step,
};
use checkin_kiosk::protocol::{ClinicSettings, EventBody, EventEnvelope};
use checkin_kiosk::store::{
    AuditAction, DbKey, Enrollment, EventState, SCHEMA_VERSION, Store, StoreError,
};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use rusqlite::Connection;
use uuid::Uuid;

// ---------------------------------------------------------------- helpers

/// 09:00 in Los Angeles on the test day, 2026-03-02.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 17, 0, 0).unwrap()
}

/// A database and key file in a fresh temporary directory.
struct Files {
    /// Keeps the directory alive for the test's duration.
    dir: tempfile::TempDir,
    /// The database file.
    db: PathBuf,
    /// The key file.
    key: PathBuf,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("kiosk.db");
        let key = dir.path().join("kiosk.key");
        Self { dir, db, key }
    }

    fn open(&self) -> Store {
        Store::open(&self.db, &self.key, now()).unwrap()
    }

    fn open_at(&self, at: DateTime<Utc>) -> Store {
        Store::open(&self.db, &self.key, at).unwrap()
    }

    fn try_open(&self) -> Result<Store, StoreError> {
        Store::open(&self.db, &self.key, now())
    }

    /// A raw connection keyed from the key file, for looking at the file
    /// the way another tool would.
    fn raw(&self) -> Connection {
        let conn = Connection::open(&self.db).unwrap();
        DbKey::load(&self.key).unwrap().unlock(&conn).unwrap();
        conn
    }

    /// Every byte the database occupies on disk: the file and its WAL.
    fn bytes_on_disk(&self) -> Vec<u8> {
        let mut all = fs::read(&self.db).unwrap();
        if let Ok(wal) = fs::read(self.dir.path().join("kiosk.db-wal")) {
            all.extend(wal);
        }
        all
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn kiosk() -> KioskId {
    KioskId::from("k-lobby-1")
}

fn ids(list: &[Appointment]) -> Vec<&str> {
    list.iter().map(|a| a.id.as_str()).collect()
}

fn query(dob: (i32, u32, u32), typed: &str) -> LookupQuery {
    LookupQuery {
        date_of_birth: NaiveDate::from_ymd_opt(dob.0, dob.1, dob.2).unwrap(),
        last_name_prefix: typed.to_string(),
    }
}

/// The same appointment one day earlier.
fn a_day_earlier(mut a: Appointment) -> Appointment {
    a.start -= Duration::days(1);
    a.end -= Duration::days(1);
    a
}

fn settings(clinic: &str) -> ClinicSettings {
    ClinicSettings {
        clinic_id: clinic.into(),
        name: "Springfield Family Clinic".into(),
        time_zone: "America/Los_Angeles".into(),
        currency: "USD".into(),
        locations: vec!["main".into()],
        payment_link: None,
        allow_bill_later: false,
    }
}

fn enrollment(clinic: &str, token: &str) -> Enrollment {
    Enrollment {
        server_url: "https://clinic.example.org/".parse().unwrap(),
        kiosk_id: kiosk(),
        device_token: token.into(),
        pass_public_key: "Mv3Bq0m8a1C2d3E4f5G6h7I8j9K0l1M2n3O4p5Q6r7S".into(),
        clinic: settings(clinic),
        enrolled_at: now() - Duration::days(3),
    }
}

/// The events of identifying a patient: the match shown, then arrived.
fn identify(a: &Appointment, at: DateTime<Utc>) -> Vec<DomainEvent> {
    vec![
        DomainEvent::PhiShown {
            appointment_id: a.id.clone(),
            what: PhiShown::Identity,
            at,
        },
        DomainEvent::Arrived {
            appointment_id: a.id.clone(),
            at,
        },
    ]
}

fn check_in(a: &Appointment, at: DateTime<Utc>) -> Vec<DomainEvent> {
    vec![
        DomainEvent::CoPayChosen {
            appointment_id: a.id.clone(),
            choice: CoPayChoice::FrontDesk,
            amount: a.expected_copay,
            at,
        },
        DomainEvent::CheckedIn {
            appointment_id: a.id.clone(),
            at,
        },
    ]
}

fn pending_ids(store: &Store) -> Vec<Uuid> {
    store
        .pending(usize::MAX)
        .unwrap()
        .into_iter()
        .map(|i| i.envelope.id)
        .collect()
}

// ---------------------------------------------------------------- key file

#[test]
fn the_key_file_is_created_on_first_start_with_mode_0600() {
    let f = Files::new();
    assert!(!f.key.exists());
    let store = f.open();
    drop(store);
    assert_eq!(mode(&f.key), 0o600);
    let text = fs::read_to_string(&f.key).unwrap();
    assert_eq!(text.trim_end().len(), 64);
    assert!(text.trim_end().chars().all(|c| c.is_ascii_hexdigit()));
    // The second start reads the same key rather than making a new one.
    f.open();
    assert_eq!(fs::read_to_string(&f.key).unwrap(), text);
}

#[test]
fn a_key_file_other_users_can_read_or_write_is_refused() {
    let f = Files::new();
    f.open();
    for bad in [0o644, 0o640, 0o620, 0o604, 0o666] {
        fs::set_permissions(&f.key, fs::Permissions::from_mode(bad)).unwrap();
        let err = f.try_open().unwrap_err();
        assert!(
            matches!(err, StoreError::KeyFileInsecure { mode, .. } if mode == bad),
            "{bad:o}: {err}"
        );
        let text = err.to_string();
        assert!(text.contains(&f.key.display().to_string()), "{text}");
        assert!(
            text.contains(&format!("chmod 600 {}", f.key.display())),
            "{text}"
        );
    }
    fs::set_permissions(&f.key, fs::Permissions::from_mode(0o600)).unwrap();
    f.open();
}

#[test]
fn a_database_without_its_key_file_is_refused_and_no_new_key_is_made() {
    let f = Files::new();
    let mut store = f.open();
    store
        .apply_schedule(
            true,
            &[appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0)],
            &[],
            "c",
            now(),
        )
        .unwrap();
    drop(store);
    fs::remove_file(&f.key).unwrap();
    let err = f.try_open().unwrap_err();
    assert!(matches!(err, StoreError::KeyFileMissing { .. }), "{err}");
    assert!(err.to_string().contains("restore the key file"), "{err}");
    assert!(
        !f.key.exists(),
        "a new key would make the database unreadable for good"
    );
}

#[test]
fn a_wrong_key_is_a_clear_error_and_never_an_empty_database() {
    let f = Files::new();
    let mut store = f.open();
    let a = appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    store
        .apply_schedule(true, std::slice::from_ref(&a), &[], "c", now())
        .unwrap();
    drop(store);
    let original_key = fs::read(&f.key).unwrap();
    let db_before = fs::read(&f.db).unwrap();

    fs::remove_file(&f.key).unwrap();
    DbKey::create(&f.key).unwrap();
    let err = f.try_open().unwrap_err();
    assert!(matches!(err, StoreError::WrongKey { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("key file does not match"), "{text}");
    assert!(text.contains(&f.db.display().to_string()), "{text}");
    assert_eq!(
        fs::read(&f.db).unwrap(),
        db_before,
        "a failed open must not write"
    );

    // With the right key back, everything is still there.
    fs::write(&f.key, original_key).unwrap();
    let store = f.open();
    assert_eq!(store.appointment_by_id(&a.id).unwrap(), Some(a));
}

// ---------------------------------------------------------------- damaged files

#[test]
fn a_truncated_or_garbage_file_is_reported_as_damaged() {
    let f = Files::new();
    f.open();
    let mut garbage = vec![0u8; 5000];
    for (i, b) in garbage.iter_mut().enumerate() {
        *b = (i * 31 % 251) as u8;
    }
    fs::write(&f.db, &garbage).unwrap();
    let err = f.try_open().unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("damaged"), "{err}");
    assert!(err.to_string().contains("move it aside"), "{err}");
}

#[test]
fn a_damaged_page_inside_the_database_is_found_at_open() {
    let f = Files::new();
    let mut store = f.open();
    let many: Vec<Appointment> = (0..300)
        .map(|i| {
            appointment(
                &format!("a{i}"),
                "Ana",
                &format!("Diaz{i}"),
                (1980, 5, 17),
                10,
                0,
            )
        })
        .collect();
    store.apply_schedule(true, &many, &[], "c", now()).unwrap();
    drop(store); // Closing checkpoints the WAL into the main file.
    let mut bytes = fs::read(&f.db).unwrap();
    assert!(
        bytes.len() >= 8 * 4096,
        "the database should span several pages"
    );
    // Flip bytes in the middle of the sixth page.
    for b in &mut bytes[5 * 4096 + 1000..5 * 4096 + 1100] {
        *b ^= 0x5a;
    }
    fs::write(&f.db, &bytes).unwrap();
    let err = f.try_open().unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[test]
fn an_unencrypted_database_is_refused() {
    let f = Files::new();
    let plain = Connection::open(&f.db).unwrap();
    plain
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(plain);
    DbKey::create(&f.key).unwrap();
    let err = f.try_open().unwrap_err();
    assert!(matches!(err, StoreError::PlaintextDatabase { .. }), "{err}");
}

#[test]
fn a_missing_data_directory_is_named() {
    let f = Files::new();
    let db = f.dir.path().join("nowhere").join("kiosk.db");
    let err = Store::open(&db, &f.key, now()).unwrap_err();
    assert!(matches!(err, StoreError::MissingDirectory { .. }), "{err}");
    assert!(err.to_string().contains("nowhere"), "{err}");
}

#[test]
fn a_database_from_a_newer_kiosk_version_is_refused() {
    let f = Files::new();
    f.open();
    f.raw().pragma_update(None, "user_version", 99).unwrap();
    let err = f.try_open().unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, supported, .. } if supported == SCHEMA_VERSION),
        "{err}"
    );
}

// ---------------------------------------------------------------- read-only directory

/// The environment variable that turns [`read_only_probe_child`] on.
const PROBE_ENV: &str = "CHECKIN_STORE_PROBE_DIR";

/// True when this process is subject to file permissions (not root with
/// CAP_DAC_OVERRIDE).
fn permissions_are_enforced() -> bool {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let enforced = fs::File::create(ro.join("probe")).is_err();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    enforced
}

/// Opens the store in `dir` as an unprivileged user and returns the error
/// text, or `None` when it opened. As root, file permissions do not apply,
/// so the open runs in a child process (this test binary again) under the
/// `nobody` user.
fn open_unprivileged(dir: &Path) -> Option<String> {
    if permissions_are_enforced() {
        return Store::open(&dir.join("kiosk.db"), &dir.join("kiosk.key"), now())
            .err()
            .map(|e| e.to_string());
    }
    use std::os::unix::process::CommandExt;
    let (exe, _keep) = executable_for_nobody();
    let out = std::process::Command::new(&exe)
        .args([
            "store::read_only_probe_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_ENV, dir)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("PROBE ").map(|(_, result)| result))
        .unwrap_or_else(|| {
            panic!(
                "the unprivileged child printed no result: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    line.strip_prefix("err ").map(str::to_string)
}

/// This test binary at a path the `nobody` user can execute: the binary
/// itself when every directory above it is open to others, else a hard link
/// (or, across file systems, a copy) in a fresh temporary directory, which
/// the returned guard removes.
fn executable_for_nobody() -> (PathBuf, Option<tempfile::TempDir>) {
    let exe = std::env::current_exe().unwrap();
    let reachable = exe
        .ancestors()
        .skip(1)
        .all(|d| fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    if reachable {
        return (exe, None);
    }
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let linked = dir.path().join("it");
    if fs::hard_link(&exe, &linked).is_err() {
        fs::copy(&exe, &linked).unwrap();
    }
    (linked, Some(dir))
}

/// Child process of the read-only directory test; does nothing unless
/// `CHECKIN_STORE_PROBE_DIR` is set.
#[test]
#[ignore = "child process of the read-only directory test"]
fn read_only_probe_child() {
    let Some(dir) = std::env::var_os(PROBE_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    match Store::open(&dir.join("kiosk.db"), &dir.join("kiosk.key"), now()) {
        Ok(_) => println!("PROBE ok"),
        Err(e) => println!("PROBE err {e}"),
    }
}

/// Makes `dir`'s parents traversable and `dir` and `files` owned by `nobody`
/// (when running as root), then makes `dir` read-only.
fn make_read_only_for_nobody(dir: &Path, files: &[&Path]) {
    let root = !permissions_are_enforced();
    if root {
        fs::set_permissions(dir.parent().unwrap(), fs::Permissions::from_mode(0o755)).unwrap();
        for f in files {
            std::os::unix::fs::chown(f, Some(65534), Some(65534)).unwrap();
        }
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o555)).unwrap();
}

#[test]
fn a_read_only_directory_is_a_clear_error_on_first_start() {
    let f = Files::new();
    let dir = f.dir.path().join("data");
    fs::create_dir(&dir).unwrap();
    make_read_only_for_nobody(&dir, &[]);
    let err = open_unprivileged(&dir).expect("opening in a read-only directory must fail");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(err.contains("cannot create the key file"), "{err}");
    assert!(err.contains(&dir.display().to_string()), "{err}");
    assert!(err.contains("writable"), "{err}");
}

#[test]
fn a_read_only_directory_is_a_clear_error_for_an_existing_database() {
    let f = Files::new();
    let dir = f.dir.path().join("data");
    fs::create_dir(&dir).unwrap();
    let db = dir.join("kiosk.db");
    let key = dir.join("kiosk.key");
    let mut store = Store::open(&db, &key, now()).unwrap();
    store
        .apply_schedule(
            true,
            &[appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0)],
            &[],
            "c",
            now(),
        )
        .unwrap();
    drop(store);
    assert!(
        !dir.join("kiosk.db-wal").exists(),
        "closing removes the WAL"
    );
    make_read_only_for_nobody(&dir, &[&db, &key]);
    let err = open_unprivileged(&dir).expect("a database in a read-only directory must fail");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(err.contains("cannot write the database"), "{err}");
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert!(err.contains("-wal"), "{err}");
}

// ---------------------------------------------------------------- encryption and WAL

#[test]
fn the_file_on_disk_is_encrypted() {
    let f = Files::new();
    let mut store = f.open();
    let mut a = appointment(
        "a-secret-1",
        "Quintessa",
        "Zyxwvutsrq",
        (1961, 7, 29),
        10,
        0,
    );
    a.coverage.as_mut().unwrap().member_id = "MEMBERQX7781234".into();
    store
        .apply_schedule(true, std::slice::from_ref(&a), &[], "c", now())
        .unwrap();
    store
        .record_step(&kiosk(), &identify(&a, now()), now())
        .unwrap();
    // While open, the data sits in the WAL; check it there too.
    let while_open = f.bytes_on_disk();
    drop(store);
    let closed = f.bytes_on_disk();
    for bytes in [&while_open, &closed] {
        assert!(bytes.len() > 4096);
        assert!(!contains(bytes, "SQLite format 3"));
        for plain in [
            "Zyxwvutsrq",
            "zyxwvutsrq",
            "Quintessa",
            "MEMBERQX7781234",
            "1961-07-29",
            "a-secret-1",
            "schedule_appointment",
        ] {
            assert!(!contains(bytes, plain), "{plain:?} is readable on disk");
        }
    }
    // Without the key the file is unreadable; with it, the data is there.
    let unkeyed = Connection::open(&f.db).unwrap();
    let err = unkeyed
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase)
    );
    let n: i64 = f
        .raw()
        .query_row("SELECT count(*) FROM schedule_appointment", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn the_database_runs_in_wal_mode() {
    let f = Files::new();
    let mut store = f.open();
    store
        .apply_schedule(
            true,
            &[appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0)],
            &[],
            "c",
            now(),
        )
        .unwrap();
    assert!(f.dir.path().join("kiosk.db-wal").exists());
    let mode: String = f
        .raw()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_second_connection_reads_while_the_first_writes() {
    let f = Files::new();
    let mut ui = f.open();
    let sync = f.open();
    let a = appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    ui.apply_schedule(true, std::slice::from_ref(&a), &[], "c", now())
        .unwrap();
    let ids = ui
        .record_step(&kiosk(), &identify(&a, now()), now())
        .unwrap();
    assert_eq!(pending_ids(&sync), ids);
}

// ---------------------------------------------------------------- migrations

#[test]
fn a_version_1_database_upgrades_with_its_data() {
    let f = Files::new();
    let key = DbKey::create(&f.key).unwrap();
    {
        let conn = Connection::open(&f.db).unwrap();
        key.unlock(&conn).unwrap();
        conn.execute_batch(include_str!("../fixtures/store_v1.sql"))
            .unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1);
    }
    let mut store = f.open();
    let v: i64 = f
        .raw()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v as usize, SCHEMA_VERSION);

    // Identity and sync state.
    let e = store.enrollment().unwrap().unwrap();
    assert_eq!(e.kiosk_id.as_str(), "k-lobby-1");
    assert_eq!(e.clinic_id().as_str(), "c1");
    assert_eq!(e.device_token, "tok-fixture-0123456789");
    assert_eq!(e.clinic.time_zone, "America/Los_Angeles");
    assert_eq!(store.cursor().unwrap(), "cur-41");
    assert_eq!(
        store.last_sync().unwrap(),
        Some(Utc.with_ymd_and_hms(2026, 3, 2, 16, 55, 30).unwrap())
    );

    // The schedule, with the kiosk's progress laid over it; the day before
    // was purged on open.
    assert_eq!(store.appointment_count().unwrap(), 3);
    assert_eq!(
        store
            .appointment_by_id(&AppointmentId::from("a-099"))
            .unwrap(),
        None
    );
    let a100 = store
        .appointment_by_id(&AppointmentId::from("a-100"))
        .unwrap()
        .unwrap();
    assert_eq!(a100.patient.last_name, "Núñez-Ortega");
    assert_eq!(a100.status, AppointmentStatus::CheckedIn);
    assert_eq!(a100.coverage.as_ref().unwrap().member_id, "XQZ900123456");
    let twins = store.lookup(&query((2010, 3, 4), "riv"), 3).unwrap();
    assert_eq!(ids(&twins), ["a-101", "a-102"]);
    assert_eq!(
        twins[0].patient.demographics_confirmed_at,
        Some(Utc.with_ymd_and_hms(2026, 3, 2, 16, 40, 0).unwrap())
    );
    assert_eq!(
        ids(&store.lookup(&query((1980, 5, 17), "nun"), 3).unwrap()),
        ["a-100"]
    );

    // The outbox: the undelivered events, in order.
    let pending = store.pending(10).unwrap();
    let kinds: Vec<&str> = pending.iter().map(|i| i.envelope.body.kind()).collect();
    assert_eq!(
        kinds,
        ["phi_viewed", "demographics_proposed", "checked_in", "flag"]
    );
    assert_eq!(
        pending[0].envelope.id,
        "6f1c2f7e-0b8e-4c1a-9a51-3f0e8f1d0003"
            .parse::<Uuid>()
            .unwrap()
    );

    // Version 2 backfilled the audit log from the outbox.
    let audit = store.audit_for(&AppointmentId::from("a-100")).unwrap();
    let summary: Vec<(AuditAction, PhiShown)> = audit.iter().map(|e| (e.action, e.what)).collect();
    assert_eq!(
        summary,
        [
            (AuditAction::Viewed, PhiShown::Identity),
            (AuditAction::Viewed, PhiShown::Demographics),
            (AuditAction::Proposed, PhiShown::Demographics),
        ]
    );
    assert!(audit.iter().all(|e| e.kiosk_id.as_str() == "k-lobby-1"));

    // New steps continue the sequence after the old ones.
    let a101 = store
        .appointment_by_id(&AppointmentId::from("a-101"))
        .unwrap()
        .unwrap();
    let new = store
        .record_step(&kiosk(), &identify(&a101, now()), now())
        .unwrap();
    let pending = store.pending(10).unwrap();
    assert_eq!(pending.len(), 6);
    assert!(pending[4].seq > 6);
    assert_eq!(pending[4].envelope.id, new[0]);
}

// ---------------------------------------------------------------- schedule

#[test]
fn a_full_schedule_replaces_everything_and_stores_the_cursor() {
    let f = Files::new();
    let mut store = f.open();
    assert_eq!(store.cursor().unwrap(), "");
    let a1 = appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    let a2 = appointment("a2", "Bo", "Eng", (1970, 1, 2), 11, 0);
    let a3 = appointment("a3", "Cy", "Fox", (1990, 3, 4), 12, 0);
    store
        .apply_schedule(true, &[a1.clone(), a2.clone()], &[], "c1", now())
        .unwrap();
    store
        .apply_schedule(true, std::slice::from_ref(&a3), &[], "c2", now())
        .unwrap();
    assert_eq!(store.appointment_count().unwrap(), 1);
    assert_eq!(store.appointment_by_id(&a1.id).unwrap(), None);
    assert_eq!(store.appointment_by_id(&a3.id).unwrap(), Some(a3));
    assert_eq!(store.cursor().unwrap(), "c2");
    assert_eq!(store.schedule_applied_at().unwrap(), Some(now()));
    drop(store);
    assert_eq!(f.open().cursor().unwrap(), "c2");
}

#[test]
fn a_delta_adds_changes_and_removes() {
    let f = Files::new();
    let mut store = f.open();
    let a1 = appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    let a2 = appointment("a2", "Bo", "Eng", (1970, 1, 2), 11, 0);
    store
        .apply_schedule(true, &[a1.clone(), a2.clone()], &[], "c1", now())
        .unwrap();
    let mut moved = a1.clone();
    moved.clinician = "Dr. Okafor".into();
    moved.patient.last_name = "Díaz-Soto".into();
    let a3 = appointment("a3", "Cy", "Fox", (1990, 3, 4), 12, 0);
    store
        .apply_schedule(
            false,
            &[moved.clone(), a3.clone()],
            std::slice::from_ref(&a2.id),
            "c2",
            now(),
        )
        .unwrap();
    assert_eq!(store.appointment_count().unwrap(), 2);
    assert_eq!(store.appointment_by_id(&a1.id).unwrap(), Some(moved));
    assert_eq!(store.appointment_by_id(&a2.id).unwrap(), None);
    assert_eq!(store.appointment_by_id(&a3.id).unwrap(), Some(a3));
    // The changed name is what lookups see now.
    assert_eq!(
        ids(&store.lookup(&query((1980, 5, 17), "diazs"), 3).unwrap()),
        ["a1"]
    );
    assert_eq!(store.cursor().unwrap(), "c2");
    // Removing an id that is not cached is not an error.
    store
        .apply_schedule(
            false,
            &[],
            &[AppointmentId::from("never-seen")],
            "c3",
            now(),
        )
        .unwrap();
    assert_eq!(store.cursor().unwrap(), "c3");
}

#[test]
fn a_failing_update_leaves_the_old_schedule_and_cursor() {
    let f = Files::new();
    let mut store = f.open();
    store.save_enrollment(&enrollment("c1", "tok")).unwrap();
    let a1 = appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    store
        .apply_schedule(true, std::slice::from_ref(&a1), &[], "good", now())
        .unwrap();

    let mut changed = a1.clone();
    changed.clinician = "Dr. Changed".into();
    let a2 = appointment("a2", "Bo", "Eng", (1970, 1, 2), 11, 0);
    let mut foreign = appointment("x1", "Eve", "Other", (1970, 1, 2), 11, 0);
    foreign.clinic_id = "c-other".into();

    // A delta: the change and the new appointment come before the bad one.
    let err = store
        .apply_schedule(
            false,
            &[changed.clone(), a2.clone(), foreign.clone()],
            std::slice::from_ref(&a1.id),
            "bad",
            now(),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::ForeignClinic { .. }), "{err}");
    assert!(err.to_string().contains("nothing was applied"), "{err}");
    assert_eq!(store.cursor().unwrap(), "good");
    assert_eq!(store.appointment_by_id(&a1.id).unwrap(), Some(a1.clone()));
    assert_eq!(store.appointment_by_id(&a2.id).unwrap(), None);

    // A full replace that fails keeps the old schedule too.
    let err = store
        .apply_schedule(true, &[a2.clone(), foreign], &[], "bad", now())
        .unwrap_err();
    assert!(matches!(err, StoreError::ForeignClinic { .. }), "{err}");
    assert_eq!(store.cursor().unwrap(), "good");
    assert_eq!(store.appointment_count().unwrap(), 1);
    assert_eq!(store.appointment_by_id(&a1.id).unwrap(), Some(a1));
}

#[test]
fn lookups_fold_accents_case_and_punctuation() {
    let f = Files::new();
    let mut store = f.open();
    let list = [
        appointment("a1", "Inés", "Núñez-Ortega", (1980, 5, 17), 10, 0),
        appointment("a2", "Sean", "O'Brien", (1975, 1, 2), 9, 0),
        appointment("a3", "Nora", "Nunn", (1980, 5, 17), 11, 0),
    ];
    store.apply_schedule(true, &list, &[], "c", now()).unwrap();
    let cases: [(&str, &[&str]); 7] = [
        ("nun", &["a1", "a3"]),
        ("NUN", &["a1", "a3"]),
        ("Núñ", &["a1", "a3"]),
        ("n-u-n", &["a1", "a3"]),
        ("nunez", &["a1"]),
        ("Núñez-Ort", &["a1"]),
        ("nunn", &["a3"]),
    ];
    for (typed, expected) in cases {
        let found = store.lookup(&query((1980, 5, 17), typed), 3).unwrap();
        assert_eq!(ids(&found), expected, "typed {typed:?}");
    }
    assert_eq!(
        ids(&store.lookup(&query((1975, 1, 2), "O'Br"), 3).unwrap()),
        ["a2"]
    );
    assert_eq!(
        ids(&store.lookup(&query((1975, 1, 2), "obr"), 3).unwrap()),
        ["a2"]
    );
    // The date of birth must match exactly.
    assert!(
        store
            .lookup(&query((1975, 1, 3), "obr"), 3)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .lookup(&query((1980, 5, 17), "gar"), 3)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn twins_are_both_found_in_time_order() {
    let f = Files::new();
    let mut store = f.open();
    let list = [
        appointment("late", "Luis", "Rivera", (2010, 3, 4), 11, 0),
        appointment("early", "Lucia", "Rivera", (2010, 3, 4), 9, 15),
        appointment("cousin", "Rosa", "Rivera", (2011, 3, 4), 9, 0),
    ];
    store.apply_schedule(true, &list, &[], "c", now()).unwrap();
    let found = store.lookup(&query((2010, 3, 4), "riv"), 3).unwrap();
    assert_eq!(ids(&found), ["early", "late"]);
    assert_eq!(found[0].patient.first_name, "Lucia");
}

#[test]
fn the_matching_rules_come_from_the_domain() {
    let f = Files::new();
    let mut store = f.open();
    let list = [
        appointment("ng", "Kim", "Ng", (1970, 7, 7), 10, 0),
        appointment("nguyen", "Lan", "Nguyen", (1970, 7, 7), 10, 30),
    ];
    store.apply_schedule(true, &list, &[], "c", now()).unwrap();
    // A short name is typed whole and matches only itself.
    assert_eq!(
        ids(&store.lookup(&query((1970, 7, 7), "ng"), 3).unwrap()),
        ["ng"]
    );
    assert_eq!(
        ids(&store.lookup(&query((1970, 7, 7), "ngu"), 3).unwrap()),
        ["nguyen"]
    );
    // Too few letters, and no letters at all, are the domain's refusals.
    let err = store.lookup(&query((1970, 7, 7), "n"), 3).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Query(MatchError::PrefixTooShort { needed: 3 })
        ),
        "{err}"
    );
    let err = store.lookup(&query((1970, 7, 7), "-'"), 3).unwrap_err();
    assert!(
        matches!(err, StoreError::Query(MatchError::EmptyPrefix)),
        "{err}"
    );
    // The prefix length is the caller's configuration.
    assert_eq!(
        ids(&store.lookup(&query((1970, 7, 7), "n"), 1).unwrap()),
        ["ng", "nguyen"]
    );
}

#[test]
fn a_pass_finds_its_appointment_by_id_only_if_cached() {
    let f = Files::new();
    let mut store = f.open();
    let a = appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    store
        .apply_schedule(true, std::slice::from_ref(&a), &[], "c", now())
        .unwrap();
    assert_eq!(store.appointment_by_id(&a.id).unwrap(), Some(a));
    assert_eq!(
        store.appointment_by_id(&AppointmentId::from("a2")).unwrap(),
        None
    );
}

// ---------------------------------------------------------------- purge

#[test]
fn past_days_are_purged_on_apply_and_on_open() {
    let f = Files::new();
    let today = appointment("today", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    let yesterday = a_day_earlier(appointment("yday", "Bo", "Eng", (1970, 1, 2), 16, 0));
    let yesterday_at = now() - Duration::days(1);

    // On the day before, both are kept (yesterday's is that day's).
    let mut store = f.open_at(yesterday_at);
    store
        .apply_schedule(
            true,
            &[today.clone(), yesterday.clone()],
            &[],
            "c",
            yesterday_at,
        )
        .unwrap();
    assert_eq!(store.appointment_count().unwrap(), 2);
    store
        .record_step(&kiosk(), &identify(&yesterday, yesterday_at), yesterday_at)
        .unwrap();
    let delivered = store
        .record_step(&kiosk(), &check_in(&yesterday, yesterday_at), yesterday_at)
        .unwrap();
    store.mark_delivered(&delivered, yesterday_at).unwrap();
    drop(store);

    // Opening the next day purges the past day, but keeps undelivered events.
    let store = f.open();
    assert_eq!(store.appointment_count().unwrap(), 1);
    assert_eq!(store.appointment_by_id(&yesterday.id).unwrap(), None);
    assert!(store.appointment_by_id(&today.id).unwrap().is_some());
    let events = store.events_for(&yesterday.id).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.envelope.body.kind()).collect();
    assert_eq!(
        kinds,
        ["phi_viewed", "arrived"],
        "undelivered events survive the purge"
    );
    assert_eq!(
        store.event_state(delivered[0]).unwrap(),
        None,
        "delivered ones do not"
    );
    drop(store);

    // Applying a schedule on a later day purges too, without a restart.
    let mut store = f.open();
    let tomorrow = now() + Duration::days(1);
    store
        .apply_schedule(false, &[], &[], "c2", tomorrow)
        .unwrap();
    assert_eq!(store.appointment_count().unwrap(), 0);
}

#[test]
fn a_new_clinic_day_purges_past_days_once_without_a_pull() {
    let f = Files::new();
    let mut store = f.open();
    let today = appointment("today", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    store
        .apply_schedule(true, std::slice::from_ref(&today), &[], "c", now())
        .unwrap();

    // Later the same day: nothing to do, and nothing is written.
    assert_eq!(
        store
            .purge_on_a_new_day(now() + Duration::hours(6))
            .unwrap(),
        None
    );
    assert_eq!(store.appointment_count().unwrap(), 1);

    // The next day, with no schedule pulled, today's patients leave the
    // cache; a second call that day does nothing more.
    let next_day = now() + Duration::days(1);
    let report = store
        .purge_on_a_new_day(next_day)
        .unwrap()
        .expect("a purge on the new day");
    assert_eq!(report.appointments, 1);
    assert_eq!(store.appointment_by_id(&today.id).unwrap(), None);
    assert_eq!(
        store
            .purge_on_a_new_day(next_day + Duration::hours(1))
            .unwrap(),
        None
    );
}

#[test]
fn purge_before_removes_only_earlier_days() {
    let f = Files::new();
    let mut store = f.open();
    let today = appointment("today", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    let tomorrow = {
        let mut a = appointment("tmrw", "Bo", "Eng", (1970, 1, 2), 10, 0);
        a.start += Duration::days(1);
        a.end += Duration::days(1);
        a
    };
    store
        .apply_schedule(true, &[today.clone(), tomorrow.clone()], &[], "c", now())
        .unwrap();
    store
        .record_step(&kiosk(), &identify(&today, now()), now())
        .unwrap();
    let report = store
        .purge_before(NaiveDate::from_ymd_opt(2026, 3, 3).unwrap())
        .unwrap();
    assert_eq!(report.appointments, 1);
    assert_eq!(report.progress, 1);
    assert_eq!(report.outbox, 0, "undelivered events stay");
    assert_eq!(
        store.appointment_by_id(&tomorrow.id).unwrap(),
        Some(tomorrow)
    );
}

// ---------------------------------------------------------------- outbox

#[test]
fn a_step_updates_the_kiosks_own_record_and_a_stale_pull_cannot_undo_it() {
    let f = Files::new();
    let mut store = f.open();
    let a = appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    store
        .apply_schedule(true, std::slice::from_ref(&a), &[], "c1", now())
        .unwrap();

    store
        .record_step(&kiosk(), &identify(&a, now()), now())
        .unwrap();
    assert_eq!(
        store.appointment_by_id(&a.id).unwrap().unwrap().status,
        AppointmentStatus::Arrived
    );

    let confirmed_at = now() + Duration::minutes(1);
    store
        .record_step(
            &kiosk(),
            &[DomainEvent::DemographicsConfirmed {
                appointment_id: a.id.clone(),
                patient_id: a.patient.id.clone(),
                at: confirmed_at,
            }],
            confirmed_at,
        )
        .unwrap();
    store
        .record_step(&kiosk(), &check_in(&a, now() + Duration::minutes(2)), now())
        .unwrap();
    let seen = store.appointment_by_id(&a.id).unwrap().unwrap();
    assert_eq!(seen.status, AppointmentStatus::CheckedIn);
    assert_eq!(seen.patient.demographics_confirmed_at, Some(confirmed_at));

    // The server has not seen the events yet and still says "booked".
    store
        .apply_schedule(true, std::slice::from_ref(&a), &[], "c2", now())
        .unwrap();
    let seen = store.appointment_by_id(&a.id).unwrap().unwrap();
    assert_eq!(seen.status, AppointmentStatus::CheckedIn);
    assert_eq!(seen.patient.demographics_confirmed_at, Some(confirmed_at));
    let found = store.lookup(&query((1980, 5, 17), "dia"), 3).unwrap();
    assert_eq!(found[0].status, AppointmentStatus::CheckedIn);

    // The clinic's cancellation wins over the kiosk's record.
    let mut cancelled = a.clone();
    cancelled.status = AppointmentStatus::Cancelled;
    store
        .apply_schedule(false, &[cancelled], &[], "c3", now())
        .unwrap();
    assert_eq!(
        store.appointment_by_id(&a.id).unwrap().unwrap().status,
        AppointmentStatus::Cancelled
    );
}

#[test]
fn events_are_offered_oldest_first_in_batches() {
    let f = Files::new();
    let mut store = f.open();
    let a = appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    let b = appointment("b1", "Bo", "Eng", (1970, 1, 2), 11, 0);
    store
        .apply_schedule(true, &[a.clone(), b.clone()], &[], "c", now())
        .unwrap();
    let mut all = Vec::new();
    all.extend(
        store
            .record_step(&kiosk(), &identify(&a, now()), now())
            .unwrap(),
    );
    all.extend(
        store
            .record_step(&kiosk(), &identify(&b, now()), now())
            .unwrap(),
    );
    all.extend(
        store
            .record_step(&kiosk(), &check_in(&a, now()), now())
            .unwrap(),
    );
    assert_eq!(all.len(), 6);
    assert_eq!(
        all.iter().collect::<std::collections::HashSet<_>>().len(),
        6,
        "UUIDs are unique"
    );

    let first = store.pending(4).unwrap();
    assert_eq!(
        first.iter().map(|i| i.envelope.id).collect::<Vec<_>>(),
        all[..4]
    );
    assert!(first.windows(2).all(|w| w[0].seq < w[1].seq));
    // Not yet acknowledged: the same batch is offered again.
    assert_eq!(store.pending(4).unwrap(), first);

    assert_eq!(store.mark_delivered(&all[..4], now()).unwrap(), 4);
    let second = store.pending(4).unwrap();
    assert_eq!(
        second.iter().map(|i| i.envelope.id).collect::<Vec<_>>(),
        all[4..]
    );
    // Each envelope is the wire form of its event.
    assert_eq!(
        second[0].envelope.body,
        EventBody::CopayChosen {
            choice: "front_desk".into(),
            amount_cents: 2500,
            currency: "USD".into(),
        }
    );
    assert_eq!(second[1].envelope.body, EventBody::CheckedIn {});
    assert_eq!(second[1].envelope.appointment_id.as_deref(), Some("a1"));
}

#[test]
fn a_delivered_event_is_never_offered_again_even_after_a_restart() {
    let f = Files::new();
    let mut store = f.open();
    let a = appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    let ids = store
        .record_step(&kiosk(), &identify(&a, now()), now())
        .unwrap();
    let later = now() + Duration::seconds(5);
    assert_eq!(store.mark_delivered(&ids[..1], later).unwrap(), 1);
    // Acknowledging twice (a retried batch) changes nothing.
    assert_eq!(store.mark_delivered(&ids[..1], later).unwrap(), 0);
    assert_eq!(store.mark_delivered(&[Uuid::new_v4()], later).unwrap(), 0);
    assert_eq!(pending_ids(&store), ids[1..]);
    assert_eq!(
        store.event_state(ids[0]).unwrap(),
        Some(EventState::Delivered(later))
    );
    drop(store);
    let mut store = f.open();
    assert_eq!(pending_ids(&store), ids[1..]);
    // A rejection cannot touch a delivered event.
    assert!(!store.mark_rejected(ids[0], "late", now()).unwrap());
    assert_eq!(
        store.event_state(ids[0]).unwrap(),
        Some(EventState::Delivered(later))
    );
}

#[test]
fn a_rejected_event_is_recorded_and_never_offered_again() {
    let f = Files::new();
    let mut store = f.open();
    let a = appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    let ids = store
        .record_step(&kiosk(), &identify(&a, now()), now())
        .unwrap();
    assert!(
        store
            .mark_rejected(ids[1], "unknown appointment", now())
            .unwrap()
    );
    assert!(!store.mark_rejected(ids[1], "again", now()).unwrap());
    assert_eq!(store.mark_delivered(&ids[1..], now()).unwrap(), 0);
    assert_eq!(pending_ids(&store), ids[..1]);
    assert_eq!(
        store.event_state(ids[1]).unwrap(),
        Some(EventState::Rejected {
            at: now(),
            reason: "unknown appointment".into()
        })
    );
    let stats = store.stats(now()).unwrap();
    assert_eq!((stats.depth, stats.rejected), (1, 1));
    drop(store);
    assert_eq!(pending_ids(&f.open()), ids[..1]);
}

#[test]
fn stats_report_depth_and_the_oldest_age() {
    let f = Files::new();
    let mut store = f.open();
    let empty = store.stats(now()).unwrap();
    assert_eq!(
        (empty.depth, empty.oldest_age, empty.rejected),
        (0, None, 0)
    );
    let a = appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    let first = store
        .record_step(&kiosk(), &identify(&a, now()), now())
        .unwrap();
    let later = now() + Duration::seconds(90);
    store
        .record_step(&kiosk(), &check_in(&a, later), later)
        .unwrap();
    let stats = store.stats(now() + Duration::seconds(120)).unwrap();
    assert_eq!(stats.depth, 4);
    assert_eq!(stats.oldest_age, Some(std::time::Duration::from_secs(120)));
    store.mark_delivered(&first, later).unwrap();
    let stats = store.stats(now() + Duration::seconds(120)).unwrap();
    assert_eq!(stats.depth, 2);
    assert_eq!(stats.oldest_age, Some(std::time::Duration::from_secs(30)));
    // A clock set back never gives a negative age.
    let stats = store.stats(now() - Duration::hours(1)).unwrap();
    assert_eq!(stats.oldest_age, Some(std::time::Duration::ZERO));
}

#[test]
fn every_kind_of_event_round_trips_through_the_outbox() {
    let f = Files::new();
    let mut store = f.open();
    let a = appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    let events = vec![
        DomainEvent::Flag(FlagRaised {
            code: ReasonCode::IdentityNotFound,
            appointment_id: None,
            step: Step::NotFound,
            at: now(),
            text: ReasonCode::IdentityNotFound.staff_text().into(),
        }),
        DomainEvent::DemographicsProposed {
            appointment_id: a.id.clone(),
            patient_id: a.patient.id.clone(),
            proposed: Demographics {
                phone: "541-555-0100".into(),
                ..Demographics::default()
            },
            at: now(),
        },
        DomainEvent::CoverageProposed {
            appointment_id: a.id.clone(),
            patient_id: a.patient.id.clone(),
            proposed: Some(CoverageUpdate {
                payer: "Aetna".into(),
                member_id: "W123".into(),
                group: String::new(),
            }),
            at: now(),
        },
        DomainEvent::CoverageProposed {
            appointment_id: a.id.clone(),
            patient_id: PatientId::from("p-a1"),
            proposed: None,
            at: now(),
        },
        DomainEvent::CoPayChosen {
            appointment_id: a.id.clone(),
            choice: CoPayChoice::BillLater,
            amount: Money::new(1000, a.expected_copay.currency),
            at: now(),
        },
    ];
    let ids = store.record_step(&kiosk(), &events, now()).unwrap();
    let stored: Vec<EventEnvelope> = store
        .pending(10)
        .unwrap()
        .into_iter()
        .map(|i| i.envelope)
        .collect();
    let expected: Vec<EventEnvelope> = events
        .iter()
        .zip(&ids)
        .map(|(e, id)| EventEnvelope::from_domain_with_id(e, *id))
        .collect();
    assert_eq!(stored, expected);
    assert!(stored[0].appointment_id.is_none());
}

// ---------------------------------------------------------------- audit

#[test]
fn phi_views_and_proposals_are_audited_and_synced_without_phi() {
    let f = Files::new();
    let mut store = f.open();
    store.save_enrollment(&enrollment("c1", "tok")).unwrap();
    let a = appointment("a1", "Quintessa", "Zyxwvutsrq", (1961, 7, 29), 10, 0);
    store
        .apply_schedule(true, std::slice::from_ref(&a), &[], "c", now())
        .unwrap();
    let t1 = now() + Duration::seconds(1);
    let events = vec![
        DomainEvent::PhiShown {
            appointment_id: a.id.clone(),
            what: PhiShown::Identity,
            at: now(),
        },
        DomainEvent::Arrived {
            appointment_id: a.id.clone(),
            at: now(),
        },
        DomainEvent::PhiShown {
            appointment_id: a.id.clone(),
            what: PhiShown::Demographics,
            at: t1,
        },
        DomainEvent::DemographicsProposed {
            appointment_id: a.id.clone(),
            patient_id: a.patient.id.clone(),
            proposed: Demographics {
                phone: "541-555-0177".into(),
                ..a.patient.demographics.clone()
            },
            at: t1,
        },
        DomainEvent::PhiShown {
            appointment_id: a.id.clone(),
            what: PhiShown::Coverage,
            at: t1,
        },
        DomainEvent::CoverageProposed {
            appointment_id: a.id.clone(),
            patient_id: a.patient.id.clone(),
            proposed: None,
            at: t1,
        },
        DomainEvent::PhiShown {
            appointment_id: a.id.clone(),
            what: PhiShown::CoPay,
            at: t1,
        },
    ];
    let ids = store.record_step(&kiosk(), &events, now()).unwrap();

    let audit = store.audit_for(&a.id).unwrap();
    let summary: Vec<(Uuid, AuditAction, PhiShown)> = audit
        .iter()
        .map(|e| (e.event_id, e.action, e.what))
        .collect();
    assert_eq!(
        summary,
        [
            (ids[0], AuditAction::Viewed, PhiShown::Identity),
            (ids[2], AuditAction::Viewed, PhiShown::Demographics),
            (ids[3], AuditAction::Proposed, PhiShown::Demographics),
            (ids[4], AuditAction::Viewed, PhiShown::Coverage),
            (ids[5], AuditAction::Proposed, PhiShown::Coverage),
            (ids[6], AuditAction::Viewed, PhiShown::CoPay),
        ]
    );
    assert!(
        audit
            .iter()
            .all(|e| e.kiosk_id == kiosk() && e.appointment_id == a.id)
    );
    assert_eq!(audit[0].at, now());
    assert_eq!(audit[1].at, t1);
    assert_eq!(store.audit_entries(audit[2].seq, 2).unwrap(), audit[3..5]);

    // Each view travels to the server as a phi_viewed event.
    let pending = store.pending(20).unwrap();
    assert_eq!(
        pending[0].envelope.body,
        EventBody::PhiViewed {
            what: "identity".into()
        }
    );
    assert_eq!(
        pending[6].envelope.body,
        EventBody::PhiViewed {
            what: "copay".into()
        }
    );

    // No audit column holds PHI: only ids, times and kinds.
    let raw = f.raw();
    let mut stmt = raw
        .prepare("SELECT event_id, kiosk_id, at, appointment_id, action, what FROM audit_log")
        .unwrap();
    let cells: Vec<String> = stmt
        .query_map([], |r| {
            (0..6)
                .map(|i| r.get::<_, String>(i))
                .collect::<Result<Vec<_>, _>>()
                .map(|v| v.join("|"))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(cells.len(), 6);
    let phi = [
        "Quintessa",
        "Zyxwvutsrq",
        "1961-07-29",
        "742 Evergreen",
        "Springfield",
        "541-555",
        "patient@example.com",
        "XQZ900123456",
        "Blue Shield",
        "p-a1",
    ];
    for cell in &cells {
        for p in phi {
            assert!(!cell.contains(p), "audit row {cell:?} holds {p:?}");
        }
    }
}

// ---------------------------------------------------------------- identity

#[test]
fn the_enrollment_is_stored_once_and_read_at_start() {
    let f = Files::new();
    let mut store = f.open();
    assert_eq!(store.enrollment().unwrap(), None);
    let e = enrollment("c1", "secret-token-123");
    store.save_enrollment(&e).unwrap();
    drop(store);
    let mut store = f.open();
    assert_eq!(store.enrollment().unwrap(), Some(e.clone()));
    let err = store
        .save_enrollment(&enrollment("c1", "another"))
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyEnrolled { .. }), "{err}");
    assert_eq!(
        store.enrollment().unwrap().unwrap().device_token,
        "secret-token-123"
    );
    assert!(
        !format!("{e:?}").contains("secret-token-123"),
        "Debug must hide the token"
    );
}

#[test]
fn re_enrolling_replaces_the_identity_and_guards_unsent_events() {
    let f = Files::new();
    let mut store = f.open();
    store.save_enrollment(&enrollment("c1", "old")).unwrap();
    let a = appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
    store
        .apply_schedule(true, std::slice::from_ref(&a), &[], "cur", now())
        .unwrap();
    let ids = store
        .record_step(&kiosk(), &identify(&a, now()), now())
        .unwrap();

    // Same clinic, new token: allowed; the next pull starts from scratch.
    store.reenroll(&enrollment("c1", "new")).unwrap();
    assert_eq!(store.enrollment().unwrap().unwrap().device_token, "new");
    assert_eq!(store.cursor().unwrap(), "");
    assert_eq!(store.appointment_count().unwrap(), 0);
    assert_eq!(pending_ids(&store), ids);

    // Another clinic while events are unsent: refused, nothing changes.
    let err = store.reenroll(&enrollment("c2", "other")).unwrap_err();
    assert!(
        matches!(err, StoreError::PendingEventsBlockReenroll { pending: 2 }),
        "{err}"
    );
    assert_eq!(
        store.enrollment().unwrap().unwrap().clinic_id().as_str(),
        "c1"
    );

    // Once they are delivered, it is allowed.
    store.mark_delivered(&ids, now()).unwrap();
    store.reenroll(&enrollment("c2", "other")).unwrap();
    assert_eq!(
        store.enrollment().unwrap().unwrap().clinic_id().as_str(),
        "c2"
    );
    // The old clinic's appointments are no longer accepted.
    let err = store
        .apply_schedule(true, std::slice::from_ref(&a), &[], "x", now())
        .unwrap_err();
    assert!(matches!(err, StoreError::ForeignClinic { .. }), "{err}");
}

#[test]
fn the_last_sync_time_is_kept() {
    let f = Files::new();
    let mut store = f.open();
    assert_eq!(store.last_sync().unwrap(), None);
    let at = now() + Duration::milliseconds(1234);
    store.set_last_sync(at).unwrap();
    drop(store);
    assert_eq!(f.open().last_sync().unwrap(), Some(at));
}

#[test]
fn error_messages_carry_no_phi() {
    let f = Files::new();
    let mut store = f.open();
    store.save_enrollment(&enrollment("c1", "tok")).unwrap();
    let mut a = appointment("a1", "Quintessa", "Zyxwvutsrq", (1961, 7, 29), 10, 0);
    a.clinic_id = "c9".into();
    let err = store
        .apply_schedule(true, &[a], &[], "c", now())
        .unwrap_err();
    let text = err.to_string();
    for p in ["Quintessa", "Zyxwvutsrq", "1961"] {
        assert!(!text.contains(p), "{text}");
    }
    assert!(text.contains("a1") && text.contains("c9"), "{text}");
}
