//! The outputs of the commands run in the master. Jindo is closed source: the parsers follow
//! the outputs Fluid's own tests capture (see `tests.rs` for the sources).

use crate::flavor::Flavor;
use fluid_plugin_api::types::MediumType;

/// The cache's capacity and use, in bytes, from the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// The cache's capacity.
    pub total: u64,
    /// What is cached.
    pub used: u64,
}

/// A size as Jindo prints it (`250.38GB`, `0B`, `10KB`), binary units as Fluid reads them
/// (`250.38GB` is 250.38 GiB).
pub fn jindo_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let exp = match unit.trim().to_ascii_uppercase().as_str() {
        "B" => 0,
        "K" | "KB" | "KIB" => 1,
        "M" | "MB" | "MIB" => 2,
        "G" | "GB" | "GIB" => 3,
        "T" | "TB" | "TIB" => 4,
        "P" | "PB" | "PIB" => 5,
        _ => return None,
    };
    Some((n * 1024f64.powi(exp)).round() as u64)
}

/// The capacity lines of the report for the cache's medium (JindoCache and JindoFSx print
/// memory and disk apart; the legacy engine one pair).
pub fn report(f: &Flavor, medium: MediumType, text: &str) -> Option<Capacity> {
    let (total_label, used_label) = f.capacity_lines[usize::from(medium != MediumType::Mem)];
    let find = |label: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(label))
            .and_then(jindo_size)
    };
    Some(Capacity {
        total: find(total_label)?,
        used: find(used_label)?,
    })
}

/// The paths of the mount table (`<tool> -mount` with no argument): the third field of each
/// line, as Fluid reads it.
pub fn mount_table(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
        .collect()
}

/// Files and bytes of a `-count` line (`<dirs> <files> <bytes> <path>`).
pub fn count(text: &str) -> Option<(u64, u64)> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.len() < 3 {
        return None;
    }
    Some((fields[1].parse().ok()?, fields[2].parse().ok()?))
}
