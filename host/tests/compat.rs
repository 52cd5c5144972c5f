//! Compatibility across minor versions of fluid-plugin-api, both directions, with real
//! libraries built from two versions of the interface. See `tests/compat/README.md`.

mod common;

use common::{fixture, request, workspace_root, RecordingServices};
use fluid_plugin_api::loader::Plugin;
use fluid_plugin_api::protocol::HookResponse;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// One addition that turns the current (1.3) source into the next minor (1.4): in `file`, insert `text` before (or
/// replace) the `anchor`.
struct Edit {
    file: &'static str,
    anchor: &'static str,
    replacement: &'static str,
}

/// The next minor: new hook `clean_cache`, new service `metrics`. Only additions; `abi.rs`
/// is untouched.
const NEXT_MINOR: &[Edit] = &[
    Edit {
        file: "Cargo.toml",
        anchor: "version = \"1.3.0\"\ndescription",
        replacement: "version = \"1.4.0\"\ndescription",
    },
    Edit {
        file: "src/protocol.rs",
        anchor: "pub const PROTOCOL_MINOR: u32 = 3;",
        replacement: "pub const PROTOCOL_MINOR: u32 = 4;",
    },
    Edit {
        file: "src/protocol.rs",
        anchor: "        Operate = \"operate\",\n",
        replacement: "        Operate = \"operate\",\n        /// Cleans the cache (1.4).\n        CleanCache = \"clean_cache\",\n",
    },
    Edit {
        file: "src/protocol.rs",
        anchor: "        Log = \"log\",\n",
        replacement: "        Log = \"log\",\n        /// Scrapes a pod's metrics endpoint (1.4).\n        Metrics = \"metrics\",\n",
    },
    Edit {
        file: "src/engine.rs",
        anchor: "    /// Says how to run a data operation",
        replacement: "    /// Cleans the cache (1.4).\n    fn clean_cache(&self, cx: &HookContext, host: &Host) -> HookResult<()> {\n        Ok(Outcome::Default)\n    }\n    /// Says how to run a data operation",
    },
    Edit {
        file: "src/export.rs",
        anchor: "        Hook::Operate => respond(h, engine.operate(cx, host)),\n",
        replacement: "        Hook::Operate => respond(h, engine.operate(cx, host)),\n        Hook::CleanCache => respond(h, engine.clean_cache(cx, host)),\n",
    },
    Edit {
        file: "src/host.rs",
        anchor: "/// The host side of the services:",
        replacement: "impl Host<'_> {\n    /// Scrapes a pod's metrics endpoint (1.4).\n    pub fn metrics(&self, pod: &str) -> Result<Value, HostError> {\n        self.call_raw(\"metrics\", &serde_json::json!({\"pod\": pod}))\n    }\n}\n\n/// The host side of the services:",
    },
];

struct Built {
    next_plugin: PathBuf,
    next_host: PathBuf,
}

/// Generates the 1.4 interface and builds the 1.4 plugin and host, once.
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = workspace_root();
        let work = root.join("target/compat/work");
        let _ = std::fs::remove_dir_all(&work);
        let api = work.join("fluid-plugin-api-next");
        common::copy_dir(&root.join("plugin-api"), &api);
        for edit in NEXT_MINOR {
            let file = api.join(edit.file);
            let text = std::fs::read_to_string(&file).unwrap();
            assert_eq!(
                text.matches(edit.anchor).count(),
                1,
                "the anchor {:?} must occur exactly once in plugin-api/{}",
                edit.anchor,
                edit.file
            );
            std::fs::write(&file, text.replacen(edit.anchor, edit.replacement, 1)).unwrap();
        }
        assert_eq!(
            std::fs::read(api.join("src/abi.rs")).unwrap(),
            std::fs::read(root.join("plugin-api/src/abi.rs")).unwrap(),
            "the binary interface must not change within a major"
        );
        common::copy_dir(&root.join("tests/compat/next-plugin"), &work.join("next-plugin"));
        common::copy_dir(&root.join("tests/compat/next-host"), &work.join("next-host"));
        // The same [workspace.package]/[workspace.dependencies] as ours, other members; and
        // our lock file, so the same dependency versions are used.
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let start = manifest.find("members = [").unwrap();
        let end = manifest[start..].find("\n]\n").unwrap() + start + 3;
        let manifest = format!(
            "{}members = [\"fluid-plugin-api-next\", \"fluid-plugin-api-next/macros\", \"next-plugin\", \"next-host\"]\n{}",
            &manifest[..start],
            &manifest[end..]
        )
        .replace("exclude = [\"tests/compat\"]\n", "");
        std::fs::write(work.join("Cargo.toml"), manifest).unwrap();
        std::fs::copy(root.join("Cargo.lock"), work.join("Cargo.lock")).unwrap();

        let target = root.join("target/compat/target");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(&work)
            .args(["build", "--quiet", "--target-dir"])
            .arg(&target)
            .status()
            .unwrap();
        assert!(status.success(), "building the 1.4 plugin and host failed");
        Built {
            next_plugin: target.join("debug/libfluid_compat_next_plugin.so"),
            next_host: target.join("debug/fluid-compat-next-host"),
        }
    })
}

