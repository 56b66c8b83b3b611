//! The systemd notification protocol (`sd_notify`): readiness and watchdog
//! pings over the datagram socket named by `$NOTIFY_SOCKET`. Outside
//! systemd the variable is unset and every call does nothing.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// Why a notification could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The socket could not be created or the datagram not sent.
    #[error("cannot notify systemd: {0}")]
    Io(#[from] io::Error),
}

/// Where systemd listens for notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A socket in the file system.
    Path(PathBuf),
    /// A socket in Linux's abstract namespace (`@name`).
    Abstract(Vec<u8>),
}

/// Sends notifications to systemd, when the process runs under it.
#[derive(Debug)]
pub struct SystemdNotifier {
    /// The socket and where it sends; `None` outside systemd.
    link: Option<(UnixDatagram, Target)>,
}

impl SystemdNotifier {
    /// A notifier for `$NOTIFY_SOCKET`, or one that does nothing when it is unset.
    pub fn from_env() -> Result<Self, NotifyError> {
        Self::for_socket(std::env::var_os("NOTIFY_SOCKET").map(|s| s.into_encoded_bytes()))
    }

    fn for_socket(name: Option<Vec<u8>>) -> Result<Self, NotifyError> {
        let target = match name {
            None => return Ok(Self { link: None }),
            Some(n) if n.is_empty() => return Ok(Self { link: None }),
            Some(n) if n[0] == b'@' => Target::Abstract(n[1..].to_vec()),
            Some(n) => Target::Path(PathBuf::from(String::from_utf8_lossy(&n).into_owned())),
        };
        Ok(Self {
            link: Some((UnixDatagram::unbound()?, target)),
        })
    }

    /// True when running under systemd with notifications enabled.
    pub fn is_active(&self) -> bool {
        self.link.is_some()
    }

    fn send(&self, message: &str) -> Result<(), NotifyError> {
        let Some((socket, target)) = &self.link else {
            return Ok(());
        };
        match target {
            Target::Path(path) => {
                socket.send_to(message.as_bytes(), path)?;
            }
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket.send_to_addr(message.as_bytes(), &addr)?;
            }
        }
        Ok(())
    }

    /// Tells systemd the service has started.
    pub fn ready(&self) -> Result<(), NotifyError> {
        self.send("READY=1")
    }

    /// Tells systemd the service is alive; a missed ping past `WatchdogSec`
    /// makes systemd restart it.
    pub fn watchdog(&self) -> Result<(), NotifyError> {
        self.send("WATCHDOG=1")
    }

    /// Tells systemd the service is stopping.
    pub fn stopping(&self) -> Result<(), NotifyError> {
        self.send("STOPPING=1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_systemd_nothing_is_sent() {
        let n = SystemdNotifier::for_socket(None).unwrap();
        assert!(!n.is_active());
        n.ready().unwrap();
        n.watchdog().unwrap();
    }

    #[test]
    fn messages_reach_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let n = SystemdNotifier::for_socket(Some(path.as_os_str().as_encoded_bytes().to_vec()))
            .unwrap();
        n.ready().unwrap();
        n.watchdog().unwrap();
        let mut buf = [0u8; 64];
        let len = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");
        let len = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }

    #[test]
    fn messages_reach_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("checkin-kiosk-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let n = SystemdNotifier::for_socket(Some(format!("@{name}").into_bytes())).unwrap();
        n.watchdog().unwrap();
        let mut buf = [0u8; 64];
        let len = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }
}
