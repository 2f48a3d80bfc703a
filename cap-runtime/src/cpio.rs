//! Reading a cpio archive in the "newc" format (the initial image the
//! root task gets, `boot/modules/initrd.cpio`).
//!
//! An archive is a sequence of entries, each a 110-byte ASCII header
//! (magic `070701`, or `070702` with a checksum, then 13 fields of 8 hex
//! digits), the NUL-terminated name padded so that the data starts at a
//! multiple of 4 bytes, and the data padded likewise; an entry named
//! `TRAILER!!!` ends it. The archive is untrusted input: every field is
//! checked, all arithmetic is checked, and a malformed archive gives a
//! [`CpioError`] — never a panic or a read outside the slice.

use core::fmt;

/// Length of an entry header.
pub const HEADER_LEN: usize = 110;
/// The name of the entry that ends an archive.
pub const TRAILER: &str = "TRAILER!!!";
/// File-type bits of `mode`.
pub const S_IFMT: u32 = 0o170_000;
/// A regular file.
pub const S_IFREG: u32 = 0o100_000;
/// A directory.
pub const S_IFDIR: u32 = 0o040_000;

const MAGIC: &[u8; 6] = b"070701";
const MAGIC_CRC: &[u8; 6] = b"070702";

/// The 13 header fields after the magic, in order.
const FIELDS: usize = 13;
const F_MODE: usize = 1;
const F_FILESIZE: usize = 6;
const F_NAMESIZE: usize = 11;
const F_CHECK: usize = 12;

/// Why an archive cannot be read. Each carries the byte offset of the
/// entry at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioError {
    /// Fewer than 110 bytes left for a header.
    TruncatedHeader(usize),
    /// The header does not start with `070701` or `070702`.
    BadMagic(usize),
    /// A header field is not 8 hex digits (the field's index, 0 = `ino`).
    BadField(usize, u8),
    /// A name size of 0 (there is no room for the NUL).
    EmptyName(usize),
    /// The name or the data reach past the end of the archive.
    PastEnd(usize),
    /// The name's last byte is not NUL, or it has a NUL before.
    NameNotTerminated(usize),
    /// The name is not UTF-8.
    NameNotUtf8(usize),
    /// A `070702` entry whose data does not sum to its check field.
    BadChecksum(usize),
    /// The archive ends without a `TRAILER!!!` entry.
    MissingTrailer(usize),
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CpioError::TruncatedHeader(at) => write!(f, "truncated header at byte {at}"),
            CpioError::BadMagic(at) => write!(f, "no newc magic at byte {at}"),
            CpioError::BadField(at, i) => write!(f, "header field {i} at byte {at} is not hex"),
            CpioError::EmptyName(at) => write!(f, "entry at byte {at} has an empty name"),
            CpioError::PastEnd(at) => write!(f, "entry at byte {at} reaches past the end"),
            CpioError::NameNotTerminated(at) => {
                write!(f, "name of the entry at byte {at} is not NUL-terminated")
            }
            CpioError::NameNotUtf8(at) => write!(f, "name of the entry at byte {at} is not UTF-8"),
            CpioError::BadChecksum(at) => write!(f, "checksum of the entry at byte {at} is wrong"),
            CpioError::MissingTrailer(at) => write!(f, "no {TRAILER} entry (ends at byte {at})"),
        }
    }
}

/// One entry of an archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Its name (without the NUL).
    pub name: &'a str,
    /// Its `mode` (file type and permissions).
    pub mode: u32,
    /// Its data.
    pub data: &'a [u8],
}

impl Entry<'_> {
    /// Whether it is a regular file.
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

/// The entries of `archive`, in order, up to the trailer. After an error
/// the iterator ends.
pub fn entries(archive: &[u8]) -> Entries<'_> {
    Entries {
        archive,
        at: 0,
        done: false,
    }
}

/// The data of the regular file `name` in `archive`; `Ok(None)` if the
/// (well-formed up to the trailer) archive has none. The archive is read
/// to the trailer even after a match, so a damaged archive is always an
/// error.
pub fn find<'a>(archive: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, CpioError> {
    let mut found = None;
    for e in entries(archive) {
        let e = e?;
        if found.is_none() && e.is_file() && e.name == name {
            found = Some(e.data);
        }
    }
    Ok(found)
}

/// Iterator over the entries of an archive (see [`entries`]).
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    archive: &'a [u8],
    at: usize,
    done: bool,
}

fn hex(field: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &b in field {
        let d = (b as char).to_digit(16)?;
        v = (v << 4) | d;
    }
    Some(v)
}

/// `x` rounded up to a multiple of 4.
fn pad4(x: usize) -> Option<usize> {
    Some(x.checked_add(3)? & !3)
}

