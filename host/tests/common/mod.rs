//! Shared by the loader tests and the benchmark: real plugin libraries built from
//! `tests/fixtures`, and a scriptable host-services object.

#![allow(dead_code)] // each test binary uses a different part

pub mod apiserver;
pub mod controller;
pub mod objects;
pub mod procs;

use fluid_plugin_api::protocol::{HookRequest, ServiceErrorKind, ServiceFailure};
use fluid_plugin_api::ServiceHandler;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// The directory of the fixture and engine plugins' `.so` files: `FLUID_RS_PLUGINS_DIR` when
/// the caller built them already (scripts/test: the workspace's own debug build, so CI compiles
/// their dependencies once, not a second time in another target directory, and no link runs
/// beside the tests), or else built here once per test binary. A separate target directory
/// keeps this nested cargo off the outer build's lock.
pub fn fixtures_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) =
            std::env::var_os("FLUID_RS_PLUGINS_DIR").filter(|_| cfg!(debug_assertions))
        {
            return PathBuf::from(dir);
        }
        let root = workspace_root();
        let target = root.join("target").join("fixtures");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&root)
            .args(["build", "--quiet", "--target-dir"])
            .arg(&target);
        // Benchmarks (release profile) measure release-built plugins.
        let profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        if profile == "release" {
            cmd.arg("--release");
        }
        for f in [
            "alpha",
            "beta",
            "duplicate",
            "not-a-plugin",
            "major2",
            "impostor",
            "hang",
            "escape",
        ] {
            cmd.args(["-p", &format!("fluid-fixture-{f}")]);
        }
        cmd.args(["-p", "fluid-reference"]);
        cmd.args(["-p", "fluid-juicefs"]);
        cmd.args(["-p", "fluid-jindo"]);
        cmd.args(["-p", "fluid-alluxio"]);
        cmd.args(["-p", "fluid-goosefs"]);
        let status = cmd
            .status()
            .expect("running cargo to build the fixture plugins");
        assert!(status.success(), "building the fixture plugins failed");
        target.join(profile)
    })
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The path of a built fixture, e.g. `fixture("alpha")`.
pub fn fixture(name: &str) -> PathBuf {
    fixtures_dir().join(format!("libfluid_fixture_{}.so", name.replace('-', "_")))
}

/// The reference engine plugin (`plugins/reference`), built with the fixtures, or
/// `FLUID_RS_REFERENCE_PLUGIN` (with `FLUID_RS_CONTROLLER_BIN`, to run a test against an
/// earlier build and see it fail before a fix).
pub fn reference_plugin() -> PathBuf {
    match std::env::var_os("FLUID_RS_REFERENCE_PLUGIN") {
        Some(p) => PathBuf::from(p),
        None => fixtures_dir().join("libfluid_reference.so"),
    }
}

/// The JuiceFS engine plugin (`plugins/juicefs`), built with the fixtures.
pub fn juicefs_plugin() -> PathBuf {
    fixtures_dir().join("libfluid_juicefs.so")
}

/// The Jindo engine plugin (`plugins/jindo`), built with the fixtures.
pub fn jindo_plugin() -> PathBuf {
    fixtures_dir().join("libfluid_jindo.so")
}

/// The Alluxio engine plugin (`plugins/alluxio`), built with the fixtures.
pub fn alluxio_plugin() -> PathBuf {
    fixtures_dir().join("libfluid_alluxio.so")
}

/// The GooseFS engine plugin (`plugins/goosefs`), built with the fixtures.
pub fn goosefs_plugin() -> PathBuf {
    fixtures_dir().join("libfluid_goosefs.so")
}

/// Copies fixtures into a fresh plugin directory (as `name.so`), so tests can change modes.
pub fn plugin_dir(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in names {
        std::fs::copy(fixture(name), dir.path().join(format!("{name}.so"))).expect("copy fixture");
    }
    dir
}

