//! OpenMetrics → classic Prometheus text format (0.0.4), for scrapers that do not ask for
//! OpenMetrics. The differences that matter for our output: no `# UNIT` or `# EOF` lines,
//! and a counter's HELP/TYPE lines name the series (`x_total`), not the family (`x`).
//!
//! [`TextWriter`] converts line by line as the encoder writes, so a scrape holds one copy
//! of the exposition, not two.

use std::fmt;

/// A `fmt::Write` that receives OpenMetrics text and produces the classic format.
#[derive(Debug, Default)]
pub(crate) struct TextWriter {
    out: String,
    partial: String,
    pending_help: Option<String>,
}

impl TextWriter {
    /// A writer whose output starts with `capacity` bytes reserved.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self { out: String::with_capacity(capacity), ..Self::default() }
    }

    /// The converted text (any unterminated last line included).
    pub(crate) fn finish(mut self) -> String {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line);
        }
        if let Some(h) = self.pending_help.take() {
            self.out.push_str(&h);
            self.out.push('\n');
        }
        self.out
    }

    fn line(&mut self, line: &str) {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            return;
        }
        if line.starts_with("# HELP ") {
            // Held until the TYPE line says whether the family is a counter.
            if let Some(h) = self.pending_help.replace(line.to_owned()) {
                self.out.push_str(&h);
                self.out.push('\n');
            }
            return;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap_or((rest, ""));
            let counter = ty == "counter";
            if let Some(h) = self.pending_help.take() {
                match (counter, h.strip_prefix("# HELP ").and_then(|r| r.split_once(' '))) {
                    (true, Some((hname, text))) => {
                        self.out.push_str("# HELP ");
                        self.out.push_str(hname);
                        self.out.push_str("_total ");
                        self.out.push_str(text);
                    }
                    _ => self.out.push_str(&h),
                }
                self.out.push('\n');
            }
            self.out.push_str("# TYPE ");
            self.out.push_str(name);
            if counter {
                self.out.push_str("_total");
            }
            self.out.push(' ');
            self.out.push_str(ty);
            self.out.push('\n');
            return;
        }
        if let Some(h) = self.pending_help.take() {
            self.out.push_str(&h);
            self.out.push('\n');
        }
        self.out.push_str(line);
        self.out.push('\n');
    }
}

impl fmt::Write for TextWriter {
    fn write_str(&mut self, mut s: &str) -> fmt::Result {
        while let Some(i) = s.find('\n') {
            if self.partial.is_empty() {
                self.line(&s[..i]);
            } else {
                self.partial.push_str(&s[..i]);
                let line = std::mem::take(&mut self.partial);
                self.line(&line);
            }
            s = &s[i + 1..];
        }
        self.partial.push_str(s);
        Ok(())
    }
}

/// Converts a whole OpenMetrics document.
pub fn openmetrics_to_text(om: &str) -> String {
    let mut w = TextWriter::with_capacity(om.len());
    let _ = fmt::Write::write_str(&mut w, om);
    w.finish()
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    const OM: &str = "# HELP a_seconds CPU.\n# TYPE a_seconds counter\n# UNIT a_seconds seconds\na_seconds_total 1\n\
                      # HELP g Gauge.\n# TYPE g gauge\ng{x=\"1\"} 2\n# EOF\n";
    const TEXT: &str = "# HELP a_seconds_total CPU.\n# TYPE a_seconds_total counter\na_seconds_total 1\n\
                        # HELP g Gauge.\n# TYPE g gauge\ng{x=\"1\"} 2\n";

    #[test]
    fn counters_gauges_and_trailer() {
        assert_eq!(openmetrics_to_text(OM), TEXT);
    }

    #[test]
    fn written_in_arbitrary_pieces() {
        for split in 1..OM.len() {
            let mut w = TextWriter::default();
            for chunk in OM.as_bytes().chunks(split) {
                w.write_str(std::str::from_utf8(chunk).unwrap()).unwrap();
            }
            assert_eq!(w.finish(), TEXT, "chunks of {split}");
        }
    }
}
