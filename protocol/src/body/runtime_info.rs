//! GET_BROKER_RUNTIME_INFO (28): a `KVTable` of strings, with typed readers for the values
//! whose formats need care (three-window TPS strings, the put-latency distribution, locale
//! formatted numbers, human-readable sizes, and keys renamed between 4.9 and 5.x).

use std::collections::BTreeMap;

use super::{FromBody, object, string_keyed};
use crate::error::BodyError;
use crate::fastjson::Value;

/// Upper bounds (ms, inclusive) of the 13 `putMessageDistributeTime` buckets; the last is
/// open-ended. Labels: `[<=0ms] [0~10ms] [10~50ms] [50~100ms] [100~200ms] [200~500ms]
/// [500ms~1s] [1~2s] [2~3s] [3~4s] [4~5s] [5~10s] [10s~]`.
pub const PUT_DISTRIBUTION_BOUNDS_MS: [f64; 13] =
    [0.0, 10.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 10000.0, f64::INFINITY];

/// The broker's put-latency distribution for the previous minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutDistribution {
    /// The literal `"null"` the broker reports during its first minute.
    NotYetAvailable,
    /// Per-bucket counts (not cumulative), in [`PUT_DISTRIBUTION_BOUNDS_MS`] order.
    Buckets([u64; 13]),
}

/// The three windows of a TPS string (`"<10s> <60s> <600s>"`); a window with too few samples
/// is empty on the wire and `None` here.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TpsWindows {
    /// Last 10 seconds.
    pub s10: Option<f64>,
    /// Last minute.
    pub s60: Option<f64>,
    /// Last 10 minutes.
    pub s600: Option<f64>,
}

/// The runtime-info table. Keys are kept as sent; use the readers for typed values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerRuntimeInfo {
    /// Raw key → value.
    pub table: BTreeMap<String, String>,
}

impl FromBody for BrokerRuntimeInfo {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        let v = object(v, "KVTable")?;
        if !matches!(v.get("table"), Some(Value::Object(_)) | None) {
            return Err(BodyError::Shape("KVTable.table"));
        }
        Ok(Self {
            table: string_keyed(v, "table").filter_map(|(k, val)| Some((k, val.scalar_text()?.into_owned()))).collect(),
        })
    }
}

