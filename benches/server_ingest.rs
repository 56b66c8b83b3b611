//! Clinic server benchmarks against the real `clinic-server` binary, run as
//! a child process on loopback with its SQLite database on disk, so that its
//! memory can be measured on its own:
//!
//! 1. Event ingest: 50 concurrent kiosks, each enrolled with its own one-time
//!    code and device token and holding its own keep-alive connection, post
//!    batches of 20 events (the mix a real check-in session sends: arrived,
//!    PHI-viewed audits, demographics confirmed, co-pay chosen, checked in,
//!    and a flag for one session in five), each waiting for its answer
//!    before sending the next, like the kiosk's outbox push. Bounded by a
//!    duration and a batch count. Targets: ≥ 5,000 events/s, batch p99 ≤ 20 ms.
//! 2. Schedule pull with 2,000 appointments today (imported through the
//!    server's CSV import): the full snapshot and an empty delta, in ms and
//!    bytes. Target: empty delta ≤ 1 KiB.
//! 3. The server's memory (PSS and RSS from `/proc/PID/smaps_rollup`) idle
//!    after start, and its peak under the ingest load.
//!
//! The load generator runs in this process and shares the machine's cores
//! with the server; the server's and the generator's CPU time are reported
//! so the numbers can be read against that.
//!
//! Two load phases, each bounded by `BENCH_SECS` and `BENCH_MAX_BATCHES`:
//! - paced: every kiosk sends one batch on a fixed schedule so that the 50
//!   together offer the target rate (5,000 events/s: one batch of 20 per
//!   kiosk every 200 ms); latency is counted from when each batch was due,
//!   so a stall also counts against the batches queued behind it;
//! - saturation: every kiosk sends its next batch as soon as the last one
//!   is answered; this finds the most the server can take. With 50 kiosks
//!   in a closed loop the latency is bound to be 50 / (batches/s): queueing,
//!   not service time.
//!
//! Run: `cargo bench --bench server_ingest`
//! Knobs (environment): `BENCH_KIOSKS` (50), `BENCH_BATCH` (20),
//! `BENCH_SECS` (15), `BENCH_MAX_BATCHES` (200000 a phase), `BENCH_RATE`
//! (5000 events/s offered in the paced phase), `BENCH_SERVER_BIN` (another
//! `clinic-server` build to measure, for a before/after comparison).

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use checkin_kiosk::config;
use checkin_kiosk::protocol::{
    EnrollRequest, EnrollResponse, EventBatch, EventBatchResponse, EventBody, EventEnvelope,
    EventStatus, ScheduleResponse,
};
use checkin_kiosk::server::{self, import, staff};
use chrono::{NaiveDate, Utc};
use uuid::Uuid;

const APPOINTMENTS: usize = 2_000;
const CLINICIANS: usize = 25;
const TIME_ZONE: &str = "America/New_York";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Stops the server however the bench ends.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // SIGTERM first, for a graceful stop; then make sure.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Memory of one process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
struct Mem {
    pss: u64,
    rss: u64,
}

fn memory(pid: u32) -> Mem {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Mem {
        pss: field("Pss:"),
        rss: field("Rss:"),
    }
}

/// User + system CPU time of a process, from `/proc/PID/stat`.
fn cpu_time(pid: &str) -> Duration {
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
    let hz = 100; // USER_HZ on Linux
    Duration::from_millis((ticks(14) + ticks(15)) * 1000 / hz)
}

