//! Validation of user-program ELF images (see the README).
//!
//! [`Image::parse`] checks everything a loader relies on once, so the
//! loader's own arithmetic cannot overflow or index out of the file:
//! every segment it returns lies inside the window and inside the file.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![forbid(unsafe_code)]

use elf::ElfBytes;
use elf::abi as e;
use elf::endian::LittleEndian;

/// Page size the segments are rounded to.
pub const PAGE_SIZE: u64 = 4096;
/// Most loadable segments an image may have.
pub const MAX_SEGMENTS: usize = 16;

/// The machine an image must be built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// `EM_X86_64`.
    X86_64,
    /// `EM_AARCH64`.
    Aarch64,
}

impl Machine {
    /// The machine this code is compiled for.
    #[cfg(target_arch = "aarch64")]
    pub const NATIVE: Machine = Machine::Aarch64;
    /// The machine this code is compiled for.
    #[cfg(not(target_arch = "aarch64"))]
    pub const NATIVE: Machine = Machine::X86_64;

    fn elf_machine(self) -> u16 {
        match self {
            Machine::X86_64 => e::EM_X86_64,
            Machine::Aarch64 => e::EM_AARCH64,
        }
    }
}

/// Why a file is not a loadable image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Not a well-formed 64-bit little-endian ELF file.
    Malformed,
    /// Built for another machine (the `e_machine` value).
    WrongMachine(u16),
    /// Not an `ET_EXEC` executable (the `e_type` value).
    WrongType(u16),
    /// No non-empty loadable segment.
    NoSegments,
    /// More than [`MAX_SEGMENTS`] loadable segments.
    TooManySegments,
    /// A segment's file range lies outside the file, or `filesz > memsz`.
    SegmentOutOfFile,
    /// A segment lies (partly) outside the window (its `p_vaddr`).
    SegmentOutOfWindow(u64),
    /// Segments out of address order or overlapping with other rights.
    SegmentsOverlap,
    /// A segment is both writable and executable (its `p_vaddr`).
    WritableAndExecutable(u64),
    /// The entry point is not in an executable segment.
    BadEntry(u64),
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ImageError::Malformed => write!(f, "not a 64-bit little-endian ELF file"),
            ImageError::WrongMachine(m) => write!(f, "built for ELF machine {m}"),
            ImageError::WrongType(t) => write!(f, "ELF type {t} is not an executable"),
            ImageError::NoSegments => write!(f, "no loadable segment"),
            ImageError::TooManySegments => write!(f, "more than {MAX_SEGMENTS} loadable segments"),
            ImageError::SegmentOutOfFile => write!(f, "a segment's bytes lie outside the file"),
            ImageError::SegmentOutOfWindow(v) => {
                write!(f, "segment at {v:#x} lies outside the allowed addresses")
            }
            ImageError::SegmentsOverlap => write!(f, "segments overlap or are out of order"),
            ImageError::WritableAndExecutable(v) => {
                write!(f, "segment at {v:#x} is writable and executable")
            }
            ImageError::BadEntry(v) => write!(f, "entry point {v:#x} is not in executable code"),
        }
    }
}

/// Access rights of a segment's pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rights {
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
}

impl Rights {
    /// How pages with these rights are mapped (spec: VM-5, VM-11): code
    /// read-only and executable, data read-write, the rest read-only —
    /// never writable and executable (the image check refuses W+X).
    pub fn mapping(self) -> (abi::rights::Rights, abi::vm::VmAttributes) {
        use abi::rights::Rights as R;
        use abi::vm::VmAttributes as A;
        if self.execute {
            (R::READ, A::EXECUTE)
        } else if self.write {
            (R::READ_WRITE, A::NONE)
        } else {
            (R::READ, A::NONE)
        }
    }
}

/// One loadable segment, page aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// First page's address.
    pub vaddr: u64,
    /// Length in bytes, a multiple of [`PAGE_SIZE`].
    pub len: u64,
    /// Rights of every page.
    pub rights: Rights,
    /// Where the file bytes go (`p_vaddr`, inside `[vaddr, vaddr + len)`).
    pub data_vaddr: u64,
    /// The file bytes' offset in the file.
    pub file_offset: u64,
    /// Number of file bytes (the rest up to the segment's end is zero).
    pub file_len: u64,
}

impl Segment {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.vaddr + self.len
    }
}

/// A validated image.
#[derive(Clone, Copy, Debug)]
pub struct Image<'a> {
    file: &'a [u8],
    segments: [Option<Segment>; MAX_SEGMENTS],
    /// The entry point.
    pub entry: u64,
}

fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

