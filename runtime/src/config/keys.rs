//! A signing key entry, as both daemons list them (`[[guard.keys]]`, `[[keys]]`): an id and
//! the file holding the secret.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::Problems;
use crate::secret::SecretError;

/// The keys of a key entry both daemons have. Tables with more keys flatten this in.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Key id (sent with every signature).
    pub id: String,
    /// File holding the secret; must not be readable by group or others.
    pub secret_file: PathBuf,
}

impl KeyConfig {
    /// A key entry.
    pub fn new(id: impl Into<String>, secret_file: impl Into<PathBuf>) -> Self {
        Self { id: id.into(), secret_file: secret_file.into() }
    }

    /// Problems with a list of keys at `at` (e.g. `guard.keys`): ids that `valid_id` refuses
    /// (it is told as `id_rule`), and ids listed twice.
    pub fn check_all<'a>(
        keys: impl IntoIterator<Item = &'a KeyConfig>,
        at: &str,
        valid_id: fn(&str) -> bool,
        id_rule: &str,
        p: &mut Problems,
    ) {
        let mut seen = std::collections::HashSet::new();
        for (i, k) in keys.into_iter().enumerate() {
            let path = format!("{at}[{i}].id");
            if !valid_id(&k.id) {
                p.add(path.clone(), format!("{:?}: {id_rule}", k.id));
            }
            if !seen.insert(k.id.as_str()) {
                p.add(path, format!("{:?} is configured twice", k.id));
            }
        }
    }

    /// Reads every key's secret (permission-checked), by id.
    pub fn read_all<'a>(
        keys: impl IntoIterator<Item = &'a KeyConfig>,
    ) -> Result<HashMap<String, Vec<u8>>, SecretError> {
        keys.into_iter().map(|k| Ok((k.id.clone(), crate::secret::read_file(&k.secret_file)?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_and_repeated_ids_are_reported_with_their_index() {
        let keys = [KeyConfig::new("a", "/k"), KeyConfig::new("b c", "/k"), KeyConfig::new("a", "/k")];
        let mut p = Problems::default();
        KeyConfig::check_all(&keys, "keys", |id| !id.contains(' '), "no spaces", &mut p);
        let got: Vec<String> = p.list().iter().map(ToString::to_string).collect();
        assert_eq!(got, ["keys[1].id: \"b c\": no spaces", "keys[2].id: \"a\" is configured twice"]);
    }
}
