//! A budget for the log lines clients can cause (refusals, closed connections): at most so many
//! a second per listener, the rest counted and reported in one line when the next second
//! starts. Metrics still count every event; only the lines are limited, so a flood of bad
//! frames cannot turn into a flood of log writes on the agent's one runtime thread.

use std::sync::Mutex;
use std::time::Instant;

use tracing::warn;

/// Lines a listener may log per second for events a client can cause.
pub const LINES_PER_SECOND: u32 = 50;

/// Longest attacker-supplied text (a key id, a topic) copied into a log line.
pub const MAX_LOGGED_FIELD: usize = 128;

#[derive(Debug)]
struct Window {
    second: u64,
    used: u32,
    suppressed: u64,
}

/// One listener's budget.
#[derive(Debug)]
pub struct LogBudget {
    started: Instant,
    per_second: u32,
    window: Mutex<Window>,
}

impl Default for LogBudget {
    fn default() -> Self {
        Self::new(LINES_PER_SECOND)
    }
}

impl LogBudget {
    /// A budget of `per_second` lines.
    pub fn new(per_second: u32) -> Self {
        Self { started: Instant::now(), per_second, window: Mutex::new(Window { second: 0, used: 0, suppressed: 0 }) }
    }

    /// Whether one more line may be logged now for `listener`. The first line of a new second
    /// is preceded by a report of how many were suppressed in the seconds before.
    pub fn allow(&self, listener: &str) -> bool {
        self.allow_at(listener, self.started.elapsed().as_secs())
    }

    fn allow_at(&self, listener: &str, second: u64) -> bool {
        let mut w = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if second != w.second {
            if w.suppressed > 0 {
                warn!(
                    listener,
                    suppressed = w.suppressed,
                    "guard log lines suppressed (over {} a second); metrics count every event",
                    self.per_second
                );
            }
            *w = Window { second, used: 0, suppressed: 0 };
        }
        if w.used < self.per_second {
            w.used += 1;
            true
        } else {
            w.suppressed += 1;
            false
        }
    }
}

/// `s` made safe to put in a log line: control characters and line separators escaped (a
/// client must not be able to start a forged line of its own), then cut to
/// [`MAX_LOGGED_FIELD`] bytes on a character boundary, marked when cut.
pub fn clip(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if s.len() <= MAX_LOGGED_FIELD && !s.chars().any(unsafe_char) {
        return s.into();
    }
    let mut out = String::with_capacity(MAX_LOGGED_FIELD + 4);
    for c in s.chars() {
        if out.len() >= MAX_LOGGED_FIELD {
            out.push('…');
            break;
        }
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_budget_are_suppressed_until_the_next_second() {
        let b = LogBudget::new(3);
        let got: Vec<bool> = (0..5).map(|_| b.allow_at("l", 7)).collect();
        assert_eq!(got, [true, true, true, false, false]);
        assert_eq!(b.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner).suppressed, 2);
        assert!(b.allow_at("l", 8), "a new second, a new budget");
        assert_eq!(b.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner).suppressed, 0);
    }

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_on_a_boundary() {
        assert_eq!(clip("ops-1"), "ops-1");
        let long = "é".repeat(100); // 200 bytes
        let c = clip(&long);
        assert!(c.ends_with('…') && c.len() <= MAX_LOGGED_FIELD + 2 + '…'.len_utf8());
    }

    #[test]
    fn clip_escapes_what_could_start_a_forged_line() {
        let forged =
            "x\n2026-11-28T09:41:00Z  INFO rmq_agent::audit: admin request outcome=\"allowed\"\r\u{2028}\u{1b}";
        let c = clip(forged);
        assert!(!c.chars().any(|ch| ch.is_control() || ch == '\u{2028}'), "{c}");
        assert!(c.starts_with("x\\n2026"), "{c}");
    }
}
