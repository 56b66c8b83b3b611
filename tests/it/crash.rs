//! Crash test of the kiosk store: a child process checks patients in, in a
//! loop, and is killed with SIGKILL at random moments, 200 times. After each
//! kill the database must open cleanly, every check-in step the child
//! reported as committed must be there with all its outbox events and audit
//! rows, and no step may be half-written.
//!
//! The child is this test binary run again with `crash::crash_child`
//! selected and `CHECKIN_STORE_CRASH_DIR` set; it prints one line after each
//! commit returns, which the parent reads from its stdout.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use checkin_kiosk::domain::testkit::appointment;
use checkin_kiosk::domain::{
    Appointment, AppointmentId, AppointmentStatus, CoPayChoice, DomainEvent, KioskId, PhiShown,
};
use checkin_kiosk::store::{DbKey, Store};
use chrono::{DateTime, TimeZone, Utc};
use rand::Rng;
use rusqlite::Connection;
use uuid::Uuid;

/// The environment variable that turns [`crash_child`] on: the directory
/// holding the database and key file.
const CHILD_ENV: &str = "CHECKIN_STORE_CRASH_DIR";
/// How many times the child is killed.
const KILLS: usize = 200;
/// In even runs, the longest the child runs before it is killed: these
/// kills land anywhere, start-up and migrations included.
const MAX_LIFETIME_MS: u64 = 120;
/// In odd runs, the longest the child works after its first commit: these
/// kills land among commits however slow start-up is on a loaded machine.
const MAX_WORK_MS: u64 = 40;

/// The event kinds of each step of one check-in; each step is one
/// `record_step`, so one transaction.
const STEP_KINDS: [&[&str]; 3] = [
    &["phi_viewed", "arrived"],
    &["phi_viewed", "demographics_confirmed", "phi_viewed"],
    &["phi_viewed", "copay_chosen", "checked_in"],
];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 17, 0, 0).unwrap()
}

fn kiosk() -> KioskId {
    KioskId::from("k-crash")
}

fn patient(n: u64) -> Appointment {
    let hour = 8 + u32::try_from(n % 10).unwrap();
    appointment(
        &format!("crash-{n}"),
        "Ana",
        &format!("Diaz{n}"),
        (1980, 5, 17),
        hour,
        0,
    )
}

fn steps(a: &Appointment) -> [Vec<DomainEvent>; 3] {
    let id = || a.id.clone();
    let at = now();
    [
        vec![
            DomainEvent::PhiShown {
                appointment_id: id(),
                what: PhiShown::Identity,
                at,
            },
            DomainEvent::Arrived {
                appointment_id: id(),
                at,
            },
        ],
        vec![
            DomainEvent::PhiShown {
                appointment_id: id(),
                what: PhiShown::Demographics,
                at,
            },
            DomainEvent::DemographicsConfirmed {
                appointment_id: id(),
                patient_id: a.patient.id.clone(),
                at,
            },
            DomainEvent::PhiShown {
                appointment_id: id(),
                what: PhiShown::Coverage,
                at,
            },
        ],
        vec![
            DomainEvent::PhiShown {
                appointment_id: id(),
                what: PhiShown::CoPay,
                at,
            },
            DomainEvent::CoPayChosen {
                appointment_id: id(),
                choice: CoPayChoice::FrontDesk,
                amount: a.expected_copay,
                at,
            },
            DomainEvent::CheckedIn {
                appointment_id: id(),
                at,
            },
        ],
    ]
}

/// Writes one whole line with a single `write`, so a kill never leaves half
/// a line that looks complete.
fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("{line}\n").as_bytes());
    let _ = out.flush();
}

