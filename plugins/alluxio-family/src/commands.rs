//! The command lines the engine runs in the master by exec, and the decisions around them.
//! Pure: the hooks run them (`crate::engine`), the data-path test runs the same lines against
//! a real Alluxio.

use crate::flavor::Flavor;
use crate::parse::MountEntry;
use crate::transform::ufs::UfsMount;

fn cli(f: &Flavor, args: &[&str]) -> Vec<String> {
    std::iter::once(f.cli)
        .chain(args.iter().copied())
        .map(str::to_owned)
        .collect()
}

/// `<cli> fsadmin report summary`: the master answers once it serves (capacity, workers).
pub fn report_summary(f: &Flavor) -> Vec<String> {
    cli(f, &["fsadmin", "report", "summary"])
}

/// `<cli> fsadmin report metrics`: the cluster's read counters (hit ratios).
pub fn report_metrics(f: &Flavor) -> Vec<String> {
    cli(f, &["fsadmin", "report", "metrics"])
}

/// `<cli> fs mount`: the mount table.
pub fn mount_table(f: &Flavor) -> Vec<String> {
    cli(f, &["fs", "mount"])
}

/// `<cli> fs unmount <path>`.
pub fn unmount(f: &Flavor, path: &str) -> Vec<String> {
    cli(f, &["fs", "unmount", path])
}

/// `<cli> fs free -f /`: drops every cached block (the shutdown's clean-up).
pub fn free(f: &Flavor) -> Vec<String> {
    cli(f, &["fs", "free", "-f", "/"])
}

/// `<cli> fs count /`: files, folders and bytes under the root (after metadata is loaded).
pub fn count(f: &Flavor) -> Vec<String> {
    cli(f, &["fs", "count", "/"])
}

/// `<cli> fs loadMetadata -R /`.
pub fn load_metadata(f: &Flavor) -> Vec<String> {
    cli(f, &["fs", "loadMetadata", "-R", "/"])
}

/// `<cli> fs ls <path>`: fails when the path does not exist (a DataLoad checks its targets).
pub fn list(f: &Flavor, path: &str) -> Vec<String> {
    cli(f, &["fs", "ls", path])
}

/// `<cli> fs -D<p>.user.file.metadata.sync.interval=0 ls -R <path>`: loads the metadata of
/// everything under `path` from the UFS, also of files added since the last listing (a
/// DataLoad's `loadMetadata`; `distributedLoad` itself does not pick up new files since
/// Alluxio 2.8, so Fluid lists first).
pub fn list_synced(f: &Flavor, path: &str) -> Vec<String> {
    let sync = format!("-D{}=0", f.key("user.file.metadata.sync.interval"));
    cli(f, &["fs", &sync, "ls", "-R", path])
}

/// `<cli> fs setReplication --max <n> -R <path>`: at most `n` cached copies of each block.
pub fn set_replication(f: &Flavor, path: &str, replicas: u32) -> Vec<String> {
    let n = replicas.to_string();
    cli(f, &["fs", "setReplication", "--max", &n, "-R", path])
}

/// `<cli> fs distributedLoad --replication <n> <path>`: the job service loads every block
/// under `path` into `n` workers and waits for the job to end.
pub fn distributed_load(f: &Flavor, path: &str, replicas: u32) -> Vec<String> {
    let n = replicas.to_string();
    cli(f, &["fs", "distributedLoad", "--replication", &n, path])
}

/// `<cli> fs`: the shell's usage, which lists its commands (whether `distributedLoad` is one).
pub fn fs_usage(f: &Flavor) -> Vec<String> {
    cli(f, &["fs"])
}

/// `<cli> fs load <path> --submit`: Alluxio 2.9.4 and later (no `distributedLoad`) load
/// through a job of the master; this submits it and returns.
pub fn load_submit(f: &Flavor, path: &str) -> Vec<String> {
    cli(f, &["fs", "load", path, "--submit"])
}

/// `<cli> fs load <path> --progress`: the state of that job (`Job State: SUCCEEDED`, ...).
pub fn load_progress(f: &Flavor, path: &str) -> Vec<String> {
    cli(f, &["fs", "load", path, "--progress"])
}

/// `<cli> fsadmin backup <dir> --local`: the leading master writes a backup of its journal
/// (the file system's metadata) into `dir` on its own file system and prints its
/// `Backup URI`.
pub fn backup(f: &Flavor, dir: &str) -> Vec<String> {
    cli(f, &["fsadmin", "backup", dir, "--local"])
}

