//! The shell the engine runs in pods, run against a real JuiceFS mount (juicefs from
//! `scripts/install-test-deps`, SQLite metadata, a local directory as object storage): the
//! background metadata job and the cache layout the shutdown clean-up relies on. Skipped,
//! with a message, when the client or FUSE is missing.

mod common;

use common::{juicefs, why_not};
use fluid_juicefs::{parse, status};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_metadata_job_and_the_cache_layout_on_a_real_mount() {
    if let Some(why) = why_not() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let jfs = juicefs().unwrap();
    let work = tempfile::Builder::new()
        .prefix("jfs-rm-")
        .tempdir_in("/tmp")
        .unwrap();
    let w = work.path();
    let meta = format!("sqlite3://{}/meta.db", w.display());
    let ok = Command::new(&jfs)
        .args(["format", "--storage", "file", "--bucket"])
        .arg(format!("{}/bucket/", w.display()))
        .args([&meta, "realmount"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let mnt = w.join("mnt");
    let cache = w.join("cache");
    std::fs::create_dir_all(&mnt).unwrap();
    let mut child = Command::new(&jfs)
        .args(["mount", "--cache-dir"])
        .arg(&cache)
        .args(["--no-usage-report", &meta])
        .arg(&mnt)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !Command::new("mountpoint")
        .arg("-q")
        .arg(&mnt)
        .status()
        .unwrap()
        .success()
    {
        assert!(start.elapsed() < Duration::from_secs(30), "not mounted");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::create_dir_all(mnt.join("d")).unwrap();
    std::fs::write(mnt.join("d/a"), vec![7u8; 1 << 20]).unwrap();
    std::fs::write(mnt.join("b"), b"bee").unwrap();
    Command::new("sync").status().unwrap();

    // The job: first call starts it in the background (exit 3), a later one has the result.
    let job = status::metadata_job(mnt.to_str().unwrap())
        .replace("/tmp/fluid-rs-metadata", &format!("{}/md", w.display()));
    let run = || Command::new("sh").args(["-c", &job]).output().unwrap();
    let first = run();
    assert_eq!(first.status.code(), Some(3), "{first:?}");
    let start = Instant::now();
    let (used, files) = loop {
        let o = run();
        if o.status.code() == Some(0) {
            break parse::metadata(&String::from_utf8_lossy(&o.stdout)).unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{o:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        files, 2,
        "the virtual .stats/.config/.accesslog/.trash are not counted"
    );
    assert!(used >= 1 << 20, "{used}");

    // The shutdown clean-up's path: <cache-dir>/<UUID from juicefs status>/raw/chunks.
    let out = Command::new(&jfs).args(["status", &meta]).output().unwrap();
    let uuid = parse::status_uuid(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let chunks = status::cache_chunk_dirs(&[cache.to_str().unwrap().to_owned()], &uuid);
    assert!(
        Path::new(&chunks[0]).is_dir(),
        "{} is not the cache's chunk directory",
        chunks[0]
    );

    let _ = Command::new("umount").arg(&mnt).status();
    let _ = child.wait();
}
