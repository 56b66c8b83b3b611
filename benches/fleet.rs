//! Fleet benchmark: 2,000 enrolled kiosks, each on its own device token,
//! spread over a health system's clinics (200 clinics of 10 kiosks by
//! default, each clinic with its own day's schedule), against the real
//! `clinic-server` binary in two set-ups measured in the same run, each
//! holding every clinic:
//!
//! - **SQLite:** one `serve` process with its database on disk;
//! - **PostgreSQL:** two `serve` replicas on one PostgreSQL (the test
//!   cluster `scripts/pg-cluster` starts), behind an nginx upstream that
//!   passes a request to the other replica when one does not answer.
//!
//! Each set-up runs three loads:
//!
//! 1. **Morning peak**: every kiosk sends a heartbeat every 30 s, pulls the
//!    schedule delta every 60 s, and sends one check-in session's events
//!    (the mix a real session sends) as one batch every
//!    `3600 / FLEET_SESSIONS_PER_HOUR` s, each kiosk at its own random
//!    phase. A request's latency counts from when it was due, and a failed
//!    batch is sent again with the same event UUIDs until it is
//!    acknowledged, as the kiosk's outbox does.
//! 2. **Paced ingest steps**: 50 kiosks together offer each rate in
//!    `FLEET_RATES` events/s (batches of 20), to find the most sustained
//!    with batch p99 ≤ 50 ms; then a closed loop (each kiosk sends its next
//!    batch as soon as the last is answered) finds saturation.
//! 3. **Replica kills** (PostgreSQL only): the morning peak again, while one
//!    replica at a time is killed with SIGKILL and restarted 5 s later,
//!    `FLEET_KILLS` times.
//!
//! Afterwards every acknowledged event UUID is looked up in the database:
//! each must be there exactly once. The CPU time of every process (the
//! servers, nginx, every `postgres` process and this load generator) is
//! reported per phase. On PostgreSQL the closed loop also samples what the
//! bench database's backends wait on (`pg_stat_activity`) every 20 ms.
//!
//! Run: `scripts/pg-cluster start && eval "$(scripts/pg-cluster env)" &&
//! cargo bench --bench fleet`. Without `CHECKIN_TEST_PG_URL` only the
//! SQLite set-up runs. Needs `nginx` (Debian `nginx`) for the replicas.
//! Knobs (environment): `FLEET_KIOSKS` (2000), `FLEET_CLINICS` (200; kiosk
//! `i` is enrolled to clinic `i % FLEET_CLINICS`), `FLEET_APPOINTMENTS`
//! (200 a clinic), `FLEET_SECS` (60, each peak phase), `FLEET_SESSIONS_PER_HOUR` (30 per kiosk), `FLEET_RATES`
//! ("2000,5000,10000"), `FLEET_STEP_SECS` (10), `FLEET_KILLS` (3).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use checkin_kiosk::config::{self, ServerConfig};
use checkin_kiosk::protocol::{
    EnrollRequest, EnrollResponse, EventBatch, EventBatchResponse, EventBody, EventEnvelope,
    EventResult, EventStatus, Heartbeat, ScheduleResponse,
};
use checkin_kiosk::server::{self, import, staff};
use chrono::{NaiveDate, Utc};
use uuid::Uuid;

const TIME_ZONE: &str = "America/New_York";
/// Each clinic's appointments in the day (`FLEET_APPOINTMENTS`).
static APPOINTMENTS: LazyLock<usize> =
    LazyLock::new(|| env_or("FLEET_APPOINTMENTS", 200).max(1) as usize);
/// The batch latency the fleet must hold at its peak.
const P99_TARGET: Duration = Duration::from_millis(50);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A child process stopped however the bench ends.
struct Proc {
    child: Child,
    name: String,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Killed and reaped already (a replica kill).
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill_hard();
    }
}

/// User + system CPU time of a process, from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15 (1-based).
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(14) + ticks(15)) * 1000 / 100)
}

/// The bench cluster's `postgres` processes: its postmaster (from
/// `postmaster.pid` beside the password file `scripts/pg-cluster env`
/// names) and the postmaster's children (backends and background
/// workers), not other clusters on the machine.
fn postgres_pids() -> Vec<u32> {
    let Some((_, password_file)) = cluster() else {
        return Vec::new();
    };
    let pid_file = password_file.with_file_name("data").join("postmaster.pid");
    let Some(postmaster) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|t| t.lines().next()?.trim().parse::<u32>().ok())
    else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![postmaster];
    };
    let parent = |pid: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // After the command: state, then the parent's pid.
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        after.split_whitespace().nth(1)?.parse::<u32>().ok()
    };
    let mut pids = vec![postmaster];
    pids.extend(
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| parent(*pid) == Some(postmaster)),
    );
    pids
}