/// A plugin directory with the reference engine, its CRDs installed in the test cluster.
pub fn reference_plugins() -> tempfile::TempDir {
    let dir = plugin_dir(&[]);
    std::fs::copy(reference_plugin(), dir.path().join("reference.so"))
        .expect("copy the reference plugin");
    controller::install_crds(dir.path());
    dir
}

/// A hook request for a runtime named `name` in namespace `ns`.
pub fn request(name: &str, input: Value) -> HookRequest {
    HookRequest {
        input,
        ..HookRequest::new(json!({
            "apiVersion": "fixtures.fluid.io/v1alpha1",
            "kind": "AlphaRuntime",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 1}
        }))
    }
}

/// Host services answering from an in-memory object map, recording every call.
#[derive(Default)]
pub struct RecordingServices {
    pub objects: Mutex<Vec<Value>>,
    pub calls: Mutex<Vec<(String, Value)>>,
    /// Services that answer "unsupported", as an older host would.
    pub unsupported: Vec<&'static str>,
    /// Services whose handler panics.
    pub panicking: Vec<&'static str>,
}

impl ServiceHandler for RecordingServices {
    fn call(&self, service: &str, request: &str) -> Result<String, ServiceFailure> {
        let req: Value = serde_json::from_str(request).map_err(|e| ServiceFailure {
            service: service.into(),
            kind: ServiceErrorKind::BadRequest,
            message: e.to_string(),
        })?;
        self.calls
            .lock()
            .expect("lock")
            .push((service.to_owned(), req.clone()));
        if self.panicking.contains(&service) {
            panic!("the test host was told to panic in {service}");
        }
        if self.unsupported.contains(&service) {
            return Err(ServiceFailure {
                service: service.into(),
                kind: ServiceErrorKind::Unsupported,
                message: format!("this host does not offer {service}"),
            });
        }
        let objects = self.objects.lock().expect("lock");
        let answer = match service {
            "get" => {
                let found = objects
                    .iter()
                    .find(|o| o["kind"] == req["kind"] && o["metadata"]["name"] == req["name"]);
                json!({"object": found.cloned().unwrap_or(Value::Null)})
            }
            "list" => {
                json!({"items": objects.iter().filter(|o| o["kind"] == req["kind"]).cloned().collect::<Vec<_>>()})
            }
            "event" | "log" => json!({}),
            other => {
                return Err(ServiceFailure {
                    service: other.into(),
                    kind: ServiceErrorKind::Unsupported,
                    message: format!("the test host does not serve {other}"),
                })
            }
        };
        Ok(answer.to_string())
    }
}

/// The chart engine the tests run on: `FLUID_CHART_ENGINE` (`resident` or `helm`), as the
/// controller reads it; resident when unset, as the controller's default.
pub fn chart_engine() -> fluid_host::services::ChartEngineKind {
    use clap::ValueEnum;
    let name = std::env::var("FLUID_CHART_ENGINE").unwrap_or_default();
    if name.is_empty() {
        return fluid_host::services::ChartEngineKind::Resident;
    }
    fluid_host::services::ChartEngineKind::from_str(&name, true)
        .unwrap_or_else(|e| panic!("FLUID_CHART_ENGINE={name}: {e}"))
}

/// Releases made as the controller makes them with [`chart_engine`]: a resident engine of
/// this test's own, or `helm` processes writing charts under `charts_dir`.
pub fn helm(charts_dir: &str) -> fluid_host::services::Helm {
    use fluid_host::services::{ChartEngineKind, Helm, ResidentEngine};
    use fluid_test_support::tool_path;
    match chart_engine() {
        ChartEngineKind::Helm => Helm::new(
            tool_path("helm").unwrap(),
            std::env::temp_dir().join(charts_dir),
        ),
        ChartEngineKind::Resident => Helm::resident(std::sync::Arc::new(ResidentEngine::new(
            tool_path("fluid-helm-engine").unwrap(),
        ))),
    }
}