/// Time the threads of a process spent runnable but waiting for a CPU,
/// summed (the second field of `/proc/PID/task/*/schedstat`). On a shared
/// machine this is the time other processes took the cores away.
fn run_queue_wait(pid: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let ns: u64 = tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum();
    Duration::from_nanos(ns)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A day of `APPOINTMENTS` appointments for `day`, as the import CSV.
fn schedule_csv(day: NaiveDate) -> String {
    const FIRST: &[&str] = &[
        "María", "James", "Aisha", "Wei", "Olivia", "José", "Fatima", "Liam", "Ana", "Noah",
        "Chloé", "Mateo", "Priya", "Lucas", "Zoë", "Ethan",
    ];
    const LAST: &[&str] = &[
        "García",
        "Smith",
        "O'Brien",
        "Nguyen",
        "Müller",
        "Johnson-Lee",
        "Patel",
        "Kim",
        "Hernández",
        "Brown",
        "Kowalski",
        "Silva",
        "Cohen",
        "Okafor",
        "Rossi",
        "Dubois",
    ];
    let mut csv = String::from(
        "appointment_id,patient_id,first_name,last_name,date_of_birth,start,duration_minutes,clinician,expected_copay_cents,prior_balance_cents,phone,email,address_line1,city,region,postal_code,emergency_name,emergency_relation,emergency_phone,payer,plan,member_id,group\n",
    );
    for i in 0..APPOINTMENTS {
        // 07:00 to 18:59, spread over the clinicians.
        let minute = (i * 719 / APPOINTMENTS) as u32;
        let (h, m) = (7 + minute / 60, minute % 60);
        let dob = NaiveDate::from_ymd_opt(
            1930 + (i % 90) as i32,
            1 + (i % 12) as u32,
            1 + (i % 28) as u32,
        )
        .unwrap();
        let _ = writeln!(
            csv,
            "bench-{i:05},p-{i:05},{first},{last},{dob},{day} {h:02}:{m:02},20,Dr. Clinician {c},{copay},{bal},+1 555 01{p:04},patient{i}@example.org,{n} Main Street,Springfield,MA,0{z:04},Pat Contact,spouse,+1 555 02{p:04},Acme Health,Gold PPO,M{i:08},G{g:03}",
            first = FIRST[i % FIRST.len()],
            last = LAST[(i / 3) % LAST.len()],
            c = i % CLINICIANS,
            copay = [0, 2000, 2500, 4000][i % 4],
            bal = [0, 0, 0, 1500][i % 4],
            p = i % 10_000,
            n = 1 + i % 900,
            z = 1000 + i % 9000,
            g = i % 100,
        );
    }
    csv
}

/// One simulated check-in session's events, as a kiosk sends them.
fn session(appointment: usize, now: chrono::DateTime<Utc>, out: &mut Vec<EventEnvelope>) {
    let id = format!("bench-{appointment:05}");
    let patient = format!("p-{appointment:05}");
    let ev = |body: EventBody| EventEnvelope {
        id: Uuid::new_v4(),
        occurred_at: now,
        appointment_id: Some(id.clone()),
        body,
    };
    out.push(ev(EventBody::Arrived {}));
    out.push(ev(EventBody::PhiViewed {
        what: "identity".into(),
    }));
    if appointment.is_multiple_of(5) {
        out.push(ev(EventBody::Flag {
            code: "late".into(),
            step: "enter_dob".into(),
            text: "Arrived 20 minutes after the start".into(),
        }));
    }
    out.push(ev(EventBody::PhiViewed {
        what: "demographics".into(),
    }));
    out.push(ev(EventBody::DemographicsConfirmed {
        patient_id: patient,
    }));
    out.push(ev(EventBody::PhiViewed {
        what: "coverage".into(),
    }));
    let amount = [0, 2000, 2500, 4000][appointment % 4];
    if amount > 0 {
        out.push(ev(EventBody::CopayChosen {
            choice: ["front_desk", "phone", "bill_later"][appointment % 3].into(),
            amount_cents: amount,
            currency: "USD".into(),
        }));
    }
    out.push(ev(EventBody::CheckedIn {}));
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let kiosks = env_or("BENCH_KIOSKS", 50) as usize;
    let batch_size = env_or("BENCH_BATCH", 20) as usize;
    let secs = env_or("BENCH_SECS", 15);
    let max_batches = env_or("BENCH_MAX_BATCHES", 200_000);
    let target_rate = env_or("BENCH_RATE", 5_000);

    // ---- the data directory: config, enrollment codes, a 2,000-appointment day
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let port = free_port();
    let config_path = dir.path().join("clinic-server.toml");
    std::fs::write(
        &config_path,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n\n[[clinic]]\nid = \"bench\"\nname = \"Bench Family Clinic\"\ntime_zone = \"{TIME_ZONE}\"\ncurrency = \"USD\"\nlocations = [\"main\"]\n",
            data_dir.display()
        ),
    )
    .expect("write config");
    let config = config::load_server(&config_path).expect("bench config");
    let clinic = config.clinics[0].clone();
    let today = Utc::now().with_timezone(&clinic.time_zone).date_naive();
    let codes = {
        let (db, _) = server::open_data_dir(&config).expect("data dir");
        let csv_path = dir.path().join("schedule.csv");
        std::fs::write(&csv_path, schedule_csv(today)).expect("write csv");
        let summary = import::import_file(&db, &clinic, &csv_path).expect("import");
        assert_eq!(summary.upserted, APPOINTMENTS, "imported appointments");
        (0..kiosks)
            .map(|_| {
                db.blocking(|c| staff::create_enrollment_code(c, &clinic.id, Utc::now()))
                    .expect("enrollment code")
                    .0
            })
            .collect::<Vec<_>>()
        // The database closes here, before the server opens it.
    };

    // ---- the real server binary
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    // BENCH_SERVER_BIN measures another build of the server (for a
    // before/after comparison) against the same load.
    let server_bin = std::env::var_os("BENCH_SERVER_BIN").map_or_else(
        || env!("CARGO_BIN_EXE_clinic-server").into(),
        std::path::PathBuf::from,
    );
    let child = Command::new(&server_bin)
        .arg("serve")
        .arg("--config")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start clinic-server");
    let server = ServerProcess(child);
    let pid = server.0.id();
    let base = format!("http://127.0.0.1:{port}");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start; see {}",
                log_path.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });

    // ---- idle memory, after start
    std::thread::sleep(Duration::from_secs(3));
    let idle: Vec<Mem> = (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(200));
            memory(pid)
        })
        .collect();
    let idle_mem = idle[idle.len() - 1];

    // ---- enroll every kiosk with its own code; each gets its own client
    let tokens: Vec<String> = rt.block_on(async {
        let http = reqwest::Client::new();
        let mut out = Vec::new();
        for (i, code) in codes.iter().enumerate() {
            let resp: EnrollResponse = http
                .post(format!("{base}/api/v1/kiosk/enroll"))
                .json(&EnrollRequest {
                    code: code.clone(),
                    kiosk_name: format!("Bench kiosk {i}"),
                    app_version: "bench".into(),
                })
                .send()
                .await
                .expect("enroll")
                .error_for_status()
                .expect("enroll status")
                .json()
                .await
                .expect("enroll body");
            out.push(resp.device_token);
        }
        out
    });

    // ---- schedule pulls: full snapshot and empty delta
    let (full_times, full_bytes, full_count, delta_times, delta_bytes, delta_headers) = rt
        .block_on(async {
            let http = reqwest::Client::new();
            let token = &tokens[0];
            let pull = |since: Option<&str>| {
                let mut req = http
                    .get(format!("{base}/api/v1/kiosk/schedule"))
                    .bearer_auth(token);
                if let Some(s) = since {
                    req = req.query(&[("since", s)]);
                }
                req
            };
            let mut full_times = Vec::new();
            let mut full_bytes = 0;
            let mut full_count = 0;
            let mut cursor = String::new();
            for i in 0..22 {
                let start = Instant::now();
                let body = pull(None).send().await.unwrap().bytes().await.unwrap();
                let took = start.elapsed();
                if i >= 2 {
                    full_times.push(took);
                }
                let parsed: ScheduleResponse = serde_json::from_slice(&body).unwrap();
                assert!(parsed.full);
                full_bytes = body.len();
                full_count = parsed.upserts.len();
                cursor = parsed.cursor;
            }
            let mut delta_times = Vec::new();
            let mut delta_bytes = 0;
            let mut delta_headers = 0;
            for i in 0..102 {
                let start = Instant::now();
                let resp = pull(Some(&cursor)).send().await.unwrap();
                delta_headers = "HTTP/1.1 200 OK\r\n".len()
                    + resp
                        .headers()
                        .iter()
                        .map(|(n, v)| n.as_str().len() + 2 + v.as_bytes().len() + 2)
                        .sum::<usize>()
                    + 2;
                let body = resp.bytes().await.unwrap();
                let took = start.elapsed();
                if i >= 2 {
                    delta_times.push(took);
                }
                let parsed: ScheduleResponse = serde_json::from_slice(&body).unwrap();
                assert!(!parsed.full && parsed.upserts.is_empty() && parsed.removals.is_empty());
                delta_bytes = body.len();
            }
            full_times.sort();
            delta_times.sort();
            (
                full_times,
                full_bytes,
                full_count,
                delta_times,
                delta_bytes,
                delta_headers,
            )
        });
    let after_pull_mem = memory(pid);

    // ---- ingest load: paced at the target rate, then saturation
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(std::sync::Mutex::new(Mem::default()));
    let sampler = {
        let stop = Arc::clone(&stop);
        let peak = Arc::clone(&peak);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let m = memory(pid);
                let mut p = peak.lock().unwrap();
                p.pss = p.pss.max(m.pss);
                p.rss = p.rss.max(m.rss);
                drop(p);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let load = Load {
        base: &base,
        tokens: &tokens,
        batch_size,
        secs,
        max_batches,
        pid,
    };
    let paced = load.run(&rt, Some(target_rate), 0);
    std::thread::sleep(Duration::from_secs(1));
    let saturated = load.run(&rt, None, 1_000_000);
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak_mem = *peak.lock().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let after_mem = memory(pid);
    let db_bytes = dir_size(&data_dir);
    drop(server);

    println!("## server_ingest");
    println!();
    println!(
        "{kiosks} kiosks, each enrolled with its own token and connection, batches of {batch_size} events, \
         {secs} s a phase (at most {max_batches} batches); {APPOINTMENTS} appointments today; \
         server: `{} serve` in a child process (pid {pid}), SQLite on disk",
        server_bin.display()
    );
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    paced.report(&format!(
        "paced: each kiosk sends one batch every {:.0} ms (offered {target_rate} events/s)",
        paced.interval.as_secs_f64() * 1e3
    ));
    saturated.report("saturation: each kiosk sends its next batch as soon as the last is answered");
    println!(
        "| full snapshot pull ({full_count} appointments), p50 / max of {} | {} / {}; body {} bytes ({:.0} KiB) |",
        full_times.len(),
        ms(percentile(&full_times, 0.5)),
        ms(full_times.last().copied().unwrap_or_default()),
        full_bytes,
        full_bytes as f64 / 1024.0
    );
    println!(
        "| empty delta pull, p50 / p99 of {} | {} / {}; body {} bytes, + status line and headers {} bytes = {} bytes |",
        delta_times.len(),
        ms(percentile(&delta_times, 0.5)),
        ms(percentile(&delta_times, 0.99)),
        delta_bytes,
        delta_headers,
        delta_bytes + delta_headers
    );
    println!(
        "| server memory idle after start (PSS / RSS) | {} / {} |",
        mib(idle_mem.pss),
        mib(idle_mem.rss)
    );
    println!(
        "| server memory after the schedule pulls (PSS / RSS) | {} / {} |",
        mib(after_pull_mem.pss),
        mib(after_pull_mem.rss)
    );
    println!(
        "| server memory under the ingest load, peak of 100 ms samples (PSS / RSS) | {} / {} |",
        mib(peak_mem.pss),
        mib(peak_mem.rss)
    );
    println!(
        "| server memory 2 s after the load (PSS / RSS) | {} / {} |",
        mib(after_mem.pss),
        mib(after_mem.rss)
    );
    println!(
        "| database directory after the run | {:.1} MiB |",
        db_bytes as f64 / 1048576.0
    );
}

