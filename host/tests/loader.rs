//! The loader against real plugin libraries built from `tests/fixtures`.

mod common;

use common::{fixture, plugin_dir, request, RecordingServices};
use fluid_host::plugins::Registry;
use fluid_plugin_api::loader::{CallError, LoadError, Plugin};
use fluid_plugin_api::protocol::{FailureKind, HookResponse};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn done(r: Result<HookResponse, CallError>) -> Value {
    match r {
        Ok(HookResponse::Done { output }) => output,
        other => panic!("expected a done answer, got {other:?}"),
    }
}

/// The names of the loaded plugins, in load order.
fn loaded_names(registry: &Registry) -> Vec<String> {
    registry
        .plugins()
        .iter()
        .map(|p| p.info().name.clone())
        .collect()
}

fn controller(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fluid-controller"))
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .expect("run fluid-controller");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn two_engines_load_side_by_side_and_answer_their_own_hooks() {
    let dir = plugin_dir(&["alpha", "beta"]);
    let registry = Registry::load_dir(dir.path()).unwrap();
    assert!(registry.refused().is_empty(), "{:?}", registry.refused());
    let names: Vec<_> = registry
        .plugins()
        .iter()
        .map(|p| p.info().name.as_str())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);

    let services = RecordingServices::default();
    let alpha = &registry.plugins()[0];
    let beta = &registry.plugins()[1];
    let out = done(alpha.call("transform", &request("a1", Value::Null), &services));
    assert_eq!(out["engine"], "alpha");
    assert_eq!(out["greeting"], "hello from alpha");
    assert_eq!(out["name"], "a1");
    let out = done(beta.call("transform", &request("b1", Value::Null), &services));
    assert_eq!(out, json!({"engine": "beta", "name": "b1"}));

    // What the engine does not implement is left to the host.
    let r = beta
        .call("validate", &request("b1", Value::Null), &services)
        .unwrap();
    assert_eq!(r, HookResponse::Default);
    // A hook name from a newer protocol is answered as unknown, not as an error.
    let r = beta
        .call(
            "hook_from_the_future",
            &request("b1", Value::Null),
            &services,
        )
        .unwrap();
    assert_eq!(r, HookResponse::UnknownHook);

    assert_eq!(alpha.info().runtime.kind, "AlphaRuntime");
    assert_eq!(beta.info().runtime.plural, "betaruntimes");
    assert_eq!(
        beta.chart().len(),
        std::fs::metadata(common::workspace_root().join("tests/fixtures/beta/chart.tgz"))
            .unwrap()
            .len() as usize
    );
    assert_eq!(
        alpha.crd().unwrap()["metadata"]["name"],
        "alpharuntimes.fixtures.fluid.io"
    );
}

#[test]
fn validation_reports_the_field() {
    let alpha = Plugin::open(&fixture("alpha")).unwrap();
    let mut req = request("a1", Value::Null);
    req.runtime["spec"]["replicas"] = json!(-1);
    let out = done(alpha.call("validate", &req, &RecordingServices::default()));
    assert_eq!(out["errors"][0]["field"], "spec.replicas");
}

#[test]
fn a_panicking_hook_is_an_error_naming_it_and_the_other_engines_keep_serving() {
    let dir = plugin_dir(&["alpha", "beta"]);
    let registry = Registry::load_dir(dir.path()).unwrap();
    let (alpha, beta) = (&registry.plugins()[0], &registry.plugins()[1]);
    let services = RecordingServices::default();

    let err = alpha
        .call(
            "setup_workers",
            &request("a1", json!({"fail": "panic"})),
            &services,
        )
        .unwrap_err();
    match err {
        CallError::Hook(f) => {
            assert_eq!(f.kind, FailureKind::Panicked);
            assert_eq!(f.hook, "setup_workers");
            assert!(
                f.message.contains("alpha was asked to panic"),
                "{}",
                f.message
            );
        }
        other => panic!("expected a hook failure, got {other:?}"),
    }
    let err = alpha
        .call(
            "setup_workers",
            &request("a1", json!({"fail": "error"})),
            &services,
        )
        .unwrap_err();
    assert!(
        matches!(&err, CallError::Hook(f) if f.kind == FailureKind::Failed),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "hook setup_workers failed: alpha was asked to fail"
    );

    // Both engines still answer, the one that panicked included.
    assert_eq!(
        done(beta.call("transform", &request("b1", Value::Null), &services))["engine"],
        "beta"
    );
    assert_eq!(
        done(alpha.call("transform", &request("a1", Value::Null), &services))["engine"],
        "alpha"
    );
    assert_eq!(
        alpha
            .call("setup_workers", &request("a1", Value::Null), &services)
            .unwrap(),
        HookResponse::Done {
            output: Value::Null
        }
    );
}