/// A command line as one line of a script.
pub fn sh_line(words: &[String]) -> String {
    words
        .iter()
        .map(|w| sh_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes a word for `sh`.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `<cli> fs mount [--readonly] [--shared] [--option k=v]... <path> <ufs>`. With options read
/// from Secret files, a `sh -c` line that reads them in the master (`"$(cat <file>)"`), so the
/// values never leave the pod.
pub fn mount(f: &Flavor, m: &UfsMount) -> Vec<String> {
    let mut args = vec!["fs".to_owned(), "mount".to_owned()];
    if m.read_only {
        args.push("--readonly".into());
    }
    if m.shared {
        args.push("--shared".into());
    }
    for (k, v) in &m.options {
        args.push("--option".into());
        args.push(format!("{k}={v}"));
    }
    if m.secret_options.is_empty() {
        args.push(m.path.clone());
        args.push(m.ufs.clone());
        return std::iter::once(f.cli.to_owned()).chain(args).collect();
    }
    let mut line: Vec<String> = std::iter::once(format!("exec {}", f.cli))
        .chain(args.iter().map(|a| sh_quote(a)))
        .collect();
    for s in &m.secret_options {
        line.push("--option".into());
        line.push(format!(
            "{}=\"$(cat {})\"",
            sh_quote(&s.name),
            sh_quote(&s.path)
        ));
    }
    line.push(sh_quote(&m.path));
    line.push(sh_quote(&m.ufs));
    vec!["sh".into(), "-c".into(), line.join(" ")]
}

/// What to change so the mount table holds the wanted mounts: paths to unmount (mounted, not
/// wanted, or wanted from another UFS), then mounts to make. The root (`/`) is the master's
/// own and never touched.
pub fn mount_actions<'a>(
    wanted: &'a [UfsMount],
    table: &[MountEntry],
) -> (Vec<String>, Vec<&'a UfsMount>) {
    let mut unmount = vec![];
    for e in table.iter().filter(|e| e.path != "/") {
        let keep = wanted
            .iter()
            .any(|w| w.path == e.path && w.ufs == e.ufs && w.read_only == e.read_only);
        if !keep {
            unmount.push(e.path.clone());
        }
    }
    let mount = wanted
        .iter()
        .filter(|w| {
            !table
                .iter()
                .any(|e| e.path == w.path && !unmount.contains(&e.path))
        })
        .collect();
    (unmount, mount)
}

/// Where the metadata job keeps its state in the master (`.started`, `.out`).
pub const METADATA_STATE: &str = "/tmp/fluid-rs-metadata";

/// The shell job computing the UFS size and file count in the master, in the background: the
/// first call starts it (`loadMetadata -R /`, then `count /`) and answers exit code 3
/// ("calculating"); once it finished, calls print the count with exit code 0. A failed job is
/// forgotten so that the next call starts it again. Nothing waits on it. `state` is the
/// prefix of its files ([`METADATA_STATE`] in the master).
pub fn metadata_job(f: &Flavor, state: &str) -> Vec<String> {
    let q = |v: Vec<String>| sh_line(&v);
    let script = format!(
        "R={state}; \
         if [ -s $R.out ]; then cat $R.out; exit 0; fi; \
         if [ ! -e $R.started ]; then touch $R.started; \
         ( ({load} >/dev/null && {count}) > $R.tmp && mv $R.tmp $R.out || rm -f $R.started $R.tmp ) </dev/null >/dev/null 2>&1 & \
         fi; exit 3",
        load = q(load_metadata(f)),
        count = q(count(f)),
        state = sh_quote(state),
    );
    vec!["sh".into(), "-c".into(), script]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::ufs::SecretOption;
    use std::collections::BTreeMap;

    fn wanted(path: &str, ufs: &str) -> UfsMount {
        UfsMount {
            path: path.into(),
            ufs: ufs.into(),
            read_only: false,
            shared: false,
            options: BTreeMap::new(),
            secret_options: vec![],
        }
    }

    fn entry(path: &str, ufs: &str) -> MountEntry {
        MountEntry {
            path: path.into(),
            ufs: ufs.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_mount_line_has_flags_and_options_before_the_paths() {
        let mut m = wanted("/a", "s3://bucket/a");
        m.read_only = true;
        m.shared = true;
        m.options.insert(
            "alluxio.underfs.s3.endpoint".into(),
            "http://minio:9000".into(),
        );
        assert_eq!(
            mount(&Flavor::ALLUXIO, &m),
            [
                "alluxio",
                "fs",
                "mount",
                "--readonly",
                "--shared",
                "--option",
                "alluxio.underfs.s3.endpoint=http://minio:9000",
                "/a",
                "s3://bucket/a"
            ]
        );
    }

    #[test]
    fn secret_options_are_read_from_their_files_in_the_pod() {
        let mut m = wanted("/a b", "s3://bucket/a");
        m.secret_options.push(SecretOption {
            name: "aws.secretKey".into(),
            path: "/etc/fluid/secrets/s/key".into(),
        });
        let c = mount(&Flavor::ALLUXIO, &m);
        assert_eq!(c[..2], ["sh", "-c"]);
        assert_eq!(
            c[2],
            "exec alluxio fs mount --option aws.secretKey=\"$(cat /etc/fluid/secrets/s/key)\" '/a b' s3://bucket/a"
        );
    }

    #[test]
    fn the_table_is_brought_to_the_wanted_mounts_leaving_the_root_alone() {
        let want = [
            wanted("/a", "s3://a"),
            wanted("/b", "s3://b"),
            wanted("/c", "s3://c-new"),
        ];
        let table = [
            entry("/", "/underFSStorage"),
            entry("/a", "s3://a"),
            entry("/c", "s3://c"),
            entry("/old", "s3://old"),
        ];
        let (unmount, mount) = mount_actions(&want, &table);
        assert_eq!(unmount, ["/c", "/old"]);
        let paths: Vec<&str> = mount.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["/b", "/c"]);
        let (unmount, mount) = mount_actions(&want[..1], &table[..2]);
        assert!(
            unmount.is_empty() && mount.is_empty(),
            "idempotent once mounted"
        );
    }

    #[test]
    fn the_metadata_job_loads_then_counts_in_the_background() {
        let c = metadata_job(&Flavor::ALLUXIO, METADATA_STATE);
        assert!(
            c[2].contains("alluxio fs loadMetadata -R / >/dev/null && alluxio fs count /"),
            "{}",
            c[2]
        );
        assert!(c[2].ends_with("exit 3"));
    }
}