/// One phase of ingest load.
struct Load<'a> {
    base: &'a str,
    tokens: &'a [String],
    batch_size: usize,
    secs: u64,
    max_batches: u64,
    pid: u32,
}

/// What one phase measured.
struct LoadResult {
    /// Per batch, from when it was due (paced) or sent (saturation) to its answer.
    latencies: Vec<Duration>,
    /// Per batch, from send to answer.
    service: Vec<Duration>,
    accepted: u64,
    other: u64,
    wall: Duration,
    server_cpu: Duration,
    server_wait: Duration,
    self_cpu: Duration,
    interval: Duration,
    paced: bool,
}

impl Load<'_> {
    /// Runs a phase: paced at `rate` events/s in all, or closed-loop when
    /// `rate` is `None`. `first_appointment_offset` keeps phases on
    /// different sessions.
    fn run(
        &self,
        rt: &tokio::runtime::Runtime,
        rate: Option<u64>,
        first_appointment_offset: usize,
    ) -> LoadResult {
        let kiosks = self.tokens.len();
        let batch_size = self.batch_size;
        let max_batches = self.max_batches;
        // Paced: every kiosk sends one batch per interval, phases spread.
        let interval = rate.map_or(Duration::ZERO, |r| {
            Duration::from_secs_f64((kiosks * batch_size) as f64 / r as f64)
        });
        let sent = Arc::new(AtomicU64::new(0));
        let server_wait_before = run_queue_wait(&self.pid.to_string());
        let server_cpu_before = cpu_time(&self.pid.to_string());
        let self_cpu_before = cpu_time("self");
        let start = Instant::now();
        let end = start + Duration::from_secs(self.secs);
        let (latencies, service, accepted, other) = rt.block_on(async {
            let mut tasks = Vec::new();
            for (k, token) in self.tokens.iter().enumerate() {
                let token = token.clone();
                let url = format!("{}/api/v1/kiosk/events", self.base);
                let sent = Arc::clone(&sent);
                tasks.push(tokio::spawn(async move {
                    // Each kiosk holds its own connection, as real kiosks do.
                    let http = reqwest::Client::new();
                    let mut latencies = Vec::new();
                    let mut service = Vec::new();
                    let mut accepted = 0u64;
                    let mut other = 0u64;
                    let mut pending: Vec<EventEnvelope> = Vec::new();
                    // Kiosk k serves appointments k, k + kiosks, ...
                    let mut next = k + first_appointment_offset;
                    let mut due = start + interval.mul_f64(k as f64 / kiosks as f64);
                    loop {
                        if !interval.is_zero() {
                            tokio::time::sleep_until(due.into()).await;
                        }
                        if Instant::now() >= end
                            || sent.fetch_add(1, Ordering::Relaxed) >= max_batches
                        {
                            break;
                        }
                        while pending.len() < batch_size {
                            session(next % APPOINTMENTS, Utc::now(), &mut pending);
                            next += kiosks;
                        }
                        let batch = EventBatch {
                            events: pending.drain(..batch_size).collect(),
                        };
                        let sent_at = Instant::now();
                        let resp = http
                            .post(&url)
                            .bearer_auth(&token)
                            .json(&batch)
                            .send()
                            .await
                            .expect("post batch");
                        assert!(resp.status().is_success(), "batch: {}", resp.status());
                        let body: EventBatchResponse = resp.json().await.expect("batch answer");
                        let done = Instant::now();
                        service.push(done - sent_at);
                        // Paced: from when the batch was due, so a slow
                        // answer also counts against the batches it delayed.
                        latencies.push(done - if interval.is_zero() { sent_at } else { due });
                        due += interval;
                        for r in &body.results {
                            if r.status == EventStatus::Accepted {
                                accepted += 1;
                            } else {
                                other += 1;
                                if other <= 3 {
                                    eprintln!("not accepted: {:?} {:?}", r.status, r.reason);
                                }
                            }
                        }
                    }
                    (latencies, service, accepted, other)
                }));
            }
            let mut all = (Vec::new(), Vec::new(), 0u64, 0u64);
            for t in tasks {
                let (l, s, a, o) = t.await.expect("kiosk task");
                all.0.extend(l);
                all.1.extend(s);
                all.2 += a;
                all.3 += o;
            }
            all
        });
        let wall = start.elapsed();
        let mut latencies = latencies;
        let mut service = service;
        latencies.sort();
        service.sort();
        LoadResult {
            latencies,
            service,
            accepted,
            other,
            wall,
            server_cpu: cpu_time(&self.pid.to_string()) - server_cpu_before,
            // Threads that ended during the phase drop out of the sum, so
            // this is a lower bound.
            server_wait: run_queue_wait(&self.pid.to_string()).saturating_sub(server_wait_before),
            self_cpu: cpu_time("self") - self_cpu_before,
            interval,
            paced: rate.is_some(),
        }
    }
}

