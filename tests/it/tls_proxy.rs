//! Integration tests: the deployment the IT guide describes. A real nginx
//! (Debian package `nginx`) terminates TLS in front of the real clinic
//! server, configured with the server block from `docs/DEPLOY.md` as
//! written (only its listen address, certificate paths and upstream port
//! are replaced), with a certificate from a private CA made by the
//! `openssl` command. The real kiosk sync worker enrolls and syncs through
//! it with that CA pinned as `[server] ca_file`, and the staff event stream
//! reaches a client through it live.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use checkin_kiosk::server::{Db, staff};
use checkin_kiosk::sync::{self, SyncError};
use chrono::Utc;

use super::sync::{Clinic, Kiosk, PATIENCE, fast_settings, wait_for};

/// An executable from Debian, by name; the message says how to install it.
pub(super) fn tool(name: &str, package: &str) -> PathBuf {
    let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: run scripts/test, which installs it, or \
             `apt-get install {package}`"
        )
    })
}

/// Runs `openssl` in `dir` with `args` (split at spaces) and fails the test
/// with its output if it fails.
fn openssl(dir: &Path, args: &str) {
    let out = Command::new(tool("openssl", "openssl"))
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openssl req` arguments for a new P-256 key without a passphrase.
const NEW_KEY: &str = "req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

/// A private CA and, optionally, a server certificate it signed for
/// 127.0.0.1 and localhost, in their own directory.
pub(super) struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A new CA (files `ca.pem`, `ca.key`); `name` has no spaces.
    fn new_ca(name: &str) -> Self {
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
        };
        openssl(
            pki.dir.path(),
            &format!(
                "{NEW_KEY} -x509 -keyout ca.key -out ca.pem -days 2 -subj /CN={name} \
                 -addext basicConstraints=critical,CA:TRUE \
                 -addext keyUsage=critical,keyCertSign,cRLSign"
            ),
        );
        pki
    }

    /// The same, with a server certificate (`server.pem`, `server.key`).
    pub(super) fn with_server_certificate(name: &str) -> Self {
        let pki = Self::new_ca(name);
        let dir = pki.dir.path();
        std::fs::write(
            dir.join("server.ext"),
            "basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        openssl(
            dir,
            &format!("{NEW_KEY} -keyout server.key -out server.csr -subj /CN=localhost"),
        );
        openssl(
            dir,
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
             -out server.pem -days 2 -extfile server.ext",
        );
        pki
    }

    pub(super) fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub(super) fn file(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// A loopback port nothing listens on right now.
pub(super) fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The nginx server block in `docs/DEPLOY.md`, made to listen on `port`
/// with `pki`'s server certificate and to pass to `upstream`. Every line
/// replaced must be in the guide as written.
fn deploy_guide_server_block(port: u16, pki: &Pki, upstream: SocketAddr) -> String {
    let block = deploy_guide_nginx_block("proxy_pass http://127.0.0.1:8080;");
    replaced_in_block(
        block,
        [
            (
                "listen 443 ssl;".to_string(),
                format!("listen 127.0.0.1:{port} ssl;"),
            ),
            (
                "/etc/ssl/checkin/fullchain.pem;".to_string(),
                format!("{};", pki.file("server.pem")),
            ),
            (
                "/etc/ssl/checkin/privkey.pem;".to_string(),
                format!("{};", pki.file("server.key")),
            ),
            (
                "proxy_pass http://127.0.0.1:8080;".to_string(),
                format!("proxy_pass http://{upstream};"),
            ),
        ],
    )
}

/// The first nginx block of `docs/DEPLOY.md` that holds `marker`.
pub(super) fn deploy_guide_nginx_block(marker: &str) -> String {
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/DEPLOY.md"))
            .unwrap();
    guide
        .split("```nginx\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block))
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("no nginx block in docs/DEPLOY.md holds `{marker}`"))
        .to_string()
}

/// `block` with each `(from, to)` replaced; every `from` must be in it as
/// the guide writes it.
pub(super) fn replaced_in_block(
    mut block: String,
    replacements: impl IntoIterator<Item = (String, String)>,
) -> String {
    for (from, to) in replacements {
        assert!(
            block.contains(&from),
            "docs/DEPLOY.md's nginx block lacks `{from}`"
        );
        block = block.replace(&from, &to);
    }
    block
}