/// The child: schedules a patient, records the three steps of their
/// check-in, reports each commit, and goes on with the next patient until
/// it is killed. Does nothing unless `CHECKIN_STORE_CRASH_DIR` is set.
#[test]
#[ignore = "child process of acknowledged_check_ins_survive_sigkill"]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let mut store =
        Store::open(&dir.join("kiosk.db"), &dir.join("kiosk.key"), now()).expect("the store opens");
    say("ready".to_string());
    // The cursor holds the number of the last patient scheduled.
    let mut n: u64 = store.cursor().expect("cursor").parse().unwrap_or(0);
    loop {
        n += 1;
        let a = patient(n);
        store
            .apply_schedule(false, std::slice::from_ref(&a), &[], &n.to_string(), now())
            .expect("schedule applied");
        say(format!("scheduled {n}"));
        for (s, events) in steps(&a).iter().enumerate() {
            let ids = store
                .record_step(&kiosk(), events, now())
                .expect("step recorded");
            let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
            say(format!("step {n} {s} {}", ids.join(" ")));
        }
    }
}

/// What the child reported before it was killed.
#[derive(Default)]
struct Reported {
    /// Patients whose schedule update committed.
    scheduled: BTreeSet<u64>,
    /// Committed steps: (patient, step) → the events' UUIDs.
    steps: BTreeMap<(u64, usize), Vec<Uuid>>,
}

impl Reported {
    /// Takes in the complete lines of one run's output; a last line cut by
    /// the kill (no newline) was never acknowledged and is ignored.
    fn take(&mut self, output: &str) -> usize {
        let mut commits = 0;
        for line in output.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["scheduled", n] => {
                    self.scheduled.insert(n.parse().unwrap());
                }
                ["step", n, s, ids @ ..] => {
                    let ids = ids.iter().map(|i| i.parse().unwrap()).collect();
                    self.steps
                        .insert((n.parse().unwrap(), s.parse().unwrap()), ids);
                    commits += 1;
                }
                _ => continue, // libtest's own lines
            }
        }
        commits
    }
}

/// Checks everything the child acknowledged is in the store, whole.
fn verify(dir: &Path, reported: &Reported) {
    let store = Store::open(&dir.join("kiosk.db"), &dir.join("kiosk.key"), now())
        .expect("the database opens cleanly after SIGKILL");

    // Every stored event decodes (none is half-written), indexed by id.
    let events: BTreeMap<Uuid, (i64, String, String)> = store
        .pending(usize::MAX)
        .expect("every outbox row decodes")
        .into_iter()
        .map(|i| {
            let appointment = i.envelope.appointment_id.clone().unwrap();
            (
                i.envelope.id,
                (i.seq, appointment, i.envelope.body.kind().to_string()),
            )
        })
        .collect();

    // Every acknowledged step is there with each of its events.
    for (&(n, s), ids) in &reported.steps {
        assert_eq!(ids.len(), STEP_KINDS[s].len());
        for (id, kind) in ids.iter().zip(STEP_KINDS[s]) {
            let (_, appointment, stored_kind) = events.get(id).unwrap_or_else(|| {
                panic!("event {id} of acknowledged step {s} of patient {n} is lost")
            });
            assert_eq!(appointment, &format!("crash-{n}"));
            assert_eq!(stored_kind, kind);
        }
    }
    let newest = reported.scheduled.iter().next_back().copied().unwrap_or(0);
    let cursor: u64 = store.cursor().unwrap().parse().unwrap_or(0);
    assert!(
        cursor >= newest,
        "cursor {cursor} is behind acknowledged schedule {newest}"
    );
    for &n in reported.scheduled.iter().rev().take(5) {
        let id = AppointmentId(format!("crash-{n}"));
        let a = store
            .appointment_by_id(&id)
            .unwrap()
            .expect("acknowledged schedule update lost");
        let done = (0..3)
            .filter(|s| reported.steps.contains_key(&(n, *s)))
            .count();
        let expected_at_least = match done {
            0 => AppointmentStatus::Booked,
            1 | 2 => AppointmentStatus::Arrived,
            _ => AppointmentStatus::CheckedIn,
        };
        if done == 3 {
            assert_eq!(a.status, expected_at_least);
        } else if done >= 1 {
            assert!(
                a.status != AppointmentStatus::Booked,
                "arrival of {id} lost"
            );
        }
        if done >= 2 {
            assert!(
                a.patient.demographics_confirmed_at.is_some(),
                "confirmation of {id} lost"
            );
        }
    }
    drop(store);

    // No step is half-written: per appointment, the events are whole steps
    // in order, and the progress and audit rows match them exactly.
    let mut by_appointment: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for (seq, appointment, kind) in events.into_values() {
        by_appointment
            .entry(appointment)
            .or_default()
            .push((seq, kind));
    }
    let conn = Connection::open(dir.join("kiosk.db")).unwrap();
    DbKey::load(&dir.join("kiosk.key"))
        .unwrap()
        .unlock(&conn)
        .unwrap();
    let statuses: BTreeMap<String, String> = collect_pairs(
        &conn,
        "SELECT appointment_id, status FROM appointment_progress",
    );
    let audits: BTreeMap<String, i64> = collect_pairs(
        &conn,
        "SELECT appointment_id, count(*) FROM audit_log GROUP BY appointment_id",
    );
    let confirmations: i64 = conn
        .query_row("SELECT count(*) FROM patient_progress", [], |r| r.get(0))
        .unwrap();
    let mut expected_confirmations = 0;
    for (appointment, mut list) in by_appointment {
        list.sort();
        let kinds: Vec<&str> = list.iter().map(|(_, k)| k.as_str()).collect();
        let whole_steps = (0..=3)
            .find(|&k| kinds == STEP_KINDS[..k].concat())
            .unwrap_or_else(|| panic!("{appointment} holds a partial step: {kinds:?}"));
        let status = statuses.get(&appointment).map(String::as_str);
        let expected_status = match whole_steps {
            0 => None,
            1 | 2 => Some("arrived"),
            _ => Some("checked_in"),
        };
        assert_eq!(status, expected_status, "progress of {appointment}");
        let phi_events = kinds.iter().filter(|k| **k == "phi_viewed").count();
        assert_eq!(
            audits.get(&appointment).copied().unwrap_or(0),
            i64::try_from(phi_events).unwrap(),
            "audit rows of {appointment}"
        );
        if whole_steps >= 2 {
            expected_confirmations += 1;
        }
    }
    assert_eq!(confirmations, expected_confirmations);
}

