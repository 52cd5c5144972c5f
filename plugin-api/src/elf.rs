//! Checking that a file is a whole shared library before `dlopen` maps it.
//!
//! `dlopen` maps each loadable segment straight from the file; a segment that reaches past the
//! end of a truncated file maps fine and then kills the process with SIGBUS on first touch,
//! with no line naming the file. So every range the headers describe is checked against the
//! file's size first. This is a structural check against accidents (a partial copy, a full
//! disk), not a defence against a crafted file: a plugin is trusted code.

use std::fs::File;
use std::os::unix::fs::FileExt;

const ET_DYN: u16 = 3;
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const SHT_NOBITS: u32 = 8;
/// `e_phnum` value meaning "too many to count here" (the real count is in section 0).
const PN_XNUM: u16 = 0xffff;

/// The ELF class and byte order this process can load.
const NATIVE_CLASS: u8 = if cfg!(target_pointer_width = "64") {
    2
} else {
    1
};
const NATIVE_DATA: u8 = if cfg!(target_endian = "little") { 1 } else { 2 };

/// `e_machine` of this process's architecture, where we know it.
const NATIVE_MACHINE: Option<u16> = if cfg!(target_arch = "x86_64") {
    Some(62)
} else if cfg!(target_arch = "aarch64") {
    Some(183)
} else if cfg!(target_arch = "riscv64") {
    Some(243)
} else if cfg!(target_arch = "powerpc64") {
    Some(21)
} else if cfg!(target_arch = "s390x") {
    Some(22)
} else {
    None
};

/// Field offsets and sizes of the two ELF classes.
struct Layout {
    header: u64,
    phentsize: u64,
    shentsize: u64,
}

const ELF64: Layout = Layout {
    header: 64,
    phentsize: 56,
    shentsize: 64,
};
const ELF32: Layout = Layout {
    header: 52,
    phentsize: 32,
    shentsize: 40,
};

/// Reads fixed-width fields in the file's byte order.
struct Fields<'a> {
    bytes: &'a [u8],
    little: bool,
}

impl Fields<'_> {
    fn array<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut b = [0u8; N];
        b.copy_from_slice(&self.bytes[at..at + N]);
        if !self.little {
            b.reverse();
        }
        b
    }

    fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.array(at))
    }

    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.array(at))
    }

    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.array(at))
    }

    /// A word: 8 bytes in ELF64, 4 in ELF32.
    fn word(&self, at: usize, wide: bool) -> u64 {
        if wide {
            self.u64(at)
        } else {
            u64::from(self.u32(at))
        }
    }
}

/// What is wrong with a file, for a refusal message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A whole file, but not one this process can load (not ELF, an executable, another
    /// architecture).
    NotLoadable(String),
    /// A range the headers describe lies outside the file, or the headers contradict
    /// themselves.
    Damaged(String),
}

impl From<String> for Problem {
    fn from(reason: String) -> Self {
        Problem::Damaged(reason)
    }
}

fn not_loadable(reason: impl Into<String>) -> Problem {
    Problem::NotLoadable(reason.into())
}

