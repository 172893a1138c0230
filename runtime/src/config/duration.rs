//! Durations in configuration files: the key names the unit (`interval_seconds = 15`,
//! `timeout_ms = 500`), the value is a whole number, and the program holds a `Duration`.
//! Use as `#[serde(rename = "timeout_ms", deserialize_with = "millis")]`.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Deserializer;
use serde::de::{Error, Unexpected, Visitor};

/// Reads a whole number of seconds.
pub fn secs<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_u64(Whole::<Secs>(PhantomData))
}

/// Reads a whole number of milliseconds.
pub fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_u64(Whole::<Millis>(PhantomData))
}

/// A time unit a duration key is written in.
trait Unit {
    const NAME: &'static str;
    fn duration(n: u64) -> Duration;
}

struct Secs;
impl Unit for Secs {
    const NAME: &'static str = "seconds";
    fn duration(n: u64) -> Duration {
        Duration::from_secs(n)
    }
}

struct Millis;
impl Unit for Millis {
    const NAME: &'static str = "milliseconds";
    fn duration(n: u64) -> Duration {
        Duration::from_millis(n)
    }
}

struct Whole<U>(PhantomData<U>);

impl<U: Unit> Visitor<'_> for Whole<U> {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a whole number of {} (0 or more)", U::NAME)
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<Duration, E> {
        Ok(U::duration(v))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v).map(U::duration).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct T {
        #[serde(rename = "every_seconds", deserialize_with = "secs", default)]
        every: Duration,
        #[serde(rename = "wait_ms", deserialize_with = "millis", default)]
        wait: Duration,
    }

    #[test]
    fn whole_numbers_in_the_keys_unit() {
        let t: T = toml::from_str("every_seconds = 15\nwait_ms = 250\n").unwrap();
        assert_eq!((t.every, t.wait), (Duration::from_secs(15), Duration::from_millis(250)));
    }

    #[test]
    fn anything_else_is_refused_naming_the_unit() {
        for (text, unit) in [
            ("every_seconds = -1", "seconds"),
            ("every_seconds = \"15s\"", "seconds"),
            ("wait_ms = 1.5", "milliseconds"),
        ] {
            let e = toml::from_str::<T>(text).unwrap_err().to_string();
            assert!(e.contains(&format!("a whole number of {unit}")), "{text}: {e}");
        }
    }
}
