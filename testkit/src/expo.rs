//! Reading values out of a Prometheus text or OpenMetrics exposition in tests.

/// One sample line: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Series name.
    pub name: String,
    /// Labels in order.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

/// Every sample line of an exposition (comments skipped). Label values must not contain
/// `,` or `"` escapes (ours do not).
pub fn samples(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().ok()?,
            };
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => {
                    let inner = rest.strip_suffix('}')?;
                    let labels = inner
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .filter_map(|p| {
                            let (k, v) = p.split_once('=')?;
                            Some((k.to_owned(), v.trim_matches('"').to_owned()))
                        })
                        .collect();
                    (n.to_owned(), labels)
                }
                None => (series.to_owned(), Vec::new()),
            };
            Some(Line { name, labels, value })
        })
        .collect()
}

/// The value of the first series named `name` whose labels include all of `want`.
pub fn value(text: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples(text).into_iter().find(|l| l.name == name && matches(l, want)).map(|l| l.value)
}

/// All series named `name` whose labels include all of `want`.
pub fn all(text: &str, name: &str, want: &[(&str, &str)]) -> Vec<Line> {
    samples(text).into_iter().filter(|l| l.name == name && matches(l, want)).collect()
}

fn matches(l: &Line, want: &[(&str, &str)]) -> bool {
    want.iter().all(|(k, v)| l.labels.iter().any(|(lk, lv)| lk == k && lv == v))
}
