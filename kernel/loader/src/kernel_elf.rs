//! Validating and placing the kernel ELF.
//!
//! The kernel file on the ESP is untrusted input: a truncated copy, a file
//! for the wrong architecture or a random blob must produce a clear error,
//! never a fault in the loader. [`KernelImage::parse`] checks everything the
//! loader later relies on (header, segment bounds, W^X, address range,
//! relocation kinds) *before* any memory is allocated, so the placement in
//! [`KernelImage::load_into`] cannot fail half-way.

use abi::boot::{PAGE_SIZE, layout::KERNEL_BASE};
use core::fmt;
use elf::{ElfBytes, abi as e, endian::LittleEndian};

/// Most loadable segments the kernel may have (text, rodata, data, …).
pub const MAX_SEGMENTS: usize = 8;
/// The kernel must fit in the top 2 GiB (the x86_64 `kernel` code model).
const KERNEL_WINDOW: u64 = 2 << 30;

/// Which machine the loader runs on (and the kernel must be built for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// x86_64.
    X86_64,
    /// AArch64.
    Aarch64,
}

impl Machine {
    fn elf_machine(self) -> u16 {
        match self {
            Machine::X86_64 => e::EM_X86_64,
            Machine::Aarch64 => e::EM_AARCH64,
        }
    }
    fn relative_reloc(self) -> u32 {
        match self {
            Machine::X86_64 => e::R_X86_64_RELATIVE,
            Machine::Aarch64 => e::R_AARCH64_RELATIVE,
        }
    }
}

/// Why a kernel file was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Not a parseable 64-bit little-endian ELF file.
    Malformed,
    /// An ELF file for another machine.
    WrongMachine(u16),
    /// Neither an executable nor a position-independent executable.
    WrongType(u16),
    /// No loadable segment.
    NoSegments,
    /// More loadable segments than [`MAX_SEGMENTS`].
    TooManySegments,
    /// A segment's file bytes lie outside the file, or filesz > memsz.
    SegmentOutOfFile,
    /// A segment lies outside the kernel window at `KERNEL_BASE`.
    SegmentOutOfWindow(u64),
    /// Two segments overlap, or are not in address order.
    SegmentsOverlap,
    /// A segment is both writable and executable.
    WritableAndExecutable(u64),
    /// The entry point is not inside an executable segment.
    BadEntry(u64),
    /// A relocation of a kind the loader does not apply.
    UnsupportedRelocation(u32),
    /// A relocation that targets memory outside the image.
    RelocationOutOfImage(u64),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::Malformed => write!(f, "not a valid 64-bit little-endian ELF file"),
            ElfError::WrongMachine(m) => write!(f, "ELF is for machine {m}, not this CPU"),
            ElfError::WrongType(t) => write!(f, "ELF type {t} is not an executable"),
            ElfError::NoSegments => write!(f, "ELF has no loadable segment"),
            ElfError::TooManySegments => {
                write!(f, "ELF has more than {MAX_SEGMENTS} loadable segments")
            }
            ElfError::SegmentOutOfFile => write!(f, "a segment lies outside the file"),
            ElfError::SegmentOutOfWindow(a) => {
                write!(f, "segment at {a:#x} is outside the kernel window")
            }
            ElfError::SegmentsOverlap => write!(f, "segments overlap or are out of order"),
            ElfError::WritableAndExecutable(a) => {
                write!(f, "segment at {a:#x} is writable and executable (W^X)")
            }
            ElfError::BadEntry(a) => {
                write!(f, "entry point {a:#x} is not in an executable segment")
            }
            ElfError::UnsupportedRelocation(t) => write!(f, "unsupported relocation type {t}"),
            ElfError::RelocationOutOfImage(a) => {
                write!(f, "relocation at {a:#x} is outside the image")
            }
        }
    }
}

/// Access rights of a segment, as mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentRights {
    /// Writable (never together with `execute`).
    pub write: bool,
    /// Executable.
    pub execute: bool,
}

/// One validated loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Page-aligned start of the segment's virtual range.
    pub vaddr: u64,
    /// Page-rounded length of the virtual range.
    pub len: u64,
    /// Rights to map it with.
    pub rights: SegmentRights,
    file_offset: u64,
    file_len: u64,
    data_vaddr: u64,
}

