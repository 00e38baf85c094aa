//! Small formatting helpers shared by the pages.

use gatehouse_types::Millis;

/// `1.2 GB`, `340 kB`, `12 Bytes` (decimal units, as the Hub shows sizes).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} Bytes");
    }
    let mut v = bytes as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if v < 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

/// `2024-05-01 13:45 UTC`.
pub fn date(ms: Millis) -> String {
    let iso = gatehouse_core::time::iso8601(ms);
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

/// `2024-05-01 13:45 UTC` from an ISO 8601 string as the domain reports them.
pub fn iso_date(iso: &str) -> String {
    if iso.len() >= 16 {
        format!("{} {} UTC", &iso[..10], &iso[11..16])
    } else {
        iso.to_string()
    }
}

/// Percent-encodes one path segment for a URL (file names may hold spaces, `#`, `?`).
pub fn seg(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// Percent-encodes a path, keeping its slashes.
pub fn path(p: &str) -> String {
    p.split('/').map(seg).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(12), "12 Bytes");
        assert_eq!(size(1_500), "1.5 kB");
        assert_eq!(size(340_000), "340 kB");
        assert_eq!(size(1_200_000_000), "1.2 GB");
    }

    #[test]
    fn paths_are_encoded_per_segment() {
        assert_eq!(path("dir/a b#1.txt"), "dir/a%20b%231.txt");
        assert_eq!(seg("refs/pr/1"), "refs%2Fpr%2F1");
    }
}
