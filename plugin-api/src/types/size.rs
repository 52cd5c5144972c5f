//! Sizes as Fluid writes them in status fields (`ufsTotal`, cache states): `1.50GiB`.

/// Fluid's human-readable size of `bytes` (`512B`, `1.50GiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.2}{}", UNITS[unit])
    }
}

/// Reads back a size written by [`human_bytes`] (the Dataset's `ufsTotal`).
pub fn parse_human_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let exp = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        .iter()
        .position(|u| *u == unit)?;
    Some((n * 1024f64.powi(exp as i32)).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_trip() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536 * 1024 * 1024), "1.50GiB");
        assert_eq!(parse_human_bytes("1.50GiB"), Some(1536 * 1024 * 1024));
        assert_eq!(parse_human_bytes("[Calculating]"), None);
    }
}
