//! GET_BROKER_CONFIG (26): the broker's configuration as Java properties text. Java writes
//! `key=value` lines; RocketMQ-Rust writes `key:value`; both are valid `.properties`.
//! Key case differs between them too (`brokerIP1` vs `brokerIp1`), so lookups can ignore it.

use std::collections::BTreeMap;

/// Parsed broker properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerProperties {
    /// Key → value, as sent.
    pub entries: BTreeMap<String, String>,
}

impl BrokerProperties {
    /// Parses properties text: `#`/`!` comments and blank lines skipped, the first `=` or `:`
    /// separates key and value, surrounding spaces trimmed. (Line continuations and escapes
    /// are not used by RocketMQ's writer and are not interpreted.)
    pub fn parse(body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
            .filter_map(|l| {
                let i = l.find(['=', ':'])?;
                Some((l[..i].trim().to_owned(), l[i + 1..].trim().to_owned()))
            })
            .collect();
        Self { entries }
    }

    /// A value by exact key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// A value by key, ignoring ASCII case.
    pub fn get_ignore_case(&self, key: &str) -> Option<&str> {
        self.get(key)
            .or_else(|| self.entries.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_separators_and_case() {
        let p = BrokerProperties::parse(
            b"# c\nbrokerName=broker-a\nbrokerClusterName:TestCluster\nbrokerIp1:127.0.0.1\n\nx = y = z\n",
        );
        assert_eq!(p.get("brokerName"), Some("broker-a"));
        assert_eq!(p.get("brokerClusterName"), Some("TestCluster"));
        assert_eq!(p.get_ignore_case("brokerIP1"), Some("127.0.0.1"));
        assert_eq!(p.get("x"), Some("y = z"));
        assert_eq!(p.entries.len(), 4);
    }
}
