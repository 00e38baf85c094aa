//! Small helpers shared by the aggregates: the integer encodings of booleans and sizes, and `LIKE`
//! escaping.

use crate::error::{StoreError, StoreResult};

pub(crate) fn flag(b: bool) -> i64 {
    i64::from(b)
}

pub(crate) fn is_set(v: i64) -> bool {
    v != 0
}

/// Sizes and offsets are `u64` in the API and `BIGINT` in the database.
pub(crate) fn to_db_u64(v: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} does not fit a signed 64-bit column")))
}

pub(crate) fn from_db_u64(v: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {what} {v}")))
}

/// An offset past every row returns nothing whatever its size, so saturating is exact.
pub(crate) fn offset_param(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

/// A `LIKE … ESCAPE '\'` pattern matching `needle` as a literal substring.
pub(crate) fn contains_pattern(needle: &str) -> String {
    format!("%{}", prefix_pattern(needle))
}

/// A `LIKE … ESCAPE '\\'` pattern matching text that starts with `needle`.
pub(crate) fn prefix_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 1);
    for c in needle.chars() {
        if matches!(c, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Names are ASCII (validated at the edge); ASCII folding keeps lookups identical on both backends
/// (full Unicode folding would, e.g., turn the Kelvin sign into `k`).
pub(crate) fn fold(s: &str) -> String {
    s.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("a_b%c\\d"), "%a\\_b\\%c\\\\d%");
        assert_eq!(prefix_pattern("a_%"), "a\\_\\%%");
        assert_eq!(contains_pattern(""), "%%");
    }
}
