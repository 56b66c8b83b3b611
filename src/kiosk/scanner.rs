//! The keyboard-wedge scanner: a USB or serial 2D scanner that types a pass
//! as a burst of characters ended by Enter. This module turns key text
//! into complete scans; the adapter drops a burst that pauses too long.

/// The longest scan kept; anything longer is noise, not a pass.
const MAX_SCAN_LEN: usize = 1024;

/// Collects scanner characters until Enter.
#[derive(Debug, Default, Clone)]
pub struct ScanBuffer {
    /// Characters since the last Enter or reset.
    pending: String,
    /// Set when the burst grew past [`MAX_SCAN_LEN`]; the rest up to Enter is dropped.
    overflowed: bool,
}

impl ScanBuffer {
    /// Feeds the text of one key event. Returns a complete scan when the
    /// text holds Enter after some characters.
    pub fn push(&mut self, text: &str) -> Option<String> {
        let mut done = None;
        for c in text.chars() {
            match c {
                '\n' | '\r' => {
                    let scan = std::mem::take(&mut self.pending);
                    let overflowed = std::mem::replace(&mut self.overflowed, false);
                    if !scan.trim().is_empty() && !overflowed {
                        done = Some(scan);
                    }
                }
                c if c.is_control() => {}
                c => {
                    if self.pending.len() >= MAX_SCAN_LEN {
                        self.overflowed = true;
                        self.pending.clear();
                    }
                    if !self.overflowed {
                        self.pending.push(c);
                    }
                }
            }
        }
        done
    }

    /// Drops a partial burst: the scanner paused too long, so this was not a scan.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.overflowed = false;
    }

    /// True while a burst is in progress.
    pub fn is_collecting(&self) -> bool {
        !self.pending.is_empty() || self.overflowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_ending_in_enter_is_one_scan() {
        let mut b = ScanBuffer::default();
        for c in "CK1.abc.def".chars() {
            assert_eq!(b.push(&c.to_string()), None);
        }
        assert!(b.is_collecting());
        assert_eq!(b.push("\n").as_deref(), Some("CK1.abc.def"));
        assert!(!b.is_collecting());
        assert_eq!(b.push("CK1.x\r").as_deref(), Some("CK1.x"));
    }

    #[test]
    fn a_bare_enter_and_control_keys_are_not_scans() {
        let mut b = ScanBuffer::default();
        assert_eq!(b.push("\n"), None);
        assert_eq!(b.push("\u{1b}\u{8}\t"), None);
        assert!(!b.is_collecting());
        assert_eq!(b.push("  \n"), None);
    }

    #[test]
    fn reset_drops_a_partial_burst() {
        let mut b = ScanBuffer::default();
        b.push("CK1.partial");
        b.reset();
        assert_eq!(b.push("X\n").as_deref(), Some("X"));
    }

    #[test]
    fn an_endless_burst_is_dropped_whole() {
        let mut b = ScanBuffer::default();
        b.push(&"A".repeat(5000));
        assert_eq!(b.push("\n"), None);
        assert_eq!(b.push("B\n").as_deref(), Some("B"));
    }
}
