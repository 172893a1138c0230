//! The start-time check that a broker's configuration sends its name-server traffic through the
//! egress: its `namesrvAddr` must be set and list egress ports only, and it must not fetch the
//! list from an address server (`fetchNamesrvAddrByAddressServer`). A broker that goes around
//! the egress registers unsigned, and the name servers' guards refuse it. Nor may it compress
//! its registrations (`compressedRegister=true`): a guard that scopes keys to brokers cannot
//! judge a compressed body and refuses it.
//!
//! Two formats: a Java `broker.conf` (`java.util.Properties`, read as ISO-8859-1, as
//! `BrokerStartup` does) and RocketMQ-Rust's TOML (`*.toml`: the key at the top or in
//! `[broker]`). What the file cannot show is not checked: a `-n` on the broker's command line
//! overrides the file (on Java and RocketMQ-Rust alike), and without the key the broker takes
//! `NAMESRV_ADDR` or `-Drocketmq.namesrv.addr` — hence the key must be in the file.

use std::collections::HashMap;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::Path;

/// Largest configuration file read.
const MAX_FILE_BYTES: u64 = 1 << 20;

const NAMESRV_ADDR: &str = "namesrvAddr";
const FETCH_FROM_ADDRESS_SERVER: &str = "fetchNamesrvAddrByAddressServer";
const COMPRESSED_REGISTER: &str = "compressedRegister";

/// Checks the broker configuration at `path` against the egress's `listens`. Ok: the egress
/// ports the broker does not list (worth a warning: that name server gets no registration).
pub fn check(path: &Path, listens: &[SocketAddr]) -> Result<Vec<SocketAddr>, String> {
    let at = path.display();
    let text = read(path).map_err(|e| format!("{at}: {e}"))?;
    let settings = if path.extension().is_some_and(|e| e == "toml") {
        toml_settings(&text).map_err(|e| format!("{at}: {e}"))?
    } else {
        java_properties(&text)
    };
    let ports: Vec<String> = listens.iter().map(SocketAddr::to_string).collect();
    let expected = ports.join(";");
    if settings.get(FETCH_FROM_ADDRESS_SERVER).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Err(format!(
            "{at}: {FETCH_FROM_ADDRESS_SERVER}=true makes the broker fetch its name servers from an address server, around the egress; remove it and set {NAMESRV_ADDR}={expected}"
        ));
    }
    if settings.get(COMPRESSED_REGISTER).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Err(format!(
            "{at}: {COMPRESSED_REGISTER}=true compresses the broker's registrations, which the name servers' guards cannot judge and refuse; remove it"
        ));
    }
    let Some(value) = settings.get(NAMESRV_ADDR) else {
        return Err(format!(
            "{at}: {NAMESRV_ADDR} is not set, so the broker would take its name servers from -n, NAMESRV_ADDR or rocketmq.namesrv.addr, around the egress; set {NAMESRV_ADDR}={expected}"
        ));
    };
    let entries: Vec<&str> = value.split(';').map(str::trim).filter(|e| !e.is_empty()).collect();
    if entries.is_empty() {
        return Err(format!("{at}: {NAMESRV_ADDR} is empty; set {NAMESRV_ADDR}={expected}"));
    }
    let around: Vec<&str> =
        entries.iter().copied().filter(|e| !e.parse::<SocketAddr>().is_ok_and(|a| listens.contains(&a))).collect();
    if !around.is_empty() {
        return Err(format!(
            "{at}: {NAMESRV_ADDR} lists {}, not an egress port ({}): the broker would register there unsigned; set {NAMESRV_ADDR}={expected}",
            around.join(", "),
            ports.join(", ")
        ));
    }
    Ok(listens.iter().copied().filter(|l| !entries.iter().any(|e| e.parse::<SocketAddr>().ok() == Some(*l))).collect())
}

fn read(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    // Properties.load(InputStream) reads ISO-8859-1: each byte is one character.
    Ok(if path.extension().is_some_and(|e| e == "toml") {
        String::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    })
}

/// The keys checked, from RocketMQ-Rust's TOML: at the top or in `[broker]` (not both).
fn toml_settings(text: &str) -> Result<HashMap<String, String>, String> {
    let v: toml::Table = toml::from_str(text).map_err(|e| e.message().to_owned())?;
    let mut out = HashMap::new();
    for key in [NAMESRV_ADDR, FETCH_FROM_ADDRESS_SERVER, COMPRESSED_REGISTER] {
        let top = v.get(key);
        let broker = v.get("broker").and_then(|b| b.get(key));
        let found = match (top, broker) {
            (Some(_), Some(_)) => return Err(format!("{key} is set both at the top and in [broker]")),
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => continue,
        };
        let text = match found {
            toml::Value::String(s) => s.clone(),
            toml::Value::Boolean(b) => b.to_string(),
            other => return Err(format!("{key} is a {}, not a string", other.type_str())),
        };
        out.insert(key.to_owned(), text);
    }
    Ok(out)
}