/// nginx in the foreground with its files in a temporary directory;
/// stopped when dropped.
pub(super) struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// nginx with `server_block` (and any `upstream` beside it) in its
    /// `http` block, once it listens on `port`.
    pub(super) fn start(server_block: &str, port: u16) -> Self {
        let bin = tool("nginx", "nginx");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n    access_log off;\n    client_body_temp_path {d}/body;\n    \
             proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    \
             uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n{server_block}}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut nginx = Nginx { child, dir };
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = nginx.child.try_wait().unwrap() {
                panic!("nginx exited with {status}:\n{}", nginx.log());
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen:\n{}",
                nginx.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    pub(super) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A clinic server whose public address is an nginx in front of it, set up
/// as `docs/DEPLOY.md` says, with a certificate from `pki`.
fn clinic_behind_nginx(pki: &Pki) -> (Clinic, Nginx, url::Url) {
    let port = free_port();
    let url: url::Url = format!("https://127.0.0.1:{port}/").parse().unwrap();
    let public = url.clone();
    let clinic = Clinic::start_with(|c| c.server.public_url = Some(public));
    let nginx = Nginx::start(&deploy_guide_server_block(port, pki, clinic.addr), port);
    (clinic, nginx, url)
}

/// A staff user of the clinic, with its password.
fn staff_user(db: &Db, clinic: &Clinic) -> (String, String) {
    let clinic_id = clinic.clinic_id();
    let password = "correct horse battery".to_string();
    let pw = password.clone();
    db.blocking(move |c| {
        staff::add_staff(c, &clinic_id, "tls-desk", &pw, Utc::now())
            .map_err(|e| checkin_kiosk::server::db::StoreError::Task(e.to_string()))
    })
    .unwrap();
    ("tls-desk".into(), password)
}

#[test]
fn a_kiosk_enrolls_and_syncs_through_nginx_with_the_clinic_ca_pinned() {
    let pki = Pki::with_server_certificate("Clinic-Test-CA");
    let (clinic, nginx, url) = clinic_behind_nginx(&pki);

    let mut kiosk = Kiosk::enrolled_with(&clinic, url.clone(), |s| s.ca_file = Some(pki.ca()));
    kiosk.start();
    kiosk.wait_schedule();

    // A staff client trusting only the clinic CA signs in through the proxy
    // and opens the live event stream.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(pki.ca()).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let (user, password) = staff_user(&clinic.db, &clinic);
    let cookie = rt.block_on(async {
        let resp = http
            .post(url.join("api/v1/staff/login").unwrap())
            .header("X-Requested-With", "checkin-console")
            .json(&serde_json::json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "login: {}", resp.status());
        let set = resp.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(set.contains("; Secure"), "{set}");
        set.split(';').next().unwrap().to_string()
    });
    let stream_url = url
        .join(&format!(
            "api/v1/staff/clinics/{}/stream",
            clinic.clinic_id().as_str()
        ))
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    rt.spawn(async move {
        let mut resp = http
            .get(stream_url)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "stream: {}", resp.status());
        let _ = tx.send(String::new());
        while let Ok(Some(chunk)) = resp.chunk().await {
            if tx
                .send(String::from_utf8_lossy(&chunk).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    rx.recv_timeout(PATIENCE).expect("the stream opened");

    // A check-in at the kiosk reaches the server through the proxy, once,
    // and the staff stream shows it while the connection stays open.
    kiosk.help_step("demo-007", "through the proxy");
    kiosk.wait_delivered();
    assert_eq!(
        clinic.count(
            "SELECT COUNT(*) FROM flags WHERE kiosk_id = ?1",
            kiosk.id.as_str()
        ),
        1
    );
    let mut seen = String::new();
    wait_for("the arrival on the staff stream through nginx", || {
        while let Ok(chunk) = rx.try_recv() {
            seen.push_str(&chunk);
        }
        seen.contains("demo-007")
    });
    drop(nginx);
}

#[test]
fn enrollment_refuses_a_certificate_the_pin_does_not_vouch_for() {
    let pki = Pki::with_server_certificate("Clinic-Test-CA");
    let (clinic, _nginx, url) = clinic_behind_nginx(&pki);
    let dir = tempfile::tempdir().unwrap();
    let code = clinic.code();

    // The public roots do not know the clinic's private CA.
    let unpinned = fast_settings(url.clone(), dir.path());
    let err = sync::enroll(&unpinned, &code, "Lobby").unwrap_err();
    assert!(matches!(err, SyncError::Tls { .. }), "{err}");
    assert!(err.to_string().contains("`server.ca_file`"), "{err}");

    // Pinned to another CA, the same certificate is refused too: the pin
    // replaces the public roots rather than adding to them.
    let other = Pki::new_ca("Another-CA");
    let mut wrong_pin = unpinned.clone();
    wrong_pin.ca_file = Some(other.ca());
    let err = sync::enroll(&wrong_pin, &code, "Lobby").unwrap_err();
    assert!(matches!(err, SyncError::Tls { .. }), "{err}");

    // Neither attempt reached the server: the code is still unused.
    let mut pinned = unpinned;
    pinned.ca_file = Some(pki.ca());
    sync::enroll(&pinned, &code, "Lobby").expect("the code still works with the right pin");
}
