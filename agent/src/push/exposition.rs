//! Reading back the agent's own `/metrics` text (the classic 0.0.4 format) into series for
//! remote-write: what is pushed is exactly what a scrape would see. Bounded: a line over
//! [`MAX_LINE`] or a series with more than [`MAX_LABELS`] labels is an error, not a guess.

use std::borrow::Cow;

/// Longest line accepted.
pub const MAX_LINE: usize = 64 * 1024;
/// Most labels on one series (the name included).
pub const MAX_LABELS: usize = 64;

/// One sample line: labels (`__name__` first, then as written) and value, borrowed from the
/// text (a label value is copied only if it holds escapes).
#[derive(Debug, Clone, PartialEq)]
pub struct Series<'a> {
    /// Label pairs, `__name__` first.
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    /// Value.
    pub value: f64,
}

/// Why text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub why: &'static str,
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// Parses one sample line.
fn parse_line(line: &str) -> Result<Series<'_>, &'static str> {
    let b = line.as_bytes();
    if b.is_empty() || !is_name_start(b[0]) {
        return Err("metric name expected");
    }
    let mut i = 1;
    while i < b.len() && is_name_char(b[i]) {
        i += 1;
    }
    let mut labels = vec![("__name__", Cow::Borrowed(&line[..i]))];
    if b.get(i) == Some(&b'{') {
        i += 1;
        loop {
            if b.get(i) == Some(&b'}') {
                i += 1;
                break;
            }
            let start = i;
            if !b.get(i).is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_') {
                return Err("label name expected");
            }
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let name = &line[start..i];
            if b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
                return Err("=\" expected after a label name");
            }
            i += 2;
            let start = i;
            let mut value: Option<String> = None;
            loop {
                match b.get(i) {
                    None => return Err("unterminated label value"),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let v = value.get_or_insert_with(|| line[start..i].to_owned());
                        match b.get(i + 1) {
                            Some(b'n') => v.push('\n'),
                            Some(b'\\') => v.push('\\'),
                            Some(b'"') => v.push('"'),
                            _ => return Err("bad escape in a label value"),
                        }
                        i += 2;
                    }
                    Some(_) => {
                        // The run up to the next quote or backslash (keeps UTF-8 whole).
                        let run = line[i..].find(['"', '\\']).unwrap_or(line.len() - i);
                        if let Some(v) = value.as_mut() {
                            v.push_str(&line[i..i + run]);
                        }
                        i += run;
                    }
                }
            }
            let value = match value {
                Some(v) => Cow::Owned(v),
                None => Cow::Borrowed(&line[start..i - 1]),
            };
            labels.push((name, value));
            if labels.len() > MAX_LABELS {
                return Err("too many labels");
            }
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {}
                _ => return Err(", or } expected"),
            }
        }
    }
    let rest = line[i..].trim_start();
    if rest.len() == line.len() - i {
        return Err("space expected before the value");
    }
    // A timestamp may follow the value; the agent never writes one, and it is ignored.
    let value = rest.split_ascii_whitespace().next().and_then(parse_value).ok_or("bad value")?;
    Ok(Series { labels, value })
}

/// Parses exposition text; comments and blank lines are skipped.
pub fn parse(text: &str) -> Result<Vec<Series<'_>>, ParseError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let err = |why| ParseError { line: n + 1, why };
        if line.len() > MAX_LINE {
            return Err(err("line too long"));
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_line(line).map_err(err)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_agent_writes() {
        let text = "# HELP x_total A counter.\n# TYPE x_total counter\nx_total{topic=\"a\\\"b\",q=\"1\"} 5\n\
                    up 1\nh_bucket{le=\"+Inf\"} 3\nh_sum 0.25\nnan_g NaN\nneg -2.5e-3\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 6);
        assert_eq!(s[0].labels, [("__name__", "x_total".into()), ("topic", "a\"b".into()), ("q", "1".into())]);
        assert!(matches!(s[0].labels[2].1, Cow::Borrowed(_)));
        assert_eq!(s[0].value, 5.0);
        assert_eq!(s[2].labels[1], ("le", "+Inf".into()));
        assert!(s[4].value.is_nan());
        assert_eq!(s[5].value, -0.0025);
    }

    #[test]
    fn bad_lines_are_errors_with_their_number() {
        for (text, why) in [
            ("ok 1\n{x=\"1\"} 2\n", "metric name expected"),
            ("ok 1\nm{x=\"1} 2\n", "unterminated label value"),
            ("ok 1\nm{x=1} 2\n", "=\" expected after a label name"),
            ("ok 1\nm{x=\"\\q\"} 2\n", "bad escape in a label value"),
            ("ok 1\nm one\n", "bad value"),
            ("ok 1\nm1\n", "space expected before the value"),
        ] {
            assert_eq!(parse(text), Err(ParseError { line: 2, why }), "{text:?}");
        }
        let many: String = (0..70).map(|i| format!("l{i}=\"v\",")).collect();
        assert_eq!(parse(&format!("m{{{many}}} 1\n")).unwrap_err().why, "too many labels");
        assert_eq!(parse(&format!("m{{a=\"{}\"}} 1\n", "x".repeat(MAX_LINE))).unwrap_err().why, "line too long");
    }
}