/// The CPU used by named groups of processes between two samples.
struct CpuMeter {
    start: Vec<(String, Duration)>,
    began: Instant,
}

impl CpuMeter {
    fn sample(groups: &[(String, Vec<u32>)]) -> Vec<(String, Duration)> {
        groups
            .iter()
            .map(|(name, pids)| (name.clone(), pids.iter().map(|p| cpu_time(*p)).sum()))
            .collect()
    }

    fn start(groups: &[(String, Vec<u32>)]) -> Self {
        Self {
            start: Self::sample(groups),
            began: Instant::now(),
        }
    }

    /// Each group's share of one core over the interval, as "name 37%".
    fn report(&self, groups: &[(String, Vec<u32>)]) -> String {
        let wall = self.began.elapsed().as_secs_f64();
        let end = Self::sample(groups);
        let mut out = String::new();
        for ((name, before), (_, after)) in self.start.iter().zip(end) {
            let used = after.saturating_sub(*before).as_secs_f64();
            let _ = write!(out, "{name} {:.0}%, ", 100.0 * used / wall);
        }
        out.trim_end_matches(", ").to_string()
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// A day of appointments for `day`, as the import CSV.
fn schedule_csv(day: NaiveDate) -> String {
    let mut csv = String::from(
        "appointment_id,patient_id,first_name,last_name,date_of_birth,start,duration_minutes,clinician,expected_copay_cents\n",
    );
    let appointments = *APPOINTMENTS;
    for i in 0..appointments {
        let minute = (i * 719 / appointments) as u32;
        let (h, m) = (7 + minute / 60, minute % 60);
        let dob = NaiveDate::from_ymd_opt(
            1930 + (i % 90) as i32,
            1 + (i % 12) as u32,
            1 + (i % 28) as u32,
        )
        .expect("a valid date");
        let _ = writeln!(
            csv,
            "fleet-{i:05},p-{i:05},Ana,García,{dob},{day} {h:02}:{m:02},20,Dr. Clinician {c},{copay}",
            c = i % 25,
            copay = [0, 2000, 2500, 4000][i % 4],
        );
    }
    csv
}

/// One check-in session's events, as a kiosk sends them.
fn session(appointment: usize) -> Vec<EventEnvelope> {
    let now = Utc::now();
    let appointment = appointment % *APPOINTMENTS;
    let id = format!("fleet-{appointment:05}");
    let ev = |body: EventBody| EventEnvelope {
        id: Uuid::new_v4(),
        occurred_at: now,
        appointment_id: Some(id.clone()),
        body,
    };
    let mut out = vec![
        ev(EventBody::Arrived {}),
        ev(EventBody::PhiViewed {
            what: "identity".into(),
        }),
        ev(EventBody::PhiViewed {
            what: "demographics".into(),
        }),
        ev(EventBody::DemographicsConfirmed {
            patient_id: format!("p-{appointment:05}"),
        }),
        ev(EventBody::PhiViewed {
            what: "coverage".into(),
        }),
    ];
    if appointment.is_multiple_of(5) {
        out.push(ev(EventBody::Flag {
            code: "late".into(),
            step: "enter_dob".into(),
            text: "Arrived 20 minutes after the start".into(),
        }));
    }
    let amount = [0, 2000, 2500, 4000][appointment % 4];
    if amount > 0 {
        out.push(ev(EventBody::CopayChosen {
            choice: "front_desk".into(),
            amount_cents: amount,
            currency: "USD".into(),
        }));
    }
    out.push(ev(EventBody::CheckedIn {}));
    out
}

/// What one load phase saw.
#[derive(Default)]
struct Tally {
    batches: Vec<Duration>,
    heartbeats: Vec<Duration>,
    pulls: Vec<Duration>,
    events: u64,
    retries: u64,
    /// Stored (accepted, or a duplicate of one stored before).
    acked: Vec<Uuid>,
    /// Refused for good, and the first reason given.
    rejected: u64,
    reason: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.batches.extend(other.batches);
        self.heartbeats.extend(other.heartbeats);
        self.pulls.extend(other.pulls);
        self.events += other.events;
        self.retries += other.retries;
        self.acked.extend(other.acked);
        self.rejected += other.rejected;
        self.reason = self.reason.take().or(other.reason);
    }

    /// Counts one acknowledged batch that was due at `due`.
    fn record(&mut self, due: Instant, retries: u64, results: Vec<EventResult>) {
        self.batches.push(due.elapsed());
        self.events += results.len() as u64;
        self.retries += retries;
        for r in results {
            if r.status == EventStatus::Rejected {
                self.rejected += 1;
                self.reason = self.reason.take().or(r.reason);
            } else {
                self.acked.push(r.id);
            }
        }
    }

    fn sort(&mut self) {
        self.batches.sort();
        self.heartbeats.sort();
        self.pulls.sort();
    }
}

/// One enrolled kiosk as the load sees it.
#[derive(Clone)]
struct Kiosk {
    base: String,
    token: String,
}

/// Posts `events` until acknowledged (the same UUIDs each time); the
/// tries beyond the first and the server's answer. `None` when `give_up`
/// passed first.
async fn push(
    http: &reqwest::Client,
    kiosk: &Kiosk,
    events: &[EventEnvelope],
    give_up: Instant,
) -> Option<(u64, Vec<EventResult>)> {
    let batch = EventBatch {
        events: events.to_vec(),
    };
    let mut retries = 0;
    loop {
        let sent = http
            .post(format!("{}/api/v1/kiosk/events", kiosk.base))
            .bearer_auth(&kiosk.token)
            .json(&batch)
            .send()
            .await;
        if let Ok(resp) = sent
            && resp.status().is_success()
            && let Ok(body) = resp.json::<EventBatchResponse>().await
            && body.results.len() == events.len()
        {
            return Some((retries, body.results));
        }
        if Instant::now() > give_up {
            return None;
        }
        retries += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn heartbeat(http: &reqwest::Client, kiosk: &Kiosk) -> bool {
    let beat = Heartbeat {
        app_version: "fleet".into(),
        outbox_depth: 0,
        outbox_oldest_age_secs: None,
        last_sync_at: Some(Utc::now()),
        online: true,
        clock_skew_secs: None,
    };
    http.post(format!("{}/api/v1/kiosk/heartbeat", kiosk.base))
        .bearer_auth(&kiosk.token)
        .json(&beat)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Pulls the schedule since `cursor`; returns the new cursor.
async fn pull(http: &reqwest::Client, kiosk: &Kiosk, cursor: &str) -> Option<String> {
    let mut req = http
        .get(format!("{}/api/v1/kiosk/schedule", kiosk.base))
        .bearer_auth(&kiosk.token);
    if !cursor.is_empty() {
        req = req.query(&[("since", cursor)]);
    }
    let resp = req.send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    Some(resp.json::<ScheduleResponse>().await.ok()?.cursor)
}

/// One kiosk through the morning peak, until `end`.
async fn peak_kiosk(
    http: reqwest::Client,
    kiosk: Kiosk,
    index: usize,
    session_every: Duration,
    end: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let phase = |every: Duration, salt: u64| {
        let n = (index as u64)
            .wrapping_mul(2_654_435_761)
            .wrapping_add(salt)
            % 1000;
        every.mul_f64(n as f64 / 1000.0)
    };
    let start = Instant::now();
    let mut next_beat = start + phase(Duration::from_secs(30), 1);
    let mut next_pull = start + phase(Duration::from_secs(60), 2);
    let mut next_session = start + phase(session_every, 3);
    let mut cursor = String::new();
    let mut sessions = index;
    loop {
        let due = next_beat.min(next_pull).min(next_session);
        if due >= end {
            return tally;
        }
        tokio::time::sleep_until(due.into()).await;
        if due == next_session {
            let events = session(sessions);
            sessions += 2_000;
            if let Some((retries, results)) =
                push(&http, &kiosk, &events, end + Duration::from_secs(60)).await
            {
                tally.record(due, retries, results);
            }
            next_session += session_every;
        } else if due == next_beat {
            if heartbeat(&http, &kiosk).await {
                tally.heartbeats.push(due.elapsed());
            }
            next_beat += Duration::from_secs(30);
        } else {
            if let Some(c) = pull(&http, &kiosk, &cursor).await {
                tally.pulls.push(due.elapsed());
                cursor = c;
            }
            next_pull += Duration::from_secs(60);
        }
    }
}

/// The whole fleet through the morning peak for `secs`.
async fn peak(http: &reqwest::Client, kiosks: &[Kiosk], secs: u64, per_hour: u64) -> Tally {
    let session_every = Duration::from_secs_f64(3600.0 / per_hour.max(1) as f64);
    let end = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = kiosks
        .iter()
        .enumerate()
        .map(|(i, k)| tokio::spawn(peak_kiosk(http.clone(), k.clone(), i, session_every, end)))
        .collect();
    let mut tally = Tally::default();
    for t in tasks {
        tally.merge(t.await.expect("a kiosk task"));
    }
    tally.sort();
    tally
}

/// 50 kiosks offering `rate` events/s in batches of 20 for `secs`; with
/// `rate` 0, a closed loop.
async fn ingest_step(http: &reqwest::Client, kiosks: &[Kiosk], rate: u64, secs: u64) -> Tally {
    let senders = kiosks.len().min(50);
    let per_batch = 20;
    let every =
        (rate > 0).then(|| Duration::from_secs_f64((senders * per_batch) as f64 / rate as f64));
    let end = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = kiosks[..senders]
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let (http, kiosk) = (http.clone(), k.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut due = Instant::now()
                    + every.map_or(Duration::ZERO, |e| e.mul_f64(i as f64 / senders as f64));
                let mut n = i * 1_000_003;
                while due < end {
                    tokio::time::sleep_until(due.into()).await;
                    let mut events = Vec::with_capacity(per_batch);
                    while events.len() < per_batch {
                        events.extend(session(n));
                        n += 1;
                    }
                    events.truncate(per_batch);
                    if let Some((retries, results)) =
                        push(&http, &kiosk, &events, end + Duration::from_secs(60)).await
                    {
                        tally.record(due, retries, results);
                    }
                    due = match every {
                        Some(e) => due + e,
                        None => Instant::now(),
                    };
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for t in tasks {
        tally.merge(t.await.expect("a sender task"));
    }
    tally.sort();
    tally
}

/// The servers of one set-up, and how kiosks reach them.
struct Setup {
    name: &'static str,
    base: String,
    /// Each server's own address, for health checks.
    direct: Vec<String>,
    configs: Vec<PathBuf>,
    servers: Vec<Proc>,
    nginx: Option<Proc>,
    logs: PathBuf,
}

impl Setup {
    fn groups(&self) -> Vec<(String, Vec<u32>)> {
        let mut groups: Vec<(String, Vec<u32>)> = self
            .servers
            .iter()
            .map(|s| (s.name.clone(), vec![s.pid()]))
            .collect();
        if let Some(n) = &self.nginx {
            groups.push(("nginx".into(), vec![n.pid()]));
        }
        if self.name == "postgres" {
            groups.push(("postgres".into(), postgres_pids()));
        }
        groups.push(("load generator".into(), vec![std::process::id()]));
        groups
    }

    /// The end of every server log, for a failure message.
    fn log_tails(&self) -> String {
        let mut out = String::new();
        for s in &self.servers {
            let path = self.logs.join(format!("{}.log", s.name.replace(' ', "-")));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            let _ = writeln!(out, "--- {}", path.display());
            for line in tail.iter().rev() {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }

    /// Kills replica `i` with SIGKILL, waits `down`, and starts it again.
    fn kill_and_restart(&mut self, i: usize, down: Duration) {
        self.servers[i].kill_hard();
        std::thread::sleep(down);
        self.servers[i] = spawn_server(&self.configs[i], &self.logs, &format!("replica {i}"));
    }
}

fn spawn_server(config: &Path, logs: &Path, name: &str) -> Proc {
    let log_path = logs.join(format!("{}.log", name.replace(' ', "-")));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("a log file");
    let child = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("a log file"))
        .stderr(log)
        .spawn()
        .expect("start clinic-server");
    Proc {
        child,
        name: name.to_string(),
    }
}

/// Clinic `i`'s id.
fn clinic_id(i: usize) -> String {
    format!("fleet-{i:03}")
}

fn server_toml(data_dir: &Path, port: u16, database: Option<&str>, clinics: usize) -> String {
    let mut toml = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nmetrics_listen = \"127.0.0.1:{}\"\ndata_dir = \"{}\"\n\n{}",
        free_port(),
        data_dir.display(),
        database.unwrap_or_default(),
    );
    for i in 0..clinics {
        let _ = write!(
            toml,
            "[[clinic]]\nid = \"{}\"\nname = \"Fleet Family Clinic {i}\"\ntime_zone = \"{TIME_ZONE}\"\ncurrency = \"USD\"\nlocations = [\"main\"]\n\n",
            clinic_id(i),
        );
    }
    toml
}

/// Imports each clinic's day and issues one enrollment code per kiosk
/// (kiosk `i` to clinic `i % clinics`), through the same storage the
/// servers use; the codes in kiosk order.
fn seed(config: &ServerConfig, dir: &Path, kiosks: usize) -> Vec<String> {
    let clinics = config.clinics.len();
    let (store, runtime) = server::open_store(config).expect("open the storage");
    let mut codes = vec![String::new(); kiosks];
    for (c, clinic) in config.clinics.iter().enumerate() {
        let today = Utc::now().with_timezone(&clinic.time_zone).date_naive();
        let csv_path = dir.join(format!("schedule-{c}.csv"));
        std::fs::write(&csv_path, schedule_csv(today)).expect("write the schedule");
        runtime.block_on(async {
            let summary = import::import_into(&store, clinic, &csv_path)
                .await
                .expect("import");
            assert_eq!(summary.upserted, *APPOINTMENTS, "imported appointments");
            for code in codes.iter_mut().skip(c).step_by(clinics) {
                *code = staff::issue_enrollment_code(&store, clinic.id.clone(), Utc::now(), None)
                    .await
                    .expect("an enrollment code")
                    .0;
            }
        });
    }
    codes
}

/// Whether `base` answers `/healthz` within 30 s.
async fn wait_healthy(http: &reqwest::Client, base: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Enrolls one kiosk per code through `base`.
async fn enroll(http: &reqwest::Client, base: &str, codes: &[String]) -> Vec<Kiosk> {
    let mut kiosks = Vec::with_capacity(codes.len());
    for (i, code) in codes.iter().enumerate() {
        let resp: EnrollResponse = http
            .post(format!("{base}/api/v1/kiosk/enroll"))
            .json(&EnrollRequest {
                code: code.clone(),
                kiosk_name: format!("Fleet kiosk {i}"),
                app_version: "fleet".into(),
            })
            .send()
            .await
            .expect("enroll")
            .error_for_status()
            .expect("enroll status")
            .json()
            .await
            .expect("enroll body");
        kiosks.push(Kiosk {
            base: base.to_string(),
            token: resp.device_token,
        });
    }
    kiosks
}

fn sqlite_setup(dir: &Path, kiosks: usize, clinics: usize) -> (Setup, Vec<String>) {
    let port = free_port();
    let config_path = dir.join("sqlite.toml");
    std::fs::write(
        &config_path,
        server_toml(&dir.join("sqlite-data"), port, None, clinics),
    )
    .expect("write the config");
    let config = config::load_server(&config_path).expect("the SQLite config");
    let codes = seed(&config, dir, kiosks);
    let logs = dir.to_path_buf();
    let server = spawn_server(&config_path, &logs, "sqlite server");
    let setup = Setup {
        name: "sqlite",
        base: format!("http://127.0.0.1:{port}"),
        direct: vec![format!("http://127.0.0.1:{port}")],
        configs: vec![config_path],
        servers: vec![server],
        nginx: None,
        logs,
    };
    (setup, codes)
}

/// The test cluster's URL and password file, from the environment that
/// `scripts/pg-cluster env` prints.
fn cluster() -> Option<(url::Url, PathBuf)> {
    let url = std::env::var("CHECKIN_TEST_PG_URL").ok()?.parse().ok()?;
    let password = std::env::var_os("CHECKIN_TEST_PG_PASSWORD_FILE")?;
    Some((url, PathBuf::from(password)))
}

/// A new database on the cluster; its URL.
async fn create_database(url: &url::Url, password_file: &Path) -> url::Url {
    let client = pg_client(url, password_file).await;
    let name = format!("fleet_{}", Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the bench database");
    let mut db = url.clone();
    db.set_path(&name);
    db
}

async fn pg_client(url: &url::Url, password_file: &Path) -> tokio_postgres::Client {
    let mut config: tokio_postgres::Config = url.as_str().parse().expect("a postgres URL");
    let password = std::fs::read_to_string(password_file).expect("the cluster's password");
    config.password(password.lines().next().unwrap_or_default());
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect to the cluster");
    tokio::spawn(connection);
    client
}

fn nginx_conf(dir: &Path, port: u16, upstreams: &[u16]) -> String {
    let servers: String = upstreams
        .iter()
        .map(|p| format!("        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;\n"))
        .collect();
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process off;\nworker_rlimit_nofile 16384;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log error;\n\
         events {{ worker_connections 8192; }}\n\
         http {{\n    access_log off;\n    client_body_temp_path {d}/nginx-body;\n    proxy_temp_path {d}/nginx-proxy;\n\
         \x20   upstream fleet {{\n{servers}        keepalive 256;\n    }}\n\
         \x20   server {{\n        listen 127.0.0.1:{port};\n        location / {{\n\
         \x20           proxy_pass http://fleet;\n            proxy_http_version 1.1;\n            proxy_set_header Connection \"\";\n\
         \x20           proxy_next_upstream error timeout http_502 http_503 non_idempotent;\n            proxy_connect_timeout 1s;\n        }}\n    }}\n}}\n"
    )
}

fn start_nginx(dir: &Path, port: u16, upstreams: &[u16]) -> Proc {
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir, port, upstreams)).expect("write nginx.conf");
    let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("nginx (Debian package `nginx`) for the replicas");
    let child = Command::new(bin)
        .arg("-e")
        .arg(dir.join("nginx-error.log"))
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    Proc {
        child,
        name: "nginx".into(),
    }
}

fn postgres_setup(
    dir: &Path,
    kiosks: usize,
    clinics: usize,
    rt: &tokio::runtime::Runtime,
) -> Option<(Setup, Vec<String>)> {
    let Some((url, password_file)) = cluster() else {
        println!("PostgreSQL: skipped (CHECKIN_TEST_PG_URL is not set; see scripts/pg-cluster)");
        return None;
    };
    let db = rt.block_on(create_database(&url, &password_file));
    let database = format!(
        "[database]\nurl = \"{db}\"\npassword_file = \"{}\"\npool_size = 16\n\n",
        password_file.display()
    );
    let ports = [free_port(), free_port()];
    let configs: Vec<PathBuf> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let path = dir.join(format!("replica-{i}.toml"));
            // The replicas share one data directory: the pass-signing key.
            let toml = server_toml(&dir.join("pg-data"), *port, Some(&database), clinics);
            std::fs::write(&path, toml).expect("write a replica config");
            path
        })
        .collect();
    let config = config::load_server(&configs[0]).expect("the replica config");
    let codes = seed(&config, dir, kiosks);
    let logs = dir.to_path_buf();
    let servers = (0..2)
        .map(|i| spawn_server(&configs[i], &logs, &format!("replica {i}")))
        .collect();
    let port = free_port();
    let nginx = start_nginx(dir, port, &ports);
    let setup = Setup {
        name: "postgres",
        base: format!("http://127.0.0.1:{port}"),
        direct: ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect(),
        configs,
        servers,
        nginx: Some(nginx),
        logs,
    };
    Some((setup, codes))
}

/// Every stored event id (the bench's database holds only its clinics).
fn stored_events(setup: &Setup, rt: &tokio::runtime::Runtime, dir: &Path) -> Vec<Uuid> {
    let ids: Vec<String> = if setup.name == "postgres" {
        let (_, password_file) = cluster().expect("the cluster");
        let config = config::load_server(&setup.configs[0]).expect("the replica config");
        let db: url::Url = config.database.expect("a database").url;
        rt.block_on(async {
            let client = pg_client(&db, &password_file).await;
            client
                .query("SELECT event_id::text FROM events", &[])
                .await
                .expect("read the events")
                .iter()
                .map(|r| r.get(0))
                .collect()
        })
    } else {
        let conn = rusqlite::Connection::open_with_flags(
            dir.join("sqlite-data").join(server::DB_FILE),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open the SQLite database");
        let mut stmt = conn
            .prepare("SELECT event_id FROM events")
            .expect("a query");
        stmt.query_map([], |r| r.get(0))
            .expect("read the events")
            .map(|r| r.expect("an event id"))
            .collect()
    };
    ids.iter().filter_map(|s| s.parse().ok()).collect()
}

/// Lost: acknowledged but not stored. Duplicated: stored more than once.
fn check_exactly_once(acked: &[Uuid], stored: &[Uuid]) -> (usize, usize) {
    let stored_set: HashSet<&Uuid> = stored.iter().collect();
    let lost = acked.iter().filter(|id| !stored_set.contains(id)).count();
    (lost, stored.len() - stored_set.len())
}

fn report_peak(label: &str, t: &Tally, cpu: &str, secs: u64) {
    println!(
        "| {label} | {} batches, {} events ({:.0}/s), {} retried, {} refused{} | batch p50 {} p99 {} max {} | heartbeat p99 {} | pull p99 {} | {cpu} |",
        t.batches.len(),
        t.events,
        t.events as f64 / secs as f64,
        t.retries,
        t.rejected,
        t.reason
            .as_deref()
            .map_or(String::new(), |r| format!(" ({r})")),
        ms(percentile(&t.batches, 0.5)),
        ms(percentile(&t.batches, 0.99)),
        ms(t.batches.last().copied().unwrap_or_default()),
        ms(percentile(&t.heartbeats, 0.99)),
        ms(percentile(&t.pulls, 0.99)),
    );
}

/// The paced steps and the closed loop; the highest rate held with batch
/// p99 within the target.
fn run_steps(
    setup: &Setup,
    kiosks: &[Kiosk],
    http: &reqwest::Client,
    rt: &tokio::runtime::Runtime,
    acked: &mut Vec<Uuid>,
) {
    let step_secs = env_or("FLEET_STEP_SECS", 10);
    let rates: Vec<u64> = std::env::var("FLEET_RATES")
        .unwrap_or_else(|_| "2000,5000,10000".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let mut held = 0;
    for rate in rates.iter().copied().chain([0]) {
        let groups = setup.groups();
        let cpu = CpuMeter::start(&groups);
        let sampler =
            (rate == 0 && setup.name == "postgres").then(|| WaitSampler::start(setup, rt));
        let t = rt.block_on(ingest_step(http, kiosks, rate, step_secs));
        if let Some(sampler) = sampler {
            println!(
                "postgres closed loop, backends' state: {}",
                sampler.finish(rt)
            );
        }
        let p99 = percentile(&t.batches, 0.99);
        let label = if rate == 0 {
            "closed loop (saturation)".to_string()
        } else {
            format!("paced {rate} events/s")
        };
        report_peak(
            &format!("{} {label}", setup.name),
            &t,
            &cpu.report(&groups),
            step_secs,
        );
        if rate > 0 && p99 <= P99_TARGET && t.events as f64 >= 0.95 * (rate * step_secs) as f64 {
            held = held.max(rate);
        }
        acked.extend(t.acked);
    }
    println!(
        "{}: highest offered rate held with batch p99 <= {}: {held} events/s",
        setup.name,
        ms(P99_TARGET)
    );
}

/// Samples, every 20 ms, what the bench database's client backends are
/// doing: running, waiting on a lock or I/O (`wait_event`), or idle in a
/// transaction (waiting for the replica's next statement).
struct WaitSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<Vec<(String, i64)>>,
}

impl WaitSampler {
    fn start(setup: &Setup, rt: &tokio::runtime::Runtime) -> Self {
        let (_, password_file) = cluster().expect("the cluster");
        let config = config::load_server(&setup.configs[0]).expect("the replica config");
        let db: url::Url = config.database.expect("a database").url;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = rt.spawn(async move {
            let client = pg_client(&db, &password_file).await;
            let mut counts: Vec<(String, i64)> = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let rows = client
                    .query(
                        "SELECT CASE WHEN state = 'active'
                                     THEN COALESCE(wait_event_type || ': ' || wait_event, 'running')
                                     ELSE state END, count(*)
                         FROM pg_stat_activity
                         WHERE datname = current_database() AND backend_type = 'client backend'
                           AND pid <> pg_backend_pid() AND state <> 'idle'
                         GROUP BY 1",
                        &[],
                    )
                    .await
                    .unwrap_or_default();
                for r in rows {
                    let (what, n): (String, i64) = (r.get(0), r.get(1));
                    match counts.iter_mut().find(|(w, _)| *w == what) {
                        Some((_, c)) => *c += n,
                        None => counts.push((what, n)),
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            counts
        });
        Self { stop, task }
    }

    /// Each state's share of the samples of busy backends, largest first.
    fn finish(self, rt: &tokio::runtime::Runtime) -> String {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut counts = rt.block_on(self.task).unwrap_or_default();
        counts.sort_by_key(|(_, n)| -n);
        let total: i64 = counts.iter().map(|(_, n)| n).sum::<i64>().max(1);
        counts
            .iter()
            .map(|(w, n)| format!("{w} {:.0}%", 100.0 * *n as f64 / total as f64))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The morning peak while replicas are killed and restarted in turn.
fn run_kills(
    setup: &mut Setup,
    kiosks: &[Kiosk],
    http: &reqwest::Client,
    rt: &tokio::runtime::Runtime,
    secs: u64,
    per_hour: u64,
) -> Tally {
    let kills = env_or("FLEET_KILLS", 3) as usize;
    let gap = Duration::from_secs(secs) / (kills as u32 + 1);
    let tally = std::thread::scope(|scope| {
        let killer = scope.spawn(|| {
            for k in 0..kills {
                std::thread::sleep(gap.saturating_sub(Duration::from_secs(5)));
                setup.kill_and_restart(k % 2, Duration::from_secs(5));
            }
        });
        let tally = rt.block_on(peak(http, kiosks, secs, per_hour));
        killer.join().expect("the killer thread");
        tally
    });
    // A killed replica's CPU time goes with it: none is reported here.
    report_peak(
        &format!("postgres peak, {kills} replica kills"),
        &tally,
        "not measured (replicas restarted)",
        secs,
    );
    tally
}

fn run_setup(mut setup: Setup, codes: &[String], rt: &tokio::runtime::Runtime, dir: &Path) {
    let secs = env_or("FLEET_SECS", 60);
    let per_hour = env_or("FLEET_SESSIONS_PER_HOUR", 30);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let started = Instant::now();
    let kiosks = rt.block_on(async {
        for base in setup.direct.iter().chain([&setup.base]) {
            if !wait_healthy(&http, base).await {
                panic!("{base} did not become healthy:\n{}", setup.log_tails());
            }
        }
        enroll(&http, &setup.base, codes).await
    });
    println!(
        "{}: {} kiosks enrolled in {:.1} s",
        setup.name,
        kiosks.len(),
        started.elapsed().as_secs_f64()
    );
    let mut acked = Vec::new();
    let groups = setup.groups();
    let cpu = CpuMeter::start(&groups);
    let t = rt.block_on(peak(&http, &kiosks, secs, per_hour));
    report_peak(
        &format!("{} morning peak", setup.name),
        &t,
        &cpu.report(&groups),
        secs,
    );
    acked.extend(t.acked);
    run_steps(&setup, &kiosks, &http, rt, &mut acked);
    if setup.servers.len() > 1 {
        acked.extend(run_kills(&mut setup, &kiosks, &http, rt, secs, per_hour).acked);
        // Let the restarted replica come back before counting.
        rt.block_on(async {
            for base in &setup.direct {
                if !wait_healthy(&http, base).await {
                    panic!("{base} did not come back:\n{}", setup.log_tails());
                }
            }
        });
    }
    let stored = stored_events(&setup, rt, dir);
    let (lost, duplicated) = check_exactly_once(&acked, &stored);
    println!(
        "{}: {} events acknowledged, {} stored; lost {lost}, duplicated {duplicated}",
        setup.name,
        acked.len(),
        stored.len()
    );
}

fn main() {
    let kiosks = env_or("FLEET_KIOSKS", 2_000) as usize;
    let clinics = (env_or("FLEET_CLINICS", 200) as usize).clamp(1, kiosks.max(1));
    let dir = tempfile::tempdir().expect("a temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    println!(
        "fleet: {kiosks} kiosks over {clinics} clinics, {} appointments a clinic",
        *APPOINTMENTS
    );
    println!("| phase | load | batch latency | heartbeat | pull | CPU (share of one core) |");
    println!("|---|---|---|---|---|---|");
    let sqlite = dir.path().join("sqlite");
    std::fs::create_dir_all(&sqlite).expect("a dir");
    let (setup, codes) = sqlite_setup(&sqlite, kiosks, clinics);
    run_setup(setup, &codes, &rt, &sqlite);
    let pg = dir.path().join("postgres");
    std::fs::create_dir_all(&pg).expect("a dir");
    if let Some((setup, codes)) = postgres_setup(&pg, kiosks, clinics, &rt) {
        run_setup(setup, &codes, &rt, &pg);
    }
}
