//! Packs a Helm chart directory into a gzipped tarball, from a plugin's `build.rs`, so the
//! chart travels inside the plugin library:
//!
//! ```ignore
//! // build.rs
//! fn main() {
//!     fluid_plugin_chart::pack_into_out_dir("../../charts/myengine", "chart.tgz").unwrap();
//! }
//! // lib.rs: chart: include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz")),
//! ```
//!
//! The archive is reproducible: entries in name order, fixed times and modes.

#![warn(missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// Packs `chart_dir` (which holds `Chart.yaml`) as `<dir name>/...` into gzipped tar bytes.
pub fn pack(chart_dir: &Path) -> std::io::Result<Vec<u8>> {
    let name = chart_dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            std::io::Error::other(format!("{} has no directory name", chart_dir.display()))
        })?
        .to_owned();
    if !chart_dir.join("Chart.yaml").is_file() {
        return Err(std::io::Error::other(format!(
            "{} has no Chart.yaml",
            chart_dir.display()
        )));
    }
    let mut files = Vec::new();
    collect(chart_dir, &mut files)?;
    files.sort();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    for file in files {
        let rel = file
            .strip_prefix(chart_dir)
            .map_err(std::io::Error::other)?;
        let data = std::fs::read(&file)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, Path::new(&name).join(rel), data.as_slice())?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// For `build.rs`: packs `chart_dir` (relative to the crate) into `$OUT_DIR/<file_name>` and
/// asks cargo to rebuild when the chart changes.
pub fn pack_into_out_dir(chart_dir: impl AsRef<Path>, file_name: &str) -> std::io::Result<()> {
    let dir = chart_dir.as_ref();
    println!("cargo:rerun-if-changed={}", dir.display());
    let bytes = pack(dir)?;
    let out = std::env::var_os("OUT_DIR")
        .ok_or_else(|| std::io::Error::other("OUT_DIR is not set: call this from build.rs"))?;
    std::fs::write(Path::new(&out).join(file_name), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_is_reproducible_and_rooted_at_the_chart_name() {
        let dir = std::env::temp_dir().join(format!("fluid-chart-test-{}", std::process::id()));
        let chart = dir.join("demo");
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(
            chart.join("Chart.yaml"),
            "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
        )
        .unwrap();
        std::fs::write(chart.join("templates/cm.yaml"), "kind: ConfigMap\n").unwrap();
        let a = pack(&chart).unwrap();
        let b = pack(&chart).unwrap();
        assert_eq!(a, b);
        let mut names: Vec<String> = tar::Archive::new(flate2::read::GzDecoder::new(a.as_slice()))
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["demo/Chart.yaml", "demo/templates/cm.yaml"]);
        assert!(
            pack(&dir).is_err(),
            "a directory without Chart.yaml is refused"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
