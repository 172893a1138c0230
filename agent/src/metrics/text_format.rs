//! OpenMetrics → classic Prometheus text format (0.0.4), for scrapers that do not ask for
//! OpenMetrics. The differences that matter for our output: no `# UNIT` or `# EOF` lines,
//! and a counter's HELP/TYPE lines name the series (`x_total`), not the family (`x`).

/// Converts prometheus-client's OpenMetrics output to the classic text format.
pub fn openmetrics_to_text(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let mut pending_help: Option<&str> = None;
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if line.starts_with("# HELP ") {
            // Held until the TYPE line says whether the family is a counter.
            if let Some(h) = pending_help.replace(line) {
                out.push_str(h);
                out.push('\n');
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap_or((rest, ""));
            let counter = ty == "counter";
            if let Some(h) = pending_help.take() {
                match (counter, h.strip_prefix("# HELP ").and_then(|r| r.split_once(' '))) {
                    (true, Some((hname, text))) => {
                        out.push_str("# HELP ");
                        out.push_str(hname);
                        out.push_str("_total ");
                        out.push_str(text);
                    }
                    _ => out.push_str(h),
                }
                out.push('\n');
            }
            out.push_str("# TYPE ");
            out.push_str(name);
            if counter {
                out.push_str("_total");
            }
            out.push(' ');
            out.push_str(ty);
            out.push('\n');
            continue;
        }
        if let Some(h) = pending_help.take() {
            out.push_str(h);
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_gauges_and_trailer() {
        let om = "# HELP a_seconds CPU.\n# TYPE a_seconds counter\n# UNIT a_seconds seconds\na_seconds_total 1\n\
                  # HELP g Gauge.\n# TYPE g gauge\ng{x=\"1\"} 2\n# EOF\n";
        assert_eq!(
            openmetrics_to_text(om),
            "# HELP a_seconds_total CPU.\n# TYPE a_seconds_total counter\na_seconds_total 1\n\
             # HELP g Gauge.\n# TYPE g gauge\ng{x=\"1\"} 2\n"
        );
    }
}