#[test]
fn a_hook_calls_back_into_the_host() {
    let alpha = Plugin::open(&fixture("alpha")).unwrap();
    let services = RecordingServices::default();
    let req = request("demo", Value::Null);

    assert_eq!(
        done(alpha.call("check_master_ready", &req, &services)),
        json!(false)
    );
    services.objects.lock().unwrap().push(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "demo", "namespace": "default"}, "data": {"ready": "true"}
    }));
    assert_eq!(
        done(alpha.call("check_master_ready", &req, &services)),
        json!(true)
    );
    let calls = services.calls.lock().unwrap().clone();
    assert_eq!(calls[0].0, "get");
    assert_eq!(
        calls[0].1,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "demo"})
    );
    assert_eq!(calls[1].0, "log");

    services.calls.lock().unwrap().clear();
    alpha.call("sync_runtime", &req, &services).unwrap();
    let calls = services.calls.lock().unwrap().clone();
    assert_eq!(
        calls[0],
        (
            "list".to_owned(),
            json!({"apiVersion": "v1", "kind": "Pod", "labelSelector": "app=alpha"})
        )
    );
    assert_eq!(
        calls[1],
        (
            "event".to_owned(),
            json!({"type": "Normal", "reason": "Synced", "message": "0 pods"})
        )
    );
}

#[test]
fn host_service_failures_reach_the_hook_as_errors() {
    let alpha = Plugin::open(&fixture("alpha")).unwrap();
    let req = request("demo", Value::Null);

    let older_host = RecordingServices {
        unsupported: vec!["get"],
        ..Default::default()
    };
    let err = alpha
        .call("check_master_ready", &req, &older_host)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("host service get failed (Unsupported)"),
        "{err}"
    );

    // A panic in the host's own service code is caught on the host's side of the boundary
    // and reaches the hook as an error; nothing aborts.
    let broken_host = RecordingServices {
        panicking: vec!["get"],
        ..Default::default()
    };
    let err = alpha
        .call("check_master_ready", &req, &broken_host)
        .unwrap_err();
    assert!(err.to_string().contains("(Panicked)"), "{err}");
    assert!(
        err.to_string()
            .contains("the test host was told to panic in get"),
        "{err}"
    );
}

fn refusal(dir: &Path, file: &str) -> LoadError {
    Plugin::open(&dir.join(file)).expect_err("the file must be refused")
}

