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

/// The value of a Kubernetes quantity (`100Gi`, `1.5G`, `512Mi`, `1e9`) in bytes, rounded up
/// as `Quantity.Value()` does; `None` when it does not parse.
pub fn quantity_bytes(q: &str) -> Option<u64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        s if s.starts_with(['e', 'E']) => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    let v = (number * factor).ceil();
    (v >= 0.0 && v.is_finite()).then_some(v as u64)
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

    #[test]
    fn quantities_read_like_kubernetes() {
        assert_eq!(quantity_bytes("1Gi"), Some(1 << 30));
        assert_eq!(quantity_bytes("1.5Gi"), Some(3 << 29));
        assert_eq!(quantity_bytes("500M"), Some(500_000_000));
        assert_eq!(quantity_bytes("1e3"), Some(1000));
        assert_eq!(quantity_bytes("100"), Some(100));
        assert_eq!(quantity_bytes("12x"), None);
    }
}
