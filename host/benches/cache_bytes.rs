//! The heap a watch cache holds per object, decoded (k8s-openapi types, `DynamicObject`) and as
//! the caches keep it (`Stored`: JSON text and decoded metadata), for one JuiceFS runtime's
//! objects captured from the real node (`benches/data/cache-objects`, managedFields removed),
//! and the time a read's decoding costs. Counted by a counting global allocator; prints figures
//! and asserts nothing. `cargo bench -p fluid-host --bench cache_bytes`.

use fluid_host::controller::caches::Stored;
use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::DynamicObject;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, counting the bytes it hands out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The heap `make` leaves held by what it returns.
fn held<T>(make: impl FnOnce() -> T) -> (isize, T) {
    let before = LIVE.load(Ordering::Relaxed);
    let kept = make();
    (LIVE.load(Ordering::Relaxed) - before, kept)
}

/// One object's figures: bytes of JSON, decoded, stored; microseconds to decode a stored one.
fn row<K: DeserializeOwned>(file: &str) -> (usize, isize, isize) {
    let path = format!(
        "{}/benches/data/cache-objects/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // Compact, as the API server sends it; decoded from text, as the watch does.
    let object: Value = serde_json::from_str(&text).expect("JSON");
    let text = serde_json::to_string(&object).expect("JSON");
    let json = text.len();
    let (decoded, typed) = held(|| serde_json::from_str::<K>(&text).expect("decodes"));
    drop(typed);
    let (stored_bytes, stored) = held(|| serde_json::from_str::<Stored<K>>(&text).expect("stores"));
    let runs = 1000;
    let t = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(stored.decode().expect("decodes"));
    }
    let micros = t.elapsed().as_secs_f64() * 1e6 / f64::from(runs);
    println!(
        "{file:20} JSON {json:6} B   decoded {decoded:6} B   stored {stored_bytes:6} B   decode on read {micros:6.1} µs"
    );
    (json, decoded, stored_bytes)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    println!("heap held per cached object (one JuiceFS runtime's objects from the real node):");
    // (figures, whether the caches keep it stored; PVs and PVCs stay decoded: small, and the
    // volume decisions read them typed)
    let rows = [
        (row::<StatefulSet>("statefulset.json"), true),
        (row::<DaemonSet>("daemonset.json"), true),
        (row::<Pod>("pod.json"), true),
        (row::<PersistentVolume>("pv.json"), false),
        (row::<PersistentVolumeClaim>("pvc.json"), false),
        (row::<DynamicObject>("dataset.json"), true),
        (row::<DynamicObject>("juicefsruntime.json"), true),
    ];
    let json: usize = rows.iter().map(|((j, _, _), _)| j).sum();
    let decoded: isize = rows.iter().map(|((_, d, _), _)| d).sum();
    let cached: isize = rows
        .iter()
        .map(|((_, d, s), stored)| if *stored { s } else { d })
        .sum();
    println!(
        "per runtime, these seven: JSON {json} B; all decoded {decoded} B; as the caches keep them {cached} B"
    );
}