/// A validated kernel ELF, ready to be placed.
pub struct KernelImage<'a> {
    elf: ElfBytes<'a, LittleEndian>,
    file: &'a [u8],
    segments: [Option<Segment>; MAX_SEGMENTS],
    /// Virtual address of the image's first byte (page aligned).
    pub base: u64,
    /// Size of the whole image in bytes (page multiple).
    pub size: u64,
    /// Virtual entry point.
    pub entry: u64,
    machine: Machine,
}

fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

fn page_up(x: u64) -> Option<u64> {
    Some(x.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

impl<'a> KernelImage<'a> {
    /// Validate `file` as a kernel for `machine`.
    pub fn parse(file: &'a [u8], machine: Machine) -> Result<Self, ElfError> {
        let elf = ElfBytes::<LittleEndian>::minimal_parse(file).map_err(|_| ElfError::Malformed)?;
        if elf.ehdr.class != elf::file::Class::ELF64 {
            return Err(ElfError::Malformed);
        }
        if elf.ehdr.e_machine != machine.elf_machine() {
            return Err(ElfError::WrongMachine(elf.ehdr.e_machine));
        }
        if elf.ehdr.e_type != e::ET_EXEC && elf.ehdr.e_type != e::ET_DYN {
            return Err(ElfError::WrongType(elf.ehdr.e_type));
        }
        let phdrs = elf.segments().ok_or(ElfError::NoSegments)?;
        let mut segments = [None; MAX_SEGMENTS];
        let mut prev_end = KERNEL_BASE;
        let loadable = phdrs
            .iter()
            .filter(|p| p.p_type == e::PT_LOAD && p.p_memsz > 0);
        for (count, ph) in loadable.enumerate() {
            if count == MAX_SEGMENTS {
                return Err(ElfError::TooManySegments);
            }
            let file_end = ph
                .p_offset
                .checked_add(ph.p_filesz)
                .ok_or(ElfError::SegmentOutOfFile)?;
            if file_end > file.len() as u64 || ph.p_filesz > ph.p_memsz {
                return Err(ElfError::SegmentOutOfFile);
            }
            let start = page_down(ph.p_vaddr);
            let end = ph
                .p_vaddr
                .checked_add(ph.p_memsz)
                .and_then(page_up)
                .ok_or(ElfError::SegmentOutOfWindow(ph.p_vaddr))?;
            if start < KERNEL_BASE || end - KERNEL_BASE > KERNEL_WINDOW {
                return Err(ElfError::SegmentOutOfWindow(ph.p_vaddr));
            }
            if start < prev_end && count > 0 {
                return Err(ElfError::SegmentsOverlap);
            }
            let rights = SegmentRights {
                write: ph.p_flags & e::PF_W != 0,
                execute: ph.p_flags & e::PF_X != 0,
            };
            if rights.write && rights.execute {
                return Err(ElfError::WritableAndExecutable(ph.p_vaddr));
            }
            segments[count] = Some(Segment {
                vaddr: start,
                len: end - start,
                rights,
                file_offset: ph.p_offset,
                file_len: ph.p_filesz,
                data_vaddr: ph.p_vaddr,
            });
            prev_end = end;
        }
        let first = segments[0].ok_or(ElfError::NoSegments)?;
        let base = first.vaddr;
        let size = prev_end - base;
        let entry = elf.ehdr.e_entry;
        let in_code = segments
            .iter()
            .flatten()
            .any(|s| s.rights.execute && entry >= s.vaddr && entry < s.vaddr + s.len);
        if !in_code {
            return Err(ElfError::BadEntry(entry));
        }
        let image = KernelImage {
            elf,
            file,
            segments,
            base,
            size,
            entry,
            machine,
        };
        image.check_relocations()?;
        Ok(image)
    }

    /// The validated segments, in address order.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter().flatten()
    }

    fn for_each_relocation(
        &self,
        mut f: impl FnMut(elf::relocation::Rela) -> Result<(), ElfError>,
    ) -> Result<(), ElfError> {
        let Some(shdrs) = self.elf.section_headers() else {
            return Ok(());
        };
        for sh in shdrs.iter() {
            if sh.sh_type == e::SHT_REL {
                // The kernel is built with RELA only; REL would need addends
                // read from the image, which we do not support.
                return Err(ElfError::UnsupportedRelocation(0));
            }
            if sh.sh_type != e::SHT_RELA {
                continue;
            }
            let relas = self
                .elf
                .section_data_as_relas(&sh)
                .map_err(|_| ElfError::Malformed)?;
            for r in relas {
                f(r)?;
            }
        }
        Ok(())
    }

    fn check_relocations(&self) -> Result<(), ElfError> {
        let rel = self.machine.relative_reloc();
        self.for_each_relocation(|r| {
            if r.r_type != rel {
                return Err(ElfError::UnsupportedRelocation(r.r_type));
            }
            match r.r_offset.checked_sub(self.base) {
                Some(off) if off.saturating_add(8) <= self.size => Ok(()),
                _ => Err(ElfError::RelocationOutOfImage(r.r_offset)),
            }
        })
    }

    /// Copy the segments into `dest` (the image's memory, `self.size` bytes,
    /// placed so that `dest[0]` is virtual address `self.base`), zero the
    /// rest and apply the relative relocations for a load at the linked
    /// address.
    ///
    /// Cannot fail for a `dest` of the right size: every bound was checked
    /// by [`KernelImage::parse`].
    pub fn load_into(&self, dest: &mut [u8]) -> Result<(), ElfError> {
        if dest.len() as u64 != self.size {
            return Err(ElfError::SegmentOutOfFile);
        }
        dest.fill(0);
        let file = self.file;
        for s in self.segments() {
            let at = (s.data_vaddr - self.base) as usize;
            let src = &file[s.file_offset as usize..(s.file_offset + s.file_len) as usize];
            dest[at..at + src.len()].copy_from_slice(src);
        }
        // The image is placed at its link address, so a relative relocation
        // resolves to its addend.
        self.for_each_relocation(|r| {
            let at = (r.r_offset - self.base) as usize;
            dest[at..at + 8].copy_from_slice(&(r.r_addend as u64).to_le_bytes());
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// Build a minimal ELF64 with the given program headers
    /// (type, flags, offset, vaddr, filesz, memsz) and entry.
    fn build_elf(
        machine: u16,
        etype: u16,
        entry: u64,
        phdrs: &[(u32, u32, u64, u64, u64, u64)],
    ) -> Vec<u8> {
        let mut f = std::vec![0u8; 0x1000];
        f[0..4].copy_from_slice(b"\x7fELF");
        f[4] = 2; // ELFCLASS64
        f[5] = 1; // little endian
        f[6] = 1; // EV_CURRENT
        f[16..18].copy_from_slice(&etype.to_le_bytes());
        f[18..20].copy_from_slice(&machine.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&entry.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
        f[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
        f[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
        f[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (i, &(t, fl, off, va, fsz, msz)) in phdrs.iter().enumerate() {
            let p = 64 + i * 56;
            f[p..p + 4].copy_from_slice(&t.to_le_bytes());
            f[p + 4..p + 8].copy_from_slice(&fl.to_le_bytes());
            f[p + 8..p + 16].copy_from_slice(&off.to_le_bytes());
            f[p + 16..p + 24].copy_from_slice(&va.to_le_bytes());
            f[p + 24..p + 32].copy_from_slice(&va.to_le_bytes());
            f[p + 32..p + 40].copy_from_slice(&fsz.to_le_bytes());
            f[p + 40..p + 48].copy_from_slice(&msz.to_le_bytes());
            f[p + 48..p + 56].copy_from_slice(&4096u64.to_le_bytes());
        }
        f
    }

    const RX: u32 = e::PF_R | e::PF_X;
    const RW: u32 = e::PF_R | e::PF_W;

    #[test]
    fn accepts_and_places_a_two_segment_kernel() {
        let mut f = build_elf(
            e::EM_X86_64,
            e::ET_EXEC,
            KERNEL_BASE + 0x10,
            &[
                (e::PT_LOAD, RX, 0x800, KERNEL_BASE, 0x20, 0x20),
                (e::PT_LOAD, RW, 0x900, KERNEL_BASE + 0x1000, 4, 0x2000),
            ],
        );
        f[0x800] = 0xAA;
        f[0x900] = 0xBB;
        let img = KernelImage::parse(&f, Machine::X86_64).unwrap();
        assert_eq!(
            (img.base, img.size, img.entry),
            (KERNEL_BASE, 0x3000, KERNEL_BASE + 0x10)
        );
        let mut mem = std::vec![0x55u8; 0x3000];
        img.load_into(&mut mem).unwrap();
        assert_eq!(mem[0], 0xAA);
        assert_eq!(mem[0x1000], 0xBB);
        assert_eq!(mem[0x1004], 0, "bss must be zeroed");
        assert_eq!(mem[0x2fff], 0);
        let rights: Vec<_> = img
            .segments()
            .map(|s| (s.rights.write, s.rights.execute))
            .collect();
        assert_eq!(rights, [(false, true), (true, false)]);
    }

    #[test]
    fn refuses_hostile_files() {
        assert_eq!(
            KernelImage::parse(b"", Machine::X86_64).err(),
            Some(ElfError::Malformed)
        );
        assert_eq!(
            KernelImage::parse(&[0xff; 4096], Machine::X86_64).err(),
            Some(ElfError::Malformed)
        );
        let seg = [(e::PT_LOAD, RX, 0x800, KERNEL_BASE, 0x20, 0x20)];
        let good = build_elf(e::EM_X86_64, e::ET_EXEC, KERNEL_BASE, &seg);
        assert!(KernelImage::parse(&good, Machine::X86_64).is_ok());
        // Truncated anywhere: never a panic, always an error.
        for cut in 0..good.len().min(0x820) {
            assert!(
                KernelImage::parse(&good[..cut], Machine::X86_64).is_err(),
                "cut at {cut}"
            );
        }
        assert_eq!(
            KernelImage::parse(&good, Machine::Aarch64).err(),
            Some(ElfError::WrongMachine(e::EM_X86_64))
        );
        let wx = build_elf(
            e::EM_X86_64,
            e::ET_EXEC,
            KERNEL_BASE,
            &[(e::PT_LOAD, RX | e::PF_W, 0x800, KERNEL_BASE, 0x20, 0x20)],
        );
        assert_eq!(
            KernelImage::parse(&wx, Machine::X86_64).err(),
            Some(ElfError::WritableAndExecutable(KERNEL_BASE))
        );
        let low = build_elf(
            e::EM_X86_64,
            e::ET_EXEC,
            0x1000,
            &[(e::PT_LOAD, RX, 0x800, 0x1000, 0x20, 0x20)],
        );
        assert_eq!(
            KernelImage::parse(&low, Machine::X86_64).err(),
            Some(ElfError::SegmentOutOfWindow(0x1000))
        );
        let past = build_elf(
            e::EM_X86_64,
            e::ET_EXEC,
            KERNEL_BASE,
            &[(e::PT_LOAD, RX, 0x800, KERNEL_BASE, 0x9000, 0x9000)],
        );
        assert_eq!(
            KernelImage::parse(&past, Machine::X86_64).err(),
            Some(ElfError::SegmentOutOfFile)
        );
        let wrap = build_elf(
            e::EM_X86_64,
            e::ET_EXEC,
            KERNEL_BASE,
            &[(e::PT_LOAD, RX, 0x800, u64::MAX - 4, 0x20, 0x20)],
        );
        assert!(KernelImage::parse(&wrap, Machine::X86_64).is_err());
        let entry = build_elf(e::EM_X86_64, e::ET_EXEC, KERNEL_BASE + 0x5000, &seg);
        assert_eq!(
            KernelImage::parse(&entry, Machine::X86_64).err(),
            Some(ElfError::BadEntry(KERNEL_BASE + 0x5000))
        );
        let overlap = build_elf(
            e::EM_X86_64,
            e::ET_EXEC,
            KERNEL_BASE,
            &[
                (e::PT_LOAD, RX, 0x800, KERNEL_BASE, 0x20, 0x20),
                (e::PT_LOAD, RW, 0x800, KERNEL_BASE + 0x10, 0x20, 0x20),
            ],
        );
        assert_eq!(
            KernelImage::parse(&overlap, Machine::X86_64).err(),
            Some(ElfError::SegmentsOverlap)
        );
        let rel = build_elf(e::EM_X86_64, 1, KERNEL_BASE, &seg);
        assert_eq!(
            KernelImage::parse(&rel, Machine::X86_64).err(),
            Some(ElfError::WrongType(1))
        );
    }

    #[test]
    fn refuses_too_many_segments() {
        let segs: Vec<_> = (0..9u64)
            .map(|i| (e::PT_LOAD, e::PF_R, 0x800, KERNEL_BASE + i * 0x1000, 8, 8))
            .collect();
        let f = build_elf(e::EM_X86_64, e::ET_EXEC, KERNEL_BASE, &segs);
        assert_eq!(
            KernelImage::parse(&f, Machine::X86_64).err(),
            Some(ElfError::TooManySegments)
        );
    }
}