impl BrokerRuntimeInfo {
    /// A raw value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.table.get(key).map(String::as_str)
    }

    /// The first of `keys` that is present (for keys renamed between versions).
    pub fn get_any(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.get(k))
    }

    /// A number, tolerating a locale's decimal comma and grouping separators
    /// (`"1,234.50"`, `"1234,50"`, `"1 234"`).
    pub fn f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(parse_locale_number)
    }

    /// An integer value.
    pub fn i64(&self, key: &str) -> Option<i64> {
        let s = self.get(key)?.trim();
        s.parse().ok().or_else(|| {
            // Java's MessageFormat may group digits; accept only digit groups.
            let cleaned: String = s.chars().filter(|c| !matches!(c, ',' | '.' | ' ' | '\u{a0}' | '\'')).collect();
            cleaned.parse().ok()
        })
    }

    /// A `"true"`/`"false"` value.
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).map(|s| s.trim().eq_ignore_ascii_case("true"))
    }

    /// A three-window TPS value such as `putTps`.
    pub fn tps(&self, key: &str) -> Option<TpsWindows> {
        self.get(key).map(parse_tps)
    }

    /// `getTransferedTps` (4.9.x) or `getTransferredTps` (5.x).
    pub fn get_transferred_tps(&self) -> Option<TpsWindows> {
        self.get_any(&["getTransferredTps", "getTransferedTps"]).map(parse_tps)
    }

    /// `putMessageDistributeTime`; `None` when absent or unreadable.
    pub fn put_distribution(&self) -> Option<PutDistribution> {
        parse_put_distribution(self.get("putMessageDistributeTime")?)
    }

    /// A human-readable size such as `remainHowManyDataToFlush` (`"1.5 MiB"`), in bytes.
    pub fn human_bytes(&self, key: &str) -> Option<f64> {
        parse_human_bytes(self.get(key)?)
    }

    /// `commitLogDirCapacity` (`"Total : 50.0 GiB, Free : 10.0 GiB."`) as (total, free) bytes.
    pub fn commit_log_dir_capacity(&self) -> Option<(f64, f64)> {
        let s = self.get("commitLogDirCapacity")?;
        let total = s.split("Total :").nth(1)?.split(", Free").next()?;
        let free = s.split("Free :").nth(1)?.trim_end().trim_end_matches('.');
        Some((parse_human_bytes(total)?, parse_human_bytes(free)?))
    }

    /// `scheduleMessageOffset_<level>` entries by delay level: (delivered offset, max offset)
    /// of the level's queue in `SCHEDULE_TOPIC_XXXX` (4.9 and 5.x write `"<delivered>,<max>"`).
    /// A level appears once the broker has delivered from it; malformed entries are skipped.
    pub fn schedule_offsets(&self) -> BTreeMap<i32, (i64, i64)> {
        self.table
            .iter()
            .filter_map(|(k, v)| {
                let level = k.strip_prefix("scheduleMessageOffset_")?.parse().ok()?;
                let (delivered, max) = v.split_once(',')?;
                Some((level, (delivered.trim().parse().ok()?, max.trim().parse().ok()?)))
            })
            .collect()
    }

    /// `runtime` (`"[ 1 days, 2 hours, 3 minutes, 4 seconds ]"`) in seconds.
    pub fn runtime_seconds(&self) -> Option<u64> {
        let s = self.get("runtime")?;
        let inner = s.trim().trim_start_matches('[').trim_end_matches(']');
        let mut total = 0u64;
        let mut parts = 0;
        for part in inner.split(", ") {
            let part = part.trim();
            let (num, unit) = part.rsplit_once(' ')?;
            let n: u64 = num.chars().filter(char::is_ascii_digit).collect::<String>().parse().ok()?;
            let mult = match unit {
                "days" => 86_400,
                "hours" => 3_600,
                "minutes" => 60,
                "seconds" => 1,
                _ => return None,
            };
            total = total.checked_add(n.checked_mul(mult)?)?;
            parts += 1;
        }
        (parts == 4).then_some(total)
    }
}

fn parse_tps(s: &str) -> TpsWindows {
    let mut it = s.split(' ').map(|p| {
        let p = p.trim();
        if p.is_empty() { None } else { parse_locale_number(p) }
    });
    TpsWindows { s10: it.next().flatten(), s60: it.next().flatten(), s600: it.next().flatten() }
}

fn parse_put_distribution(s: &str) -> Option<PutDistribution> {
    let s = s.trim();
    if s == "null" || s.is_empty() {
        return Some(PutDistribution::NotYetAvailable);
    }
    let mut buckets = [0u64; 13];
    let mut n = 0;
    for entry in s.split_whitespace() {
        let (_, count) = entry.rsplit_once(':')?;
        *buckets.get_mut(n)? = count.parse().ok()?;
        n += 1;
    }
    (n == 13).then_some(PutDistribution::Buckets(buckets))
}

/// Parses a number written by Java in some locale: `1234.5`, `1,234.5`, `1234,5`, `1.234,5`.
fn parse_locale_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Ok(v) = s.parse() {
        return Some(v);
    }
    let s: String = s.chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\'')).collect();
    let last_dot = s.rfind('.');
    let last_comma = s.rfind(',');
    let normalized = match (last_dot, last_comma) {
        (Some(d), Some(c)) if c > d => s.replace('.', "").replace(',', "."),
        (Some(_), Some(_)) => s.replace(',', ""),
        (None, Some(_)) if s.matches(',').count() == 1 => s.replace(',', "."),
        (None, Some(_)) => s.replace(',', ""),
        _ => s,
    };
    normalized.parse().ok()
}

