//! What differs between the engines of the family: names. Alluxio and GooseFS (Tencent's fork)
//! run the same topology and the same commands under their own names.

/// The names one engine of the family uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flavor {
    /// The engine's name: in paths, labels and the plugin's records (`alluxio`).
    pub engine: &'static str,
    /// The command line tool inside the image (`alluxio`).
    pub cli: &'static str,
    /// The prefix of every property key, with its dot (`alluxio.`).
    pub property_prefix: &'static str,
    /// The prefix of the environment variables the image's scripts read (`ALLUXIO_`).
    pub env_prefix: &'static str,
    /// The installation directory inside the image (`/opt/alluxio`).
    pub home: &'static str,
    /// The default image and tag.
    pub image: &'static str,
    /// The default image tag.
    pub image_tag: &'static str,
    /// The default image and tag of the fuse clients when the engine ships them apart
    /// (GooseFS); `None`: the runtime's image.
    pub fuse_image: Option<(&'static str, &'static str)>,
    /// The fuse's file system type in `/proc/self/mountinfo` (`fuse.alluxio-fuse`).
    pub mount_type: &'static str,
    /// The package prefix of the engine's Java classes named in properties (`alluxio.`).
    pub class_prefix: &'static str,
    /// Fluid's property defaults for the engine, keys without the prefix
    /// ([`crate::transform::properties::ALLUXIO_DEFAULTS`]).
    pub defaults: &'static [(&'static str, &'static str)],
}

impl Flavor {
    /// Alluxio 2.9, the version the data-path test runs.
    pub const ALLUXIO: Flavor = Flavor {
        engine: "alluxio",
        cli: "alluxio",
        property_prefix: "alluxio.",
        env_prefix: "ALLUXIO_",
        home: "/opt/alluxio",
        image: "alluxio/alluxio",
        image_tag: "2.9.4",
        fuse_image: None,
        mount_type: "fuse.alluxio-fuse",
        class_prefix: "alluxio.",
        defaults: crate::transform::properties::ALLUXIO_DEFAULTS,
    };

    /// A property key of this engine: `key("master.rpc.port")` is `alluxio.master.rpc.port`.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.property_prefix)
    }

    /// An environment variable of this engine: `env("MASTER_JAVA_OPTS")`.
    pub fn env(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.env_prefix)
    }

    /// The labels' `app` value and the prefix of container names and roles.
    pub fn app(&self) -> &'static str {
        self.engine
    }

    /// The scale subresource's selector of the worker pods.
    pub fn worker_selector(&self, name: &str) -> String {
        format!(
            "app={},release={name},role={}-worker",
            self.app(),
            self.app()
        )
    }
}