fn collect_pairs<V: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> BTreeMap<String, V> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn acknowledged_check_ins_survive_sigkill() {
    use std::os::unix::process::ExitStatusExt;

    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::thread_rng();
    let mut reported = Reported::default();
    let mut runs_with_commits = 0;
    let started = Instant::now();
    for run in 0..KILLS {
        let stderr_path = dir.path().join("child.stderr");
        let mut child = Command::new(&exe)
            .args([
                "crash::crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (committed_tx, committed_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let mut chunk = [0u8; 4096];
            let mut told = false;
            while let Ok(n @ 1..) = stdout.read(&mut chunk) {
                text.push_str(&String::from_utf8_lossy(&chunk[..n]));
                if !told && text.contains("\nstep ") {
                    told = true;
                    let _ = committed_tx.send(());
                }
            }
            text
        });
        let among_commits = run % 2 == 1;
        if among_commits {
            // Wait for the first acknowledged step, then let it work on.
            committed_rx
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("run {run}: the child committed nothing in 60 s"));
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..=MAX_WORK_MS)));
        } else {
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..=MAX_LIFETIME_MS)));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let output = reader.join().unwrap();
        assert_eq!(
            status.signal(),
            Some(9),
            "run {run}: the child ended by itself ({status}): {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        let commits = reported.take(&output);
        if among_commits {
            assert!(commits > 0, "run {run} was killed before its first commit");
        }
        if commits > 0 {
            runs_with_commits += 1;
        }
        verify(dir.path(), &reported);
    }
    let elapsed = started.elapsed();

    // Half the kills landed among commits by construction (above); how many
    // steps that adds up to depends on the machine, and is reported below.
    let conn = Connection::open(dir.path().join("kiosk.db")).unwrap();
    DbKey::load(&dir.path().join("kiosk.key"))
        .unwrap()
        .unlock(&conn)
        .unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    eprintln!(
        "crash test: {KILLS} kills, {} acknowledged steps of {} patients, {runs_with_commits} runs \
         with commits, {:.1} s",
        reported.steps.len(),
        reported.scheduled.len(),
        elapsed.as_secs_f64()
    );
}
