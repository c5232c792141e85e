//! The table prefix: the one piece of SQL text taken from configuration.

use std::fmt;

use horae::error::StoreError;

/// The prefix used unless configured otherwise (tables `horae_jobs`, `horae_tasks`, ...).
pub const DEFAULT_PREFIX: &str = "horae_";

/// A validated table-name prefix: 0–32 ASCII letters, digits and underscores, not starting
/// with a digit — safe to splice into SQL without quoting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePrefix(String);

impl TablePrefix {
    /// Validates a prefix.
    ///
    /// # Errors
    ///
    /// [`StoreError::Invalid`] naming the rule the prefix breaks.
    pub fn new(prefix: impl Into<String>) -> Result<TablePrefix, StoreError> {
        let prefix = prefix.into();
        let valid = prefix.len() <= 32
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !prefix.starts_with(|c: char| c.is_ascii_digit());
        if valid {
            Ok(TablePrefix(prefix))
        } else {
            Err(StoreError::Invalid(format!(
                "table prefix {prefix:?}: use at most 32 ASCII letters, digits and underscores, not starting with a digit"
            )))
        }
    }

    /// The prefix text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `sql` with every `{p}` replaced by the prefix.
    pub(crate) fn apply(&self, sql: &str) -> String {
        sql.replace("{p}", &self.0)
    }
}

impl Default for TablePrefix {
    fn default() -> TablePrefix {
        TablePrefix(DEFAULT_PREFIX.to_owned())
    }
}

impl fmt::Display for TablePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_identifier_characters_are_accepted() {
        for ok in ["", "horae_", "t1_", "A_b"] {
            assert_eq!(TablePrefix::new(ok).map(|p| p.0), Ok(ok.to_owned()));
        }
        for bad in ["1x", "a-b", "a;drop table x;", "x'", "é", &"x".repeat(33)] {
            assert!(TablePrefix::new(bad).is_err(), "{bad:?} accepted");
        }
    }
}