fn page_up(x: u64) -> Option<u64> {
    Some(x.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

impl<'a> Image<'a> {
    /// Validate `file` as an executable for `machine` whose segments lie in
    /// `[low, high)`.
    pub fn parse(
        file: &'a [u8],
        machine: Machine,
        low: u64,
        high: u64,
    ) -> Result<Self, ImageError> {
        let elf =
            ElfBytes::<LittleEndian>::minimal_parse(file).map_err(|_| ImageError::Malformed)?;
        if elf.ehdr.class != elf::file::Class::ELF64 {
            return Err(ImageError::Malformed);
        }
        if elf.ehdr.e_machine != machine.elf_machine() {
            return Err(ImageError::WrongMachine(elf.ehdr.e_machine));
        }
        if elf.ehdr.e_type != e::ET_EXEC {
            return Err(ImageError::WrongType(elf.ehdr.e_type));
        }
        let phdrs = elf.segments().ok_or(ImageError::NoSegments)?;
        let mut segments = [None; MAX_SEGMENTS];
        let mut count = 0;
        let mut prev: Option<Segment> = None;
        for ph in phdrs
            .iter()
            .filter(|p| p.p_type == e::PT_LOAD && p.p_memsz > 0)
        {
            if count == MAX_SEGMENTS {
                return Err(ImageError::TooManySegments);
            }
            let file_end = ph
                .p_offset
                .checked_add(ph.p_filesz)
                .ok_or(ImageError::SegmentOutOfFile)?;
            if file_end > file.len() as u64 || ph.p_filesz > ph.p_memsz {
                return Err(ImageError::SegmentOutOfFile);
            }
            let start = page_down(ph.p_vaddr);
            let end = ph
                .p_vaddr
                .checked_add(ph.p_memsz)
                .and_then(page_up)
                .ok_or(ImageError::SegmentOutOfWindow(ph.p_vaddr))?;
            if start < low || end > high {
                return Err(ImageError::SegmentOutOfWindow(ph.p_vaddr));
            }
            let rights = Rights {
                write: ph.p_flags & e::PF_W != 0,
                execute: ph.p_flags & e::PF_X != 0,
            };
            if rights.write && rights.execute {
                return Err(ImageError::WritableAndExecutable(ph.p_vaddr));
            }
            if let Some(p) = prev {
                // A shared page is allowed only with equal rights: it is
                // one frame mapped once.
                let shares_page = start < p.end() && start == p.end() - PAGE_SIZE;
                if start < p.end() && !(shares_page && p.rights == rights) {
                    return Err(ImageError::SegmentsOverlap);
                }
                if ph.p_vaddr < p.data_vaddr.saturating_add(p.file_len) {
                    return Err(ImageError::SegmentsOverlap);
                }
            }
            let seg = Segment {
                vaddr: start,
                len: end - start,
                rights,
                data_vaddr: ph.p_vaddr,
                file_offset: ph.p_offset,
                file_len: ph.p_filesz,
            };
            segments[count] = Some(seg);
            prev = Some(seg);
            count += 1;
        }
        if count == 0 {
            return Err(ImageError::NoSegments);
        }
        let entry = elf.ehdr.e_entry;
        let in_code = segments
            .iter()
            .flatten()
            .any(|s| s.rights.execute && (s.vaddr..s.end()).contains(&entry));
        if !in_code {
            return Err(ImageError::BadEntry(entry));
        }
        Ok(Image {
            file,
            segments,
            entry,
        })
    }

    /// The segments, in address order.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter().flatten()
    }

    /// The pages of the image in address order, each once, with its
    /// rights (a page two segments share appears once).
    pub fn pages(&self) -> impl Iterator<Item = (u64, Rights)> + '_ {
        let mut last = None;
        self.segments()
            .flat_map(|s| {
                (s.vaddr..s.end())
                    .step_by(PAGE_SIZE as usize)
                    .map(|p| (p, s.rights))
            })
            .filter(move |&(p, _)| {
                let new = last != Some(p);
                last = Some(p);
                new
            })
    }

    /// Fill `page` with the contents of the image page at `vaddr`: file
    /// bytes where a segment has them, zero elsewhere.
    pub fn fill_page(&self, vaddr: u64, page: &mut [u8; PAGE_SIZE as usize]) {
        page.fill(0);
        for s in self.segments() {
            let (from, to) = (s.data_vaddr, s.data_vaddr + s.file_len);
            let lo = from.max(vaddr);
            let hi = to.min(vaddr + PAGE_SIZE);
            if lo >= hi {
                continue;
            }
            // Checked at parse: `file_offset + file_len ≤ file.len()`.
            let off = (s.file_offset + (lo - from)) as usize;
            let len = (hi - lo) as usize;
            let at = (lo - vaddr) as usize;
            page[at..at + len].copy_from_slice(&self.file[off..off + len]);
        }
    }
}

#[cfg(test)]
mod tests;