impl<'a> Entries<'a> {
    fn entry(&self) -> Result<(Option<Entry<'a>>, usize), CpioError> {
        let at = self.at;
        if at == self.archive.len() {
            return Err(CpioError::MissingTrailer(at));
        }
        let header = self
            .archive
            .get(at..)
            .and_then(|rest| rest.get(..HEADER_LEN))
            .ok_or(CpioError::TruncatedHeader(at))?;
        let crc = match header.get(..6) {
            Some(m) if m == MAGIC => false,
            Some(m) if m == MAGIC_CRC => true,
            _ => return Err(CpioError::BadMagic(at)),
        };
        let mut f = [0u32; FIELDS];
        for (i, (v, chunk)) in f.iter_mut().zip(header[6..].chunks_exact(8)).enumerate() {
            *v = hex(chunk).ok_or(CpioError::BadField(at, i as u8))?;
        }
        let namesize = f[F_NAMESIZE] as usize;
        let filesize = f[F_FILESIZE] as usize;
        if namesize == 0 {
            return Err(CpioError::EmptyName(at));
        }
        let past = CpioError::PastEnd(at);
        let name_start = at.checked_add(HEADER_LEN).ok_or(past)?;
        let name_end = name_start.checked_add(namesize).ok_or(past)?;
        let raw = self.archive.get(name_start..name_end).ok_or(past)?;
        let (last, name) = raw.split_last().ok_or(CpioError::EmptyName(at))?;
        if *last != 0 || name.contains(&0) {
            return Err(CpioError::NameNotTerminated(at));
        }
        let name = core::str::from_utf8(name).map_err(|_| CpioError::NameNotUtf8(at))?;
        if name == TRAILER {
            return Ok((None, self.archive.len()));
        }
        let data_start = pad4(name_end).ok_or(past)?;
        let data_end = data_start.checked_add(filesize).ok_or(past)?;
        let data = self.archive.get(data_start..data_end).ok_or(past)?;
        if crc {
            let sum = data.iter().fold(0u32, |s, &b| s.wrapping_add(u32::from(b)));
            if sum != f[F_CHECK] {
                return Err(CpioError::BadChecksum(at));
            }
        }
        // The padding after the data may be cut off only at the very end
        // (where a trailer is missing anyway).
        let next = pad4(data_end).ok_or(past)?.min(self.archive.len());
        Ok((
            Some(Entry {
                name,
                mode: f[F_MODE],
                data,
            }),
            next,
        ))
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, CpioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.entry() {
            Ok((Some(e), next)) => {
                self.at = next;
                Some(Ok(e))
            }
            Ok((None, _)) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for Entries<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A newc archive of `files` (name, mode, data), with a trailer.
    fn archive(files: &[(&str, u32, &[u8])], crc: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut put = |name: &str, mode: u32, data: &[u8]| {
            let check: u32 = data.iter().map(|&b| u32::from(b)).sum();
            out.extend_from_slice(if crc { MAGIC_CRC } else { MAGIC });
            let fields = [
                1,
                mode,
                0,
                0,
                1,
                0,
                data.len() as u32,
                0,
                0,
                0,
                0,
                name.len() as u32 + 1,
                if crc { check } else { 0 },
            ];
            for f in fields {
                out.extend_from_slice(format!("{f:08X}").as_bytes());
            }
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            while out.len() % 4 != 0 {
                out.push(0);
            }
            out.extend_from_slice(data);
            while out.len() % 4 != 0 {
                out.push(0);
            }
        };
        for &(n, m, d) in files {
            put(n, m, d);
        }
        put(TRAILER, 0, &[]);
        out
    }

    fn names(a: &[u8]) -> Result<Vec<String>, CpioError> {
        entries(a).map(|e| e.map(|e| e.name.to_string())).collect()
    }

    #[test]
    fn entries_and_data_are_found() {
        for crc in [false, true] {
            let a = archive(
                &[
                    ("bin", S_IFDIR | 0o755, b""),
                    ("invariant-suite", S_IFREG | 0o755, b"\x7fELF..."),
                    ("odd", S_IFREG | 0o644, b"12345"),
                ],
                crc,
            );
            assert_eq!(names(&a).unwrap(), ["bin", "invariant-suite", "odd"]);
            assert_eq!(find(&a, "invariant-suite"), Ok(Some(&b"\x7fELF..."[..])));
            assert_eq!(find(&a, "odd"), Ok(Some(&b"12345"[..])));
            assert_eq!(find(&a, "bin"), Ok(None), "a directory is no file");
            assert_eq!(find(&a, "nope"), Ok(None));
            // Bytes after the trailer are ignored (archives are often
            // padded to a block size).
            let mut padded = a.clone();
            padded.extend_from_slice(&[0; 512]);
            assert_eq!(names(&padded).unwrap().len(), 3);
        }
        let empty = archive(&[], false);
        assert_eq!(names(&empty).unwrap().len(), 0);
    }

    #[test]
    fn hostile_archives_give_typed_errors() {
        let good = archive(&[("a", S_IFREG, b"xyz")], false);
        let second = 116; // header, "a\0", "xyz" padded to 4
        // Truncations.
        assert_eq!(names(&[]), Err(CpioError::MissingTrailer(0)));
        assert_eq!(names(&good[..50]), Err(CpioError::TruncatedHeader(0)));
        assert_eq!(names(&good[..111]), Err(CpioError::PastEnd(0)));
        assert_eq!(names(&good[..114]), Err(CpioError::PastEnd(0)), "data cut");
        assert_eq!(
            names(&good[..second]),
            Err(CpioError::MissingTrailer(second))
        );
        assert_eq!(
            names(&good[..second + 5]),
            Err(CpioError::TruncatedHeader(second))
        );
        // Bad magic, non-hex field.
        let mut m = good.clone();
        m[5] = b'3';
        assert_eq!(names(&m), Err(CpioError::BadMagic(0)));
        let mut m = good.clone();
        m[6 + 8 * 6 + 3] = b'g';
        assert_eq!(names(&m), Err(CpioError::BadField(0, 6)));
        let mut m = good.clone();
        m[6 + 8 * 6 + 3] = b' ';
        assert_eq!(names(&m), Err(CpioError::BadField(0, 6)));
        // Huge sizes: file size and name size past the end.
        let set = |a: &mut Vec<u8>, field: usize, v: &str| {
            a[6 + 8 * field..6 + 8 * field + 8].copy_from_slice(v.as_bytes());
        };
        let mut m = good.clone();
        set(&mut m, F_FILESIZE, "FFFFFFFF");
        assert_eq!(names(&m), Err(CpioError::PastEnd(0)));
        let mut m = good.clone();
        set(&mut m, F_NAMESIZE, "FFFFFFFF");
        assert_eq!(names(&m), Err(CpioError::PastEnd(0)));
        let mut m = good.clone();
        set(&mut m, F_NAMESIZE, "00000000");
        assert_eq!(names(&m), Err(CpioError::EmptyName(0)));
        // Name without its NUL, name with an inner NUL, not UTF-8.
        let mut m = good.clone();
        m[111] = b'b';
        assert_eq!(names(&m), Err(CpioError::NameNotTerminated(0)));
        let mut m = good.clone();
        set(&mut m, F_NAMESIZE, "00000001");
        m[110] = 0;
        assert_eq!(names(&m).unwrap(), [""], "an empty name is just odd");
        let mut m = good.clone();
        m[110] = 0;
        assert_eq!(names(&m), Err(CpioError::NameNotTerminated(0)));
        let mut m = good.clone();
        m[110] = 0xff;
        assert_eq!(names(&m), Err(CpioError::NameNotUtf8(0)));
        // A wrong checksum in the checksummed variant.
        let mut c = archive(&[("a", S_IFREG, b"xyz")], true);
        c[112] = b'w';
        assert_eq!(find(&c, "a"), Err(CpioError::BadChecksum(0)));
        // A damaged entry after the match is still an error.
        let two = archive(&[("a", S_IFREG, b"1"), ("b", S_IFREG, b"2")], false);
        let mut m = two.clone();
        m[second] = b'X';
        assert_eq!(find(&m, "a"), Err(CpioError::BadMagic(second)));
        // The iterator stops after an error.
        let mut it = entries(&m);
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    proptest! {
        /// Arbitrary bytes: an error or entries, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            for e in entries(&bytes) {
                let _ = e;
            }
        }

        /// A valid archive with bytes overwritten, cut or with garbage
        /// appended: never a panic, and whatever is returned lies inside
        /// the archive.
        #[test]
        fn mutated_archives_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..40),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
            hexy in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..16), 0..4),
            cut in any::<prop::sample::Index>(),
            crc in any::<bool>(),
        ) {
            let mut a = archive(&[("x", S_IFREG, &data), ("yy", S_IFREG | 0o755, b"z")], crc);
            for (i, b) in edits {
                let i = i.index(a.len());
                a[i] = b;
            }
            // Hex-looking edits reach the size fields more often.
            for (i, d) in hexy {
                let i = i.index(a.len());
                a[i] = b"0123456789abcdef"[d];
            }
            let a = &a[..cut.index(a.len() + 1)];
            let range = a.as_ptr_range();
            for e in entries(a).flatten() {
                let r = e.data.as_ptr_range();
                prop_assert!(range.start <= r.start && r.end <= range.end);
            }
            let _ = find(a, "x");
        }
    }
}
