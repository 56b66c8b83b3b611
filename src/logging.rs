//! Process-wide logging for both binaries: `tracing` to stderr, filtered by
//! `RUST_LOG`, with colour only when stderr is a terminal, so files and
//! journald get plain text.

use std::io::IsTerminal;

/// Installs the stderr logger. `default_filter` applies when `RUST_LOG` is
/// unset or invalid, for example `"info"`. A second call does nothing.
pub fn init(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour_on(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .try_init();
}

/// Whether log lines carry ANSI colour: only on a terminal, and never when
/// `NO_COLOR` is set (<https://no-color.org>).
fn colour_on(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(colour_on(true, None));
        assert!(colour_on(true, Some(OsStr::new(""))));
        assert!(!colour_on(true, Some(OsStr::new("1"))));
        assert!(!colour_on(false, None));
    }
}