/// Parses `MixAll.humanReadableByteCount(bytes, false)`: `"512 B"`, `"1.5 KiB"` … `"EiB"`.
fn parse_human_bytes(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, unit) = s.rsplit_once(' ')?;
    let mult: f64 = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024f64.powi(2),
        "GiB" => 1024f64.powi(3),
        "TiB" => 1024f64.powi(4),
        "PiB" => 1024f64.powi(5),
        "EiB" => 1024f64.powi(6),
        _ => return None,
    };
    Some(parse_locale_number(num)? * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pairs: &[(&str, &str)]) -> BrokerRuntimeInfo {
        BrokerRuntimeInfo { table: pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect() }
    }

    #[test]
    fn tps_windows_with_empty_fields() {
        let i = info(&[("putTps", "5.0  "), ("getTotalTps", "1.5 2.0 0.0"), ("x", "")]);
        assert_eq!(i.tps("putTps"), Some(TpsWindows { s10: Some(5.0), s60: None, s600: None }));
        assert_eq!(i.tps("getTotalTps").unwrap().s600, Some(0.0));
        assert_eq!(i.tps("x"), Some(TpsWindows::default()));
    }

    #[test]
    fn transferred_tps_both_spellings() {
        let old = info(&[("getTransferedTps", "1.0 2.0 3.0")]);
        let new = info(&[("getTransferredTps", "4.0 5.0 6.0")]);
        assert_eq!(old.get_transferred_tps().unwrap().s60, Some(2.0));
        assert_eq!(new.get_transferred_tps().unwrap().s60, Some(5.0));
    }

    #[test]
    fn put_distribution() {
        let i = info(&[(
            "putMessageDistributeTime",
            "[<=0ms]:0 [0~10ms]:1234 [10~50ms]:3 [50~100ms]:0 [100~200ms]:0 [200~500ms]:0 [500ms~1s]:0 [1~2s]:0 [2~3s]:0 [3~4s]:0 [4~5s]:0 [5~10s]:0 [10s~]:1 ",
        )]);
        let mut want = [0u64; 13];
        want[1] = 1234;
        want[2] = 3;
        want[12] = 1;
        assert_eq!(i.put_distribution(), Some(PutDistribution::Buckets(want)));
        assert_eq!(
            info(&[("putMessageDistributeTime", "null")]).put_distribution(),
            Some(PutDistribution::NotYetAvailable)
        );
        assert_eq!(info(&[("putMessageDistributeTime", "[<=0ms]:x")]).put_distribution(), None);
        assert_eq!(info(&[]).put_distribution(), None);
    }

    #[test]
    fn locale_numbers() {
        for (s, want) in [("12.50", 12.5), ("12,50", 12.5), ("1,234.5", 1234.5), ("1.234,5", 1234.5), ("1 234", 1234.0)]
        {
            assert_eq!(parse_locale_number(s), Some(want), "{s}");
        }
        assert_eq!(info(&[("putLatency99", "0,25")]).f64("putLatency99"), Some(0.25));
        assert_eq!(info(&[("n", "1,234")]).i64("n"), Some(1234));
    }

    #[test]
    fn human_sizes_and_capacity() {
        let i = info(&[
            ("remainHowManyDataToFlush", "1.5 MiB"),
            ("small", "0 B"),
            ("commitLogDirCapacity", "Total : 50.0 GiB, Free : 10,5 GiB."),
        ]);
        assert_eq!(i.human_bytes("remainHowManyDataToFlush"), Some(1.5 * 1024.0 * 1024.0));
        assert_eq!(i.human_bytes("small"), Some(0.0));
        let gib = 1024f64.powi(3);
        assert_eq!(i.commit_log_dir_capacity(), Some((50.0 * gib, 10.5 * gib)));
    }

    #[test]
    fn runtime_string() {
        let i = info(&[("runtime", "[ 1 days, 2 hours, 3 minutes, 4 seconds ]")]);
        assert_eq!(i.runtime_seconds(), Some(86_400 + 7_200 + 180 + 4));
        let grouped = info(&[("runtime", "[ 1,001 days, 0 hours, 0 minutes, 0 seconds ]")]);
        assert_eq!(grouped.runtime_seconds(), Some(1001 * 86_400));
        assert_eq!(info(&[("runtime", "soon")]).runtime_seconds(), None);
    }
}