fn next_host(plugin: &Path) -> Value {
    let out = Command::new(&built().next_host)
        .arg(plugin)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_1_3_plugin_works_in_a_1_4_host() {
    let report = next_host(&fixture("alpha"));
    assert_eq!(report["hostProtocol"], "1.4");
    assert_eq!(report["info"]["pluginApiVersion"], "1.3.0", "{report:#}");
    assert_eq!(report["info"]["protocol"], json!({"major": 1, "minor": 3}));
    let answers = &report["answers"];
    assert_eq!(answers["transform"]["outcome"], "done", "{report:#}");
    assert_eq!(answers["transform"]["output"]["engine"], "alpha");
    // Not implemented by alpha: the 1.4 host's default applies.
    assert_eq!(answers["setup_master"], json!({"outcome": "default"}));
    // A hook 1.3 has never heard of: the 1.4 host learns it must apply its default.
    assert_eq!(answers["clean_cache"], json!({"outcome": "unknown_hook"}));
}

#[test]
fn a_1_4_plugin_works_in_the_1_4_host_with_its_new_hook_and_service() {
    let report = next_host(&built().next_plugin);
    let answers = &report["answers"];
    assert_eq!(
        answers["clean_cache"],
        json!({"outcome": "done", "output": null}),
        "{report:#}"
    );
    assert_eq!(answers["transform"]["output"]["hostProtocol"], "1.4");
    assert_eq!(report["services"], json!(["metrics", "log"]));
}

#[test]
fn a_1_4_plugin_works_in_the_1_3_host_using_only_what_it_offers() {
    let plugin = Plugin::open(&built().next_plugin).expect("a 1.4 plugin loads into a 1.3 host");
    assert_eq!(plugin.info().plugin_api_version, "1.4.0");
    assert_eq!(plugin.info().protocol.minor, 4);
    assert_eq!(
        plugin.info().hooks,
        ["transform", "setup_master", "clean_cache"]
    );

    // The workspace's services answer `metrics` with "unsupported", as every 1.3 host does.
    let services = RecordingServices::default();
    let answer = plugin
        .call("transform", &request("demo", Value::Null), &services)
        .unwrap();
    assert_eq!(
        answer,
        HookResponse::Done {
            output: json!({"engine": "gamma", "hostProtocol": "1.3"})
        }
    );
    let answer = plugin
        .call("setup_master", &request("demo", Value::Null), &services)
        .unwrap();
    assert_eq!(
        answer,
        HookResponse::Done {
            output: Value::Null
        }
    );
    let called: Vec<String> = services
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.0.clone())
        .collect();
    assert_eq!(called, ["metrics", "get", "log"]);

    // And the controller binary itself lists it.
    let out = Command::new(env!("CARGO_BIN_EXE_fluid-controller"))
        .args(["plugins", "inspect"])
        .arg(&built().next_plugin)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["protocol"], "1.4");
    assert_eq!(report["runtime"]["kind"], "GammaRuntime");
}