#[test]
fn each_bad_file_is_refused_with_its_reason() {
    let dir = plugin_dir(&["alpha", "not-a-plugin", "major2"]);
    let p = dir.path();

    std::fs::copy(fixture("alpha"), p.join("writable.so")).unwrap();
    std::fs::set_permissions(
        p.join("writable.so"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let e = refusal(p, "writable.so");
    assert!(
        matches!(e, LoadError::WorldWritable { mode: 0o666, .. }),
        "{e}"
    );
    assert!(
        e.to_string().contains("writable.so: it is world-writable"),
        "{e}"
    );

    std::fs::write(p.join("notes.so"), "these are my notes, not a library\n").unwrap();
    let e = refusal(p, "notes.so");
    assert!(matches!(e, LoadError::NotSharedLibrary { .. }), "{e}");
    assert!(
        e.to_string().contains("notes.so: not a shared library"),
        "{e}"
    );

    // An ELF file that is not a shared object: dlopen itself refuses it.
    std::fs::copy(env!("CARGO_BIN_EXE_fluid-controller"), p.join("program.so")).unwrap();
    let e = refusal(p, "program.so");
    assert!(matches!(e, LoadError::NotSharedLibrary { .. }), "{e}");

    let e = refusal(p, "not-a-plugin.so");
    assert!(matches!(e, LoadError::NotAPlugin { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("not-a-plugin.so: not a fluid-rs plugin"),
        "{e}"
    );

    let e = refusal(p, "major2.so");
    assert!(matches!(e, LoadError::UnsupportedProtocol { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("major2.so: it speaks plugin protocol 2.0, this controller speaks 1.3"),
        "{e}"
    );

    assert!(Plugin::open(&p.join("alpha.so")).is_ok());
}

#[test]
fn a_directory_with_bad_files_loads_the_good_ones_and_logs_one_line_per_refusal() {
    let dir = plugin_dir(&["alpha", "beta", "duplicate", "major2", "not-a-plugin"]);
    let p = dir.path();
    std::fs::write(p.join("notes.so"), "text\n").unwrap();
    std::fs::write(p.join("README.md"), "not a candidate\n").unwrap();
    std::fs::copy(fixture("beta"), p.join("writable.so")).unwrap();
    std::fs::set_permissions(
        p.join("writable.so"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();

    let registry = Registry::load_dir(p).unwrap();
    let names = loaded_names(&registry);
    assert_eq!(names, ["alpha", "beta"]);
    let refused: Vec<_> = registry
        .refused()
        .iter()
        .map(|r| r.message.clone())
        .collect();
    assert_eq!(refused.len(), 5, "{refused:#?}");
    assert!(refused[0].contains("duplicate.so: runtime kind fixtures.fluid.io/v1alpha1 AlphaRuntime is already served by plugin alpha"), "{refused:#?}");

    let dir_arg = p.to_str().unwrap();
    let (ok, stdout, stderr) = controller(&["plugins", "list", "--plugin-dir", dir_arg]);
    assert!(!ok, "a refusal makes `plugins list` exit non-zero");
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(
        listed[0]["runtime"],
        json!({"group": "fixtures.fluid.io", "version": "v1alpha1", "kind": "AlphaRuntime", "plural": "alpharuntimes"})
    );
    assert_eq!(
        listed[0]["hooks"],
        json!([
            "validate",
            "transform",
            "check_master_ready",
            "sync_runtime",
            "setup_workers"
        ])
    );
    assert_eq!(listed[1]["pluginApiVersion"], fluid_plugin_api::API_VERSION);
    for file in [
        "duplicate.so",
        "major2.so",
        "not-a-plugin.so",
        "notes.so",
        "writable.so",
    ] {
        let lines: Vec<_> = stderr
            .lines()
            .filter(|l| l.contains(&format!("refusing plugin {dir_arg}/{file}")))
            .collect();
        assert_eq!(lines.len(), 1, "one log line for {file} in:\n{stderr}");
    }
    assert!(!stderr.contains("README.md"));
}

#[test]
fn plugins_in_subdirectories_load_as_image_volumes_deliver_them() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["alpha", "beta"] {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        std::fs::copy(
            fixture(name),
            dir.path().join(name).join(format!("lib{name}.so")),
        )
        .unwrap();
    }
    let registry = Registry::load_dir(dir.path()).unwrap();
    let names = loaded_names(&registry);
    assert_eq!(names, ["alpha", "beta"]);
}

#[test]
fn plugins_inspect_prints_json_or_the_reason() {
    let dir = plugin_dir(&["beta", "major2"]);
    let beta = dir.path().join("beta.so");
    let (ok, stdout, _) = controller(&["plugins", "inspect", beta.to_str().unwrap()]);
    assert!(ok);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["name"], "beta");
    assert_eq!(report["version"], "0.2.0");
    assert_eq!(report["hooks"], json!(["transform"]));

    let bad = dir.path().join("major2.so");
    let (ok, stdout, stderr) = controller(&["plugins", "inspect", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(stdout.is_empty());
    assert!(stderr.contains("it speaks plugin protocol 2.0"), "{stderr}");
}

#[test]
fn a_reader_that_stops_early_is_not_a_panic() {
    // `fluid-controller plugins list | head`: the reader has gone before the list is written.
    let dir = plugin_dir(&["alpha", "beta"]);
    for args in [
        vec!["plugins", "list", "--plugin-dir"],
        vec!["crds", "--plugin-dir"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_fluid-controller"))
            .args(&args)
            .arg(dir.path())
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !stderr.contains("panicked"),
            "{args:?}: {:?}\n{stderr}",
            out.status
        );
    }
}

/// Truncation points, in per mille of the file: a partial copy anywhere from the ELF header to
/// the last byte of the section headers.
const CUTS_PER_MILLE: &[u64] = &[
    1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 250, 300, 350, 400, 450, 500, 550, 600, 650, 700,
    750, 800, 850, 900, 950, 970, 990, 999,
];

/// A partial copy must be refused with its path, never crash the process: `dlopen` of a
/// truncated file maps segments past its end and dies of SIGBUS on first touch.
/// (Before the ELF check this test process died of SIGBUS, exit 135, at the first cut.)
#[test]
fn a_truncated_plugin_is_refused_at_every_cut_and_the_others_keep_loading() {
    let whole = std::fs::read(fixture("alpha")).unwrap();
    let dir = plugin_dir(&["beta"]);
    let cut_path = dir.path().join("alpha-cut.so");
    let size = whole.len() as u64;
    let mut cuts: Vec<u64> = CUTS_PER_MILLE.iter().map(|m| size * m / 1000).collect();
    cuts.push(size - 1);
    for len in cuts {
        std::fs::write(&cut_path, &whole[..len as usize]).unwrap();
        let e = Plugin::open(&cut_path).expect_err("a truncated file must be refused");
        assert_eq!(e.path(), cut_path, "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("refusing plugin {}: ", cut_path.display())),
            "cut at {len} of {size}: {e}"
        );
        assert!(
            matches!(e, LoadError::Damaged { .. }),
            "cut at {len} of {size}: {e}"
        );
    }

    // In a directory, the damaged file is one refusal; the whole one loads.
    std::fs::write(&cut_path, &whole[..whole.len() / 3]).unwrap();
    let registry = Registry::load_dir(dir.path()).unwrap();
    let names = loaded_names(&registry);
    assert_eq!(names, ["beta"]);
    assert_eq!(registry.refused().len(), 1);
    assert_eq!(registry.refused()[0].path, cut_path);
    assert!(
        registry.refused()[0].message.contains("truncated"),
        "{:?}",
        registry.refused()
    );
}

/// The chart's init containers copy plugins into an emptyDir, which is world-writable (0777):
/// a plugin directly in it is refused, one in a 0755 subdirectory (what the chart creates)
/// loads.
#[test]
fn plugins_in_a_directory_others_may_write_are_refused_naming_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path();
    std::fs::set_permissions(top, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::copy(fixture("alpha"), top.join("alpha.so")).unwrap();
    let sub = top.join("beta");
    std::fs::create_dir(&sub).unwrap();
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(fixture("beta"), sub.join("beta.so")).unwrap();

    let e = refusal(top, "alpha.so");
    assert!(
        matches!(&e, LoadError::UnsafeDirectory { dir, .. } if dir == top),
        "{e}"
    );
    assert!(
        e.to_string().contains(&format!(
            "alpha.so: its directory {} is world-writable (mode 777)",
            top.display()
        )),
        "{e}"
    );

    let registry = Registry::load_dir(top).unwrap();
    let names = loaded_names(&registry);
    assert_eq!(names, ["beta"]);
    assert_eq!(registry.refused().len(), 1, "{:?}", registry.refused());

    // A group-writable subdirectory or file is refused as well.
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o775)).unwrap();
    let e = refusal(&sub, "beta.so");
    assert!(
        e.to_string().contains("is group-writable (mode 775)"),
        "{e}"
    );
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(sub.join("beta.so"), std::fs::Permissions::from_mode(0o664)).unwrap();
    let e = refusal(&sub, "beta.so");
    assert!(
        matches!(e, LoadError::GroupWritable { mode: 0o664, .. }),
        "{e}"
    );
}

/// The engine name is the engine's identity (claims, finalizers, values): a second plugin
/// of one name is refused even when it serves another kind, naming both files.
/// (Before: both loaded, and the impostor adopted Datasets bound to the first.)
#[test]
fn a_second_engine_of_one_name_is_refused_naming_both_files() {
    let dir = plugin_dir(&["alpha", "impostor", "beta"]);
    let registry = Registry::load_dir(dir.path()).unwrap();
    assert_eq!(loaded_names(&registry), ["alpha", "beta"]);
    assert_eq!(registry.refused().len(), 1, "{:?}", registry.refused());
    assert_eq!(
        registry.refused()[0].message,
        format!(
            "refusing plugin {}: engine name alpha is already used by plugin file {}",
            dir.path().join("impostor.so").display(),
            dir.path().join("alpha.so").display()
        )
    );
}
