//! The mount table of this process's mount namespace, as `/proc/self/mountinfo` gives it.
//!
//! Everything the plugin decides about mounts (is a path a mount point, is the fuse of a volume
//! mounted, is a bind mount still on the live fuse, how many binds are stacked) is read from
//! here, never from `stat` alone: a dead FUSE answers `stat` with ENOTCONN and a hung one never
//! answers.

use std::collections::HashSet;
use std::path::Path;

/// Where the kernel lists this process's mounts.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One line of mountinfo (proc(5)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Mount id.
    pub id: u32,
    /// The id of the mount this one is mounted on (the one below it when stacked).
    pub parent: u32,
    /// `major:minor` of the file system: a FUSE file system gets a new one each time it is
    /// mounted, and every bind mount of it shares it.
    pub dev: String,
    /// The directory of the file system this mount shows (`/` for the whole file system).
    pub root: String,
    /// Where it is mounted.
    pub mount_point: String,
    /// Per-mount options (`rw`, `nosuid`, ...).
    pub options: Vec<String>,
    /// File system type (`fuse.juicefs`, `ext4`, ...).
    pub fs_type: String,
    /// Mount source (`JuiceFS:myjfs`, `/dev/sda1`, ...).
    pub source: String,
}

impl Mount {
    /// Whether the mount is read-only.
    pub fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }

    /// Whether this is the mount of a volume of `mount_type`, as Fluid checks it: the type
    /// appears in the file system type (`fuse.alluxio-fuse`) or the source (`JuiceFS:name`).
    pub fn has_type(&self, mount_type: &str) -> bool {
        !mount_type.is_empty()
            && (self.fs_type.contains(mount_type) || self.source.contains(mount_type))
    }
}

/// A line of mountinfo that does not have its documented shape.
#[derive(Debug, thiserror::Error)]
#[error("mountinfo line {line}: {reason}: {text:?}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
    /// The line.
    pub text: String,
}

/// Reading the mount table failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("reading {MOUNTINFO}: {0}")]
    Io(#[from] std::io::Error),
    /// It could not be parsed.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// The parsed mount table.
#[derive(Clone, Debug, Default)]
pub struct MountTable {
    mounts: Vec<Mount>,
}

impl MountTable {
    /// Reads this process's mount table.
    pub fn read() -> Result<Self, ReadError> {
        Ok(Self::parse(&std::fs::read_to_string(MOUNTINFO)?)?)
    }

    /// Parses the text of a mountinfo file.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mounts = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                parse_line(l).map_err(|reason| ParseError {
                    line: i + 1,
                    reason,
                    text: l.to_owned(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { mounts })
    }

    /// Every mount, in the kernel's order (mount order).
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// The mounts stacked at `path`, the bottom one first and the visible one last.
    pub fn stack(&self, path: &Path) -> Vec<&Mount> {
        let path = normalize(path);
        let here: Vec<&Mount> = self
            .mounts
            .iter()
            .filter(|m| m.mount_point == path)
            .collect();
        let ids: HashSet<u32> = here.iter().map(|m| m.id).collect();
        // Follow the parent links: each mount on top of another at the same point has that one
        // as its parent. If the links do not form one chain (propagation can add siblings),
        // the kernel's order is the mount order and is good enough.
        let mut chain = Vec::with_capacity(here.len());
        let mut next = here.iter().find(|m| !ids.contains(&m.parent)).copied();
        while let Some(m) = next {
            chain.push(m);
            if chain.len() > here.len() {
                break;
            }
            next = here.iter().find(|c| c.parent == m.id).copied();
        }
        if chain.len() == here.len() {
            chain
        } else {
            here
        }
    }

    /// The visible mount at `path`, if `path` is a mount point.
    pub fn top(&self, path: &Path) -> Option<&Mount> {
        self.stack(path).last().copied()
    }

    /// Whether `path` is a mount point.
    pub fn is_mount_point(&self, path: &Path) -> bool {
        let path = normalize(path);
        self.mounts.iter().any(|m| m.mount_point == path)
    }
}

