//! The three engines behind `JindoRuntime`, chosen as Fluid chooses them: by the controller's
//! `JINDO_ENGINE_TYPE` (`jindocache`, the default; `jindofsx`; `jindo`, the legacy JindoFS).
//! They run the same topology (namespace service, storage service, fuse) and differ in names,
//! images, the client's property keys, and how the under file systems are attached.

/// How an engine attaches the Dataset's mounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// By a command in the master (`<cli...> -mount /<name> <ufs>`): JindoCache, JindoFSx.
    MountCommand,
    /// By the namespace's properties (`jfs.namespaces.jindo.<scheme>.uri`): legacy JindoFS.
    NamespaceProperties,
}

/// The names and defaults of one engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flavor {
    /// `JINDO_ENGINE_TYPE`'s value for it.
    pub engine_type: &'static str,
    /// The configuration file the image reads (`/jindocache.cfg`), also its ConfigMap key.
    pub config_file: &'static str,
    /// Its sections: shared by every role, the namespace service's, the storage service's.
    pub common_section: &'static str,
    /// The namespace service's section.
    pub namespace_section: &'static str,
    /// The storage service's section.
    pub storage_section: &'static str,
    /// The client's section in the same file (legacy JindoFS), if any.
    pub client_section: Option<&'static str>,
    /// The prefix of the client's own property keys (`fs.jindocache.`).
    pub client_prefix: &'static str,
    /// The prefix of the per-store keys of the common section (`jindocache.`).
    pub store_prefix: &'static str,
    /// The command line tool and its first words (`jindocache`, `jindo admin`).
    pub admin: &'static [&'static str],
    /// The tool's words for the report (`jindocache -report`).
    pub report: &'static [&'static str],
    /// The tool's words to drop the cache at shutdown.
    pub format_cache: &'static [&'static str],
    /// How mounts are attached.
    pub attach: Attach,
    /// The last directory of each cache path (`<dir>/<ns>/<name>/<leaf>`).
    pub cache_leaf: &'static str,
    /// The default image of the masters and workers and its tag (`smartdata`).
    pub image: &'static str,
    /// The default tag.
    pub image_tag: &'static str,
    /// The default fuse image (`jindo-fuse`).
    pub fuse_image: &'static str,
    /// The default fuse tag.
    pub fuse_image_tag: &'static str,
    /// The report's capacity lines: total then used, for a memory tier and for a disk tier.
    pub capacity_lines: [(&'static str, &'static str); 2],
}

const SMARTDATA: &str = "registry.cn-shanghai.aliyuncs.com/jindofs/smartdata";
const JINDO_FUSE: &str = "registry.cn-shanghai.aliyuncs.com/jindofs/jindo-fuse";
const MEM_LINES: (&str, &str) = ("Total MEM Capacity: ", "Used MEM Capacity: ");
const DISK_LINES: (&str, &str) = ("Total Disk Capacity: ", "Used Disk Capacity: ");

impl Flavor {
    /// JindoCache (Fluid's default since 1.0; `pkg/ddc/jindocache`, `charts/jindocache`).
    pub const JINDOCACHE: Flavor = Flavor {
        engine_type: "jindocache",
        config_file: "jindocache.cfg",
        common_section: "jindocache-common",
        namespace_section: "jindocache-server",
        storage_section: "jindocache-worker",
        client_section: None,
        client_prefix: "fs.jindocache.",
        store_prefix: "jindocache.",
        admin: &["jindocache"],
        report: &["jindocache", "-report"],
        format_cache: &["jindocache", "-formatCache"],
        attach: Attach::MountCommand,
        cache_leaf: "jindocache",
        image: SMARTDATA,
        image_tag: "6.2.0",
        fuse_image: JINDO_FUSE,
        fuse_image_tag: "6.2.0",
        capacity_lines: [MEM_LINES, DISK_LINES],
    };

    /// JindoFSx (`pkg/ddc/jindofsx`, `charts/jindofsx`).
    pub const JINDOFSX: Flavor = Flavor {
        engine_type: "jindofsx",
        config_file: "jindofsx.cfg",
        common_section: "jindofsx-common",
        namespace_section: "jindofsx-namespace",
        storage_section: "jindofsx-storage",
        client_section: None,
        client_prefix: "fs.jindofsx.",
        store_prefix: "jindofsx.",
        admin: &["jindo", "admin"],
        report: &["jindo", "fs", "-report"],
        format_cache: &["jindo", "fs", "-formatCache", "-force"],
        attach: Attach::MountCommand,
        cache_leaf: "jindofsx",
        image: SMARTDATA,
        image_tag: "4.6.8",
        fuse_image: JINDO_FUSE,
        fuse_image_tag: "4.6.8",
        capacity_lines: [MEM_LINES, DISK_LINES],
    };

    /// The legacy JindoFS (`pkg/ddc/jindo`, `charts/jindofs`).
    pub const JINDO: Flavor = Flavor {
        engine_type: "jindo",
        config_file: "bigboot.cfg",
        common_section: "bigboot",
        namespace_section: "bigboot-namespace",
        storage_section: "bigboot-storage",
        client_section: Some("bigboot-client"),
        client_prefix: "client.",
        store_prefix: "jfs.",
        admin: &["jindo", "jfs"],
        report: &["/sdk/bin/jindo", "jfs", "-report"],
        format_cache: &["jindo", "jfs", "-formatCache", "-force"],
        attach: Attach::NamespaceProperties,
        cache_leaf: "bigboot",
        image: SMARTDATA,
        image_tag: "3.8.0",
        fuse_image: JINDO_FUSE,
        fuse_image_tag: "3.8.0",
        capacity_lines: [("Total Capacity: ", "Used Capacity: "); 2],
    };

    /// The engine `JINDO_ENGINE_TYPE` names, as Fluid reads it: unset or empty is JindoCache;
    /// an unknown name is an error naming it.
    pub fn from_engine_type(value: Option<&str>) -> Result<Flavor, String> {
        match value.map(str::trim).unwrap_or_default() {
            "" | "jindocache" => Ok(Flavor::JINDOCACHE),
            "jindofsx" => Ok(Flavor::JINDOFSX),
            "jindo" => Ok(Flavor::JINDO),
            other => Err(format!(
                "JINDO_ENGINE_TYPE={other:?}: expected jindocache, jindofsx or jindo"
            )),
        }
    }

    /// The engine the controller's environment selects.
    pub fn from_env() -> Result<Flavor, String> {
        Flavor::from_engine_type(std::env::var("JINDO_ENGINE_TYPE").ok().as_deref())
    }

    /// A command line of the tool: `command(&["-mount"])` is `jindocache -mount`.
    pub fn command(&self, args: &[&str]) -> Vec<String> {
        self.admin
            .iter()
            .chain(args)
            .map(|s| (*s).to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_type_selects_the_flavour_as_fluid_does() {
        assert_eq!(Flavor::from_engine_type(None), Ok(Flavor::JINDOCACHE));
        assert_eq!(Flavor::from_engine_type(Some("")), Ok(Flavor::JINDOCACHE));
        assert_eq!(
            Flavor::from_engine_type(Some("jindofsx")),
            Ok(Flavor::JINDOFSX)
        );
        assert_eq!(Flavor::from_engine_type(Some("jindo")), Ok(Flavor::JINDO));
        let e = Flavor::from_engine_type(Some("jindofs")).unwrap_err();
        assert!(e.contains("\"jindofs\""), "{e}");
        assert_eq!(
            Flavor::JINDOFSX.command(&["-mount", "/a", "oss://b/"]),
            ["jindo", "admin", "-mount", "/a", "oss://b/"]
        );
    }
}
