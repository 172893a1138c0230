//! `filefd`: allocated and maximum file handles, from /proc/sys/fs/file-nr.

use rmq_runtime::metrics::Family;

use super::HostSampler;

fn parse(text: &str) -> Option<(f64, f64)> {
    let f: Vec<f64> = text.split_ascii_whitespace().filter_map(|v| v.parse().ok()).collect();
    Some((*f.first()?, *f.get(2)?))
}

pub(super) fn collect(host: &HostSampler, out: &mut Vec<Family>) {
    let Some((alloc, max)) = host.read("sys/fs/file-nr").as_deref().and_then(parse) else { return };
    out.push(Family::gauge("node_filefd_allocated", "File descriptor statistics: allocated.").with(Vec::new(), alloc));
    out.push(Family::gauge("node_filefd_maximum", "File descriptor statistics: maximum.").with(Vec::new(), max));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocated_and_maximum() {
        assert_eq!(parse("1024\t0\t9223372036854775807\n"), Some((1024.0, 9.223_372_036_854_776e18)));
        assert_eq!(parse("1024\t0\n"), None);
    }
}