/// `path` as mountinfo spells it: no trailing slash.
fn normalize(path: &Path) -> String {
    let s = path.to_string_lossy();
    let trimmed = s.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn parse_line(line: &str) -> Result<Mount, &'static str> {
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields
        .iter()
        .position(|f| *f == "-")
        .ok_or("no ' - ' separator")?;
    if sep < 6 || fields.len() < sep + 3 {
        return Err("too few fields");
    }
    let id = fields[0].parse().map_err(|_| "mount id is not a number")?;
    let parent = fields[1].parse().map_err(|_| "parent id is not a number")?;
    if !fields[2].contains(':') {
        return Err("device is not major:minor");
    }
    Ok(Mount {
        id,
        parent,
        dev: fields[2].to_owned(),
        root: unescape(fields[3]),
        mount_point: unescape(fields[4]),
        options: fields[5].split(',').map(str::to_owned).collect(),
        fs_type: unescape(fields[sep + 1]),
        source: unescape(fields[sep + 2]),
    })
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                let value = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
42 27 0:39 / /runtime-mnt/juicefs/ns/jfs/juicefs-fuse rw,nosuid,nodev,relatime shared:5 - fuse.juicefs JuiceFS:vol rw,user_id=0
43 27 0:39 / /var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/ns-jfs/mount ro,nosuid,nodev,relatime - fuse.juicefs JuiceFS:vol rw
50 43 0:41 / /var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/ns-jfs/mount rw,nosuid,nodev,relatime - fuse.juicefs JuiceFS:vol rw
51 27 0:42 /a\\040b /mnt/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn parses_fields_and_escapes() {
        let t = MountTable::parse(TABLE).unwrap();
        assert_eq!(t.mounts().len(), 6);
        let fuse = &t.mounts()[2];
        assert_eq!(fuse.dev, "0:39");
        assert_eq!(fuse.fs_type, "fuse.juicefs");
        assert_eq!(fuse.source, "JuiceFS:vol");
        assert!(fuse.has_type("JuiceFS"));
        assert!(fuse.has_type("fuse.juicefs"));
        assert!(!fuse.has_type("alluxio"));
        assert!(!fuse.has_type(""));
        let spaced = &t.mounts()[5];
        assert_eq!(spaced.mount_point, "/mnt/with space");
        assert_eq!(spaced.root, "/a b");
        assert!(t.is_mount_point(Path::new("/mnt/with space")));
    }

    #[test]
    fn stacks_bottom_first() {
        let t = MountTable::parse(TABLE).unwrap();
        let target = Path::new("/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/ns-jfs/mount/");
        let stack = t.stack(target);
        assert_eq!(stack.iter().map(|m| m.id).collect::<Vec<_>>(), vec![43, 50]);
        assert!(stack[0].read_only());
        assert_eq!(t.top(target).unwrap().dev, "0:41");
        assert!(t.top(Path::new("/nowhere")).is_none());
        assert!(!t.is_mount_point(Path::new("/var/lib/kubelet")));
        assert_eq!(t.top(Path::new("/")).unwrap().id, 27);
    }

    #[test]
    fn stack_order_does_not_depend_on_line_order() {
        let reversed: String = TABLE.lines().rev().map(|l| format!("{l}\n")).collect();
        let t = MountTable::parse(&reversed).unwrap();
        let target = Path::new("/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/ns-jfs/mount");
        assert_eq!(t.top(target).unwrap().id, 50);
    }

    #[test]
    fn malformed_lines_are_named() {
        let err = MountTable::parse("22 27 0:21 / /proc rw\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.to_string().contains("separator"), "{err}");
        let err = MountTable::parse("x 27 0:21 / /proc rw - proc proc rw\n").unwrap_err();
        assert!(err.to_string().contains("mount id"), "{err}");
    }

    #[test]
    fn reads_this_process_table() {
        let t = MountTable::read().unwrap();
        assert!(t.is_mount_point(Path::new("/")));
    }
}
