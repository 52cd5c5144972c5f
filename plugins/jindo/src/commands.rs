//! The command lines the engine runs in the master by exec, per flavour, and the decisions
//! around them. Pure: the hooks run them (`crate::engine`).

use crate::flavor::Flavor;

/// The namespace service's report (`jindocache -report`, `jindo fs -report`,
/// `/sdk/bin/jindo jfs -report`): it answers once the master serves.
pub fn report(f: &Flavor) -> Vec<String> {
    f.report.iter().map(|s| (*s).to_owned()).collect()
}

/// The mount table (`jindocache -mount`, `jindo admin -mount`).
pub fn mount_table(f: &Flavor) -> Vec<String> {
    f.command(&["-mount"])
}

/// Attaches `uri` at `path` (`jindocache -mount /<name> oss://bucket/dir/`).
pub fn mount(f: &Flavor, path: &str, uri: &str) -> Vec<String> {
    f.command(&["-mount", path, uri])
}

/// JindoCache reloads its cache sets (`jindocache -refreshCacheSet -path /cacheset.xml`).
pub fn refresh_cache_sets(f: &Flavor) -> Vec<String> {
    f.command(&["-refreshCacheSet", "-path", "/cacheset.xml"])
}

/// The size of a mount in the namespace (`jindo fs -count jindo:///<path>`; JindoFSx and the
/// legacy engine count through Hadoop's shell).
pub fn count(f: &Flavor, path: &str) -> Vec<String> {
    let url = match f.engine_type {
        "jindo" => format!("jfs://jindo{path}"),
        _ => format!("jindo://{path}"),
    };
    let tool: &[&str] = match f.engine_type {
        "jindocache" => &["jindo", "fs", "-count"],
        _ => &["hadoop", "fs", "-count"],
    };
    tool.iter().map(|s| (*s).to_owned()).chain([url]).collect()
}

/// Drops the cache (the shutdown's clean-up).
pub fn format_cache(f: &Flavor) -> Vec<String> {
    f.format_cache.iter().map(|s| (*s).to_owned()).collect()
}

/// The mounts of `wanted` (path, URI) that the mount table (paths attached) lacks. Jindo
/// answers "Mount point already exists" to a second mount, so attaching is idempotent anyway;
/// this spares the exec.
pub fn missing<'a>(
    wanted: &'a [(String, String)],
    attached: &[String],
) -> Vec<&'a (String, String)> {
    wanted
        .iter()
        .filter(|(path, _)| {
            !attached
                .iter()
                .any(|a| a.trim_end_matches('/') == path.trim_end_matches('/'))
        })
        .collect()
}

/// Whether a failed mount's output says the mount exists already (Fluid treats that as done).
pub fn already_mounted(stdout: &str) -> bool {
    stdout.contains("Mount point already exists")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flavour_has_its_command_lines() {
        assert_eq!(report(&Flavor::JINDOCACHE), ["jindocache", "-report"]);
        assert_eq!(report(&Flavor::JINDOFSX), ["jindo", "fs", "-report"]);
        assert_eq!(report(&Flavor::JINDO), ["/sdk/bin/jindo", "jfs", "-report"]);
        assert_eq!(
            mount(&Flavor::JINDOCACHE, "/demo", "oss://b/d/"),
            ["jindocache", "-mount", "/demo", "oss://b/d/"]
        );
        assert_eq!(mount_table(&Flavor::JINDOFSX), ["jindo", "admin", "-mount"]);
        assert_eq!(
            count(&Flavor::JINDOCACHE, "/demo"),
            ["jindo", "fs", "-count", "jindo:///demo"]
        );
        assert_eq!(
            count(&Flavor::JINDO, "/"),
            ["hadoop", "fs", "-count", "jfs://jindo/"]
        );
        assert_eq!(
            format_cache(&Flavor::JINDOCACHE),
            ["jindocache", "-formatCache"]
        );
    }

    #[test]
    fn only_missing_mounts_are_attached() {
        let wanted = vec![
            ("/a".to_owned(), "oss://a/".to_owned()),
            ("/b".to_owned(), "s3://b/".to_owned()),
        ];
        let m = missing(&wanted, &["/a/".to_owned()]);
        assert_eq!(m, [&wanted[1]]);
        assert!(already_mounted("ERROR: Mount point already exists: /a"));
    }
}
