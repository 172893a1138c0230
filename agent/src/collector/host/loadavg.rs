//! `loadavg`: the 1, 5 and 15 minute load averages of /proc/loadavg.

use rmq_runtime::metrics::Family;

use super::HostSampler;

fn parse(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_ascii_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

pub(super) fn collect(host: &HostSampler, out: &mut Vec<Family>) {
    let Some([a, b, c]) = host.read("loadavg").as_deref().and_then(parse) else { return };
    out.push(Family::gauge("node_load1", "1m load average.").with(Vec::new(), a));
    out.push(Family::gauge("node_load5", "5m load average.").with(Vec::new(), b));
    out.push(Family::gauge("node_load15", "15m load average.").with(Vec::new(), c));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_averages() {
        assert_eq!(parse("0.50 1.00 1.50 2/300 1234\n"), Some([0.5, 1.0, 1.5]));
        assert_eq!(parse("0.50 x 1.50\n"), None);
        assert_eq!(parse("0.50 1.00\n"), None);
    }
}