impl LoadResult {
    fn report(&self, name: &str) {
        let batches = self.latencies.len();
        let wall = self.wall.as_secs_f64();
        println!("| **{name}** | |");
        println!(
            "| events accepted (not accepted) | {} ({}) in {} batches over {:.2} s |",
            self.accepted, self.other, batches, wall
        );
        println!(
            "| ingest throughput | {:.0} events/s ({:.0} batches/s) |",
            self.accepted as f64 / wall,
            batches as f64 / wall
        );
        let what = if self.paced {
            "batch latency from when it was due"
        } else {
            "batch latency"
        };
        let spread = |what: &str, sorted: &[Duration]| {
            println!(
                "| {what}, p50 / p90 / p99 / max | {} / {} / {} / {} |",
                ms(percentile(sorted, 0.5)),
                ms(percentile(sorted, 0.9)),
                ms(percentile(sorted, 0.99)),
                ms(sorted.last().copied().unwrap_or_default()),
            );
        };
        spread(what, &self.latencies);
        if self.paced {
            spread("batch latency from send", &self.service);
        }
        println!(
            "| CPU: server / load generator | {:.1} s ({:.0}% of one core) / {:.1} s ({:.0}%) |",
            self.server_cpu.as_secs_f64(),
            100.0 * self.server_cpu.as_secs_f64() / wall,
            self.self_cpu.as_secs_f64(),
            100.0 * self.self_cpu.as_secs_f64() / wall
        );
        println!(
            "| server threads runnable but waiting for a CPU (run queue), summed | {:.1} s over {:.1} s |",
            self.server_wait.as_secs_f64(),
            wall
        );
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