/// Checks the ELF header, the program headers (every loadable and dynamic segment within the
/// file), and the section headers (the table and every section with contents within the file).
pub(crate) fn check(file: &File) -> Result<(), Problem> {
    let size = file
        .metadata()
        .map_err(|e| format!("cannot read its size: {e}"))?
        .len();
    let read = |offset: u64, len: u64, what: &str| -> Result<Vec<u8>, String> {
        within(offset, len, size, what)?;
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, offset)
            .map_err(|e| format!("cannot read {what}: {e}"))?;
        Ok(buf)
    };
    // The magic number first: a text file is "not a library", not "truncated".
    let magic = read(0, 4, "the magic number").unwrap_or_default();
    if magic != [0x7f, b'E', b'L', b'F'] {
        return Err(not_loadable(
            "the file does not start with the ELF magic number",
        ));
    }
    let ident = read(0, 16, "the ELF identification")?;
    if ident[4] != NATIVE_CLASS {
        return Err(not_loadable(format!(
            "it is a {}-bit ELF file; this controller loads {}-bit libraries",
            if ident[4] == 1 { 32 } else { 64 },
            if NATIVE_CLASS == 1 { 32 } else { 64 }
        )));
    }
    if ident[5] != NATIVE_DATA {
        return Err(not_loadable("its byte order is not this machine's"));
    }
    let wide = NATIVE_CLASS == 2;
    let layout = if wide { &ELF64 } else { &ELF32 };
    let header = read(0, layout.header, "the ELF header")?;
    let f = Fields {
        bytes: &header,
        little: NATIVE_DATA == 1,
    };
    let e_type = f.u16(16);
    if e_type != ET_DYN {
        return Err(not_loadable(format!(
            "it is not a shared object (ELF type {e_type})"
        )));
    }
    let machine = f.u16(18);
    if NATIVE_MACHINE.is_some_and(|m| m != machine) {
        return Err(not_loadable(format!(
            "it is built for another architecture (ELF machine {machine})"
        )));
    }
    // e_phoff, e_shoff, then the 16-bit fields after e_flags and e_ehsize.
    let (phoff, shoff, small) = if wide {
        (f.u64(32), f.u64(40), 52)
    } else {
        (u64::from(f.u32(28)), u64::from(f.u32(32)), 40)
    };
    let phentsize = u64::from(f.u16(small + 2));
    let phnum = f.u16(small + 4);
    let shentsize = u64::from(f.u16(small + 6));
    let mut shnum = u64::from(f.u16(small + 8));

    if phnum == 0 {
        return Err(not_loadable("it has no program headers"));
    }
    if phnum == PN_XNUM {
        return Err(Problem::Damaged(
            "it declares more program headers than a shared library has".into(),
        ));
    }
    if phentsize != layout.phentsize {
        return Err(Problem::Damaged(format!(
            "its program header size is {phentsize}, not {}",
            layout.phentsize
        )));
    }
    let table = read(phoff, u64::from(phnum) * phentsize, "the program headers")?;
    let ph = Fields {
        bytes: &table,
        little: f.little,
    };
    let (mut loads, mut dynamic) = (0, false);
    for i in 0..usize::from(phnum) {
        let at = i * phentsize as usize;
        let p_type = ph.u32(at);
        // ELF64: type, flags, offset, vaddr, paddr, filesz; ELF32: type, offset, vaddr,
        // paddr, filesz.
        let (offset, filesz) = if wide {
            (ph.u64(at + 8), ph.u64(at + 32))
        } else {
            (u64::from(ph.u32(at + 4)), u64::from(ph.u32(at + 16)))
        };
        let what = match p_type {
            PT_LOAD => {
                loads += 1;
                "loadable segment"
            }
            PT_DYNAMIC => {
                dynamic = true;
                "dynamic segment"
            }
            _ => "segment",
        };
        within(offset, filesz, size, &format!("{what} {i}"))?;
    }
    if loads == 0 {
        return Err(not_loadable("it has no loadable segment"));
    }
    if !dynamic {
        return Err(not_loadable("it has no dynamic segment"));
    }

    if shoff == 0 {
        // Section headers are optional at run time (a stripped file may drop them).
        return Ok(());
    }
    if shentsize != layout.shentsize {
        return Err(Problem::Damaged(format!(
            "its section header size is {shentsize}, not {}",
            layout.shentsize
        )));
    }
    if shnum == 0 {
        // More than 0xff00 sections: the count is in the first header's sh_size.
        let first = read(shoff, shentsize, "the first section header")?;
        let sf = Fields {
            bytes: &first,
            little: f.little,
        };
        shnum = sf.word(if wide { 32 } else { 20 }, wide);
    }
    let table = read(
        shoff,
        shnum.saturating_mul(shentsize),
        "the section headers",
    )?;
    let sh = Fields {
        bytes: &table,
        little: f.little,
    };
    for i in 0..shnum as usize {
        let at = i * shentsize as usize;
        let sh_type = sh.u32(at + 4);
        // ELF64: name, type, flags(8), addr(8), offset(8), size(8); ELF32: 4-byte words.
        let (offset, len) = if wide {
            (sh.u64(at + 24), sh.u64(at + 32))
        } else {
            (u64::from(sh.u32(at + 16)), u64::from(sh.u32(at + 20)))
        };
        if sh_type != SHT_NOBITS && i != 0 {
            within(offset, len, size, &format!("section {i}"))?;
        }
    }
    Ok(())
}

/// `offset..offset+len` lies within a file of `size` bytes.
fn within(offset: u64, len: u64, size: u64, what: &str) -> Result<(), String> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(format!(
            "{what} (bytes {offset}..{}) lies beyond the end of the file ({size} bytes): \
             the file is truncated or damaged",
            offset.saturating_add(len)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn copy_truncated(bytes: &[u8], len: usize) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes[..len]).unwrap();
        f
    }

    /// This test binary is a position-independent executable: structurally the same as a
    /// shared object for these checks.
    fn own_image() -> Vec<u8> {
        std::fs::read(std::env::current_exe().unwrap()).unwrap()
    }

    #[test]
    fn a_whole_file_passes_and_every_truncation_is_refused_with_the_range() {
        let bytes = own_image();
        let whole = copy_truncated(&bytes, bytes.len());
        assert_eq!(check(whole.as_file()), Ok(()));
        for len in [0, 3, 15, 40, 100, 4096, bytes.len() / 2, bytes.len() - 1] {
            let cut = copy_truncated(&bytes, len);
            match check(cut.as_file()) {
                Err(Problem::Damaged(reason)) => {
                    assert!(
                        reason.contains("beyond the end of the file"),
                        "{len}: {reason}"
                    )
                }
                Err(Problem::NotLoadable(reason)) => {
                    assert!(
                        len < 16 && reason.contains("magic number"),
                        "{len}: {reason}"
                    )
                }
                Ok(()) => panic!("a file cut at {len} bytes passed"),
            }
        }
    }

    #[test]
    fn headers_of_another_kind_of_file_are_named() {
        let mut bytes = own_image();
        bytes.truncate(1 << 20);
        let mut exec = bytes.clone();
        exec[16] = 2; // ET_EXEC
        let err = check(copy_truncated(&exec, exec.len()).as_file()).unwrap_err();
        assert_eq!(
            err,
            Problem::NotLoadable("it is not a shared object (ELF type 2)".into())
        );

        let mut other_class = bytes.clone();
        other_class[4] = if NATIVE_CLASS == 2 { 1 } else { 2 };
        let err = check(copy_truncated(&other_class, other_class.len()).as_file()).unwrap_err();
        assert!(
            matches!(&err, Problem::NotLoadable(r) if r.contains("-bit ELF file")),
            "{err:?}"
        );

        let mut no_phdrs = bytes.clone();
        let at = if NATIVE_CLASS == 2 { 56 } else { 44 };
        no_phdrs[at] = 0;
        no_phdrs[at + 1] = 0;
        let err = check(copy_truncated(&no_phdrs, no_phdrs.len()).as_file()).unwrap_err();
        assert_eq!(
            err,
            Problem::NotLoadable("it has no program headers".into())
        );
    }
}