/// The entries of a `java.util.Properties` text: comment lines (`#`, `!`), `key=value`,
/// `key: value` and `key value`, backslash continuations and escapes; the last of a repeated
/// key wins.
pub fn java_properties(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let text = text.replace("\r\n", "\n");
    let mut lines = text.split(['\n', '\r']);
    while let Some(first) = lines.next() {
        let first = first.trim_start_matches([' ', '\t', '\x0c']);
        if first.is_empty() || first.starts_with(['#', '!']) {
            continue;
        }
        // A line ending in an odd number of backslashes continues on the next non-empty one.
        let mut logical = String::from(first);
        while logical.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1 {
            logical.pop();
            match lines.next() {
                Some(l) => logical.push_str(l.trim_start_matches([' ', '\t', '\x0c'])),
                None => break,
            }
        }
        let (key, value) = split_key(&logical);
        out.insert(unescape(key), unescape(value));
    }
    out
}

/// The raw key and raw value of a logical line.
fn split_key(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut end = line.len();
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if matches!(c, '=' | ':' | ' ' | '\t' | '\x0c') {
            end = i;
            break;
        }
    }
    let key = &line[..end];
    let mut rest = line[end..].trim_start_matches([' ', '\t', '\x0c']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\x0c']);
    }
    (key, rest)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) if hex.len() == 4 => out.push(ch),
                    // Java throws on a malformed \u escape; keep the text, which then fails
                    // to parse as an address and is reported.
                    _ => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listens() -> Vec<SocketAddr> {
        vec!["127.0.0.1:19876".parse().expect("addr"), "127.0.0.1:19877".parse().expect("addr")]
    }

    fn check_text(name: &str, text: &str) -> Result<Vec<SocketAddr>, String> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        check(&path, &listens())
    }

    #[test]
    fn properties_like_java_reads_them() {
        let p = java_properties(
            "# comment\n! another\n  brokerName = broker-a\nnamesrvAddr:127.0.0.1:19876;\\\n    127.0.0.1:19877\r\n\
             key\\ with\\=escapes value\\u0041\nempty\nlast=1\nlast=2\n",
        );
        assert_eq!(p.get("brokerName").map(String::as_str), Some("broker-a"));
        assert_eq!(p.get("namesrvAddr").map(String::as_str), Some("127.0.0.1:19876;127.0.0.1:19877"));
        assert_eq!(p.get("key with=escapes").map(String::as_str), Some("valueA"));
        assert_eq!(p.get("empty").map(String::as_str), Some(""));
        assert_eq!(p.get("last").map(String::as_str), Some("2"), "the last wins");
        assert!(java_properties("a=b\\").get("a").is_some_and(|v| v == "b"), "a continuation at the end");
    }

    #[test]
    fn egress_ports_only() {
        assert_eq!(check_text("broker.conf", "namesrvAddr=127.0.0.1:19876;127.0.0.1:19877\n"), Ok(vec![]));
        // One name server not listed: allowed, reported for a warning.
        assert_eq!(check_text("broker.conf", "namesrvAddr = 127.0.0.1:19877 ;\n"), Ok(vec![listens()[0]]));
        assert_eq!(
            check_text("broker.conf", "namesrvAddr=127.0.0.1:19876;127.0.0.1:19877\ncompressedRegister=false\n"),
            Ok(vec![])
        );
        assert_eq!(
            check_text(
                "broker.toml",
                "[broker]\nnamesrvAddr = \"127.0.0.1:19876;127.0.0.1:19877\"\nbrokerIp1 = \"x\"\n"
            ),
            Ok(vec![])
        );
        let cases: &[(&str, &str, &str)] = &[
            ("broker.conf", "brokerName=a\n", "namesrvAddr is not set"),
            ("broker.conf", "#namesrvAddr=127.0.0.1:19876\n", "namesrvAddr is not set"),
            ("broker.conf", "namesrvAddr=\n", "is empty"),
            ("broker.conf", "namesrvAddr=127.0.0.1:19876;10.0.0.9:9876\n", "lists 10.0.0.9:9876, not an egress port"),
            ("broker.conf", "namesrvAddr=localhost:19876\n", "lists localhost:19876"),
            ("broker.conf", "namesrvAddr=127.0.0.1:19876\nfetchNamesrvAddrByAddressServer = TRUE\n", "address server"),
            ("broker.conf", "namesrvAddr=127.0.0.1:19876\ncompressedRegister=true\n", "compressedRegister=true"),
            ("broker.toml", "[broker]\nnamesrvAddr = \"127.0.0.1:19876\"\ncompressedRegister = true\n", "cannot judge"),
            ("broker.toml", "namesrvAddr = \"10.0.0.9:9876\"\n", "not an egress port"),
            ("broker.toml", "namesrvAddr = \"a\"\n[broker]\nnamesrvAddr = \"b\"\n", "both"),
            ("broker.toml", "[broker]\nnamesrvAddr = 5\n", "not a string"),
            ("broker.toml", "[broker\n", "broker.toml"),
        ];
        for (name, text, want) in cases {
            let e = check_text(name, text).expect_err(text);
            assert!(e.contains(want), "{text}: {e}");
            assert!(e.contains("namesrvAddr=127.0.0.1:19876;127.0.0.1:19877") || !e.contains("set namesrvAddr"), "{e}");
        }
        let e = check(Path::new("/nonexistent/broker.conf"), &listens()).expect_err("missing");
        assert!(e.contains("/nonexistent/broker.conf"), "{e}");
    }
}
