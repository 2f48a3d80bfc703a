//! Known answers for each rule, and hostile files (arbitrary and mutated
//! bytes) that must give an error or a consistent image, never a panic.

use super::*;
use proptest::prelude::*;

extern crate std;
use std::vec::Vec;

const LOW: u64 = 0x20_0000;
const HIGH: u64 = 0x1000_0000;

/// One program header: (type, flags, offset, vaddr, filesz, memsz).
type Ph = (u32, u32, u64, u64, u64, u64);

/// A minimal ELF64 little-endian file: header, program headers, then
/// `payload` at offset 0x1000.
fn elf(machine: u16, ty: u16, entry: u64, phs: &[Ph], payload: &[u8]) -> Vec<u8> {
    let mut f = std::vec![0u8; 0x1000];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2; // ELFCLASS64
    f[5] = 1; // little endian
    f[6] = 1; // version
    f[16..18].copy_from_slice(&ty.to_le_bytes());
    f[18..20].copy_from_slice(&machine.to_le_bytes());
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[24..32].copy_from_slice(&entry.to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
    f[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
    f[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
    f[56..58].copy_from_slice(&(phs.len() as u16).to_le_bytes());
    f[58..60].copy_from_slice(&64u16.to_le_bytes()); // shentsize
    for (i, &(pt, flags, off, va, filesz, memsz)) in phs.iter().enumerate() {
        let p = &mut f[64 + 56 * i..64 + 56 * (i + 1)];
        p[0..4].copy_from_slice(&pt.to_le_bytes());
        p[4..8].copy_from_slice(&flags.to_le_bytes());
        p[8..16].copy_from_slice(&off.to_le_bytes());
        p[16..24].copy_from_slice(&va.to_le_bytes());
        p[24..32].copy_from_slice(&va.to_le_bytes());
        p[32..40].copy_from_slice(&filesz.to_le_bytes());
        p[40..48].copy_from_slice(&memsz.to_le_bytes());
        p[48..56].copy_from_slice(&0x1000u64.to_le_bytes());
    }
    f.extend_from_slice(payload);
    f
}

const RX: u32 = e::PF_R | e::PF_X;
const RW: u32 = e::PF_R | e::PF_W;

/// Code page at 0x20_0000 (0x1800 bytes of file), data from 0x20_2100
/// (0x100 file bytes, 0x2000 in memory).
fn good() -> Vec<u8> {
    let payload: Vec<u8> = (0..0x1900u32).map(|i| (i % 251) as u8 + 1).collect();
    elf(
        e::EM_X86_64,
        e::ET_EXEC,
        0x20_0010,
        &[
            (e::PT_LOAD, RX, 0x1000, 0x20_0000, 0x1800, 0x1800),
            (e::PT_LOAD, RW, 0x2800, 0x20_2100, 0x100, 0x2000),
        ],
        &payload,
    )
}

fn parse(f: &[u8]) -> Result<Image<'_>, ImageError> {
    Image::parse(f, Machine::X86_64, LOW, HIGH)
}

#[test]
fn a_well_formed_image_gives_its_pages_and_bytes() {
    let f = good();
    let img = parse(&f).unwrap();
    assert_eq!(img.entry, 0x20_0010);
    let pages: Vec<_> = img.pages().collect();
    let rx = Rights {
        write: false,
        execute: true,
    };
    let rw = Rights {
        write: true,
        execute: false,
    };
    assert_eq!(
        pages,
        [
            (0x20_0000, rx),
            (0x20_1000, rx),
            (0x20_2000, rw),
            (0x20_3000, rw),
            (0x20_4000, rw)
        ]
    );
    let mut page = [0xaau8; 4096];
    img.fill_page(0x20_1000, &mut page);
    assert_eq!(&page[..0x800], &f[0x2000..0x2800]);
    assert!(page[0x800..].iter().all(|&b| b == 0));
    img.fill_page(0x20_2000, &mut page);
    assert!(page[..0x100].iter().all(|&b| b == 0));
    assert_eq!(&page[0x100..0x200], &f[0x2800..0x2900]);
    assert!(page[0x200..].iter().all(|&b| b == 0));
    img.fill_page(0x20_4000, &mut page);
    assert!(page.iter().all(|&b| b == 0));
}

#[test]
fn each_rule_has_its_error() {
    let seg = |flags, va| (e::PT_LOAD, flags, 0x1000u64, va, 0x10u64, 0x10u64);
    let one = |m, t, entry, ph: Ph| elf(m, t, entry, &[ph], &[0x90; 0x10]);
    let x86 = e::EM_X86_64;
    assert_eq!(
        parse(&one(e::EM_AARCH64, e::ET_EXEC, LOW, seg(RX, LOW))).err(),
        Some(ImageError::WrongMachine(e::EM_AARCH64))
    );
    assert_eq!(
        parse(&one(x86, e::ET_DYN, LOW, seg(RX, LOW))).err(),
        Some(ImageError::WrongType(e::ET_DYN))
    );
    assert_eq!(
        parse(&one(x86, e::ET_EXEC, LOW, seg(RX | e::PF_W, LOW))).err(),
        Some(ImageError::WritableAndExecutable(LOW))
    );
    assert_eq!(
        parse(&one(x86, e::ET_EXEC, 0x1000, seg(RX, 0x1000))).err(),
        Some(ImageError::SegmentOutOfWindow(0x1000))
    );
    assert_eq!(
        parse(&one(x86, e::ET_EXEC, HIGH - 8, seg(RX, HIGH - 8))).err(),
        Some(ImageError::SegmentOutOfWindow(HIGH - 8))
    );
    assert_eq!(
        parse(&one(x86, e::ET_EXEC, LOW + 0x100, seg(RW, LOW))).err(),
        Some(ImageError::BadEntry(LOW + 0x100))
    );
    assert_eq!(
        parse(&one(
            x86,
            e::ET_EXEC,
            LOW,
            (e::PT_LOAD, RX, 0x1000, LOW, 0x20, 0x10)
        ))
        .err(),
        Some(ImageError::SegmentOutOfFile)
    );
    assert_eq!(
        parse(&one(
            x86,
            e::ET_EXEC,
            LOW,
            (e::PT_LOAD, RX, 0x1000, LOW, 0x100, 0x100)
        ))
        .err(),
        Some(ImageError::SegmentOutOfFile)
    );
    assert_eq!(
        parse(&one(
            x86,
            e::ET_EXEC,
            LOW,
            (e::PT_NOTE, RX, 0, LOW, 0, 0x10)
        ))
        .err(),
        Some(ImageError::NoSegments)
    );
    // Overlap with other rights; out of order.
    let two = |a: Ph, b: Ph| elf(x86, e::ET_EXEC, LOW, &[a, b], &[0; 0x20]);
    assert_eq!(
        parse(&two(seg(RX, LOW), seg(RW, LOW + 0x800))).err(),
        Some(ImageError::SegmentsOverlap)
    );
    assert_eq!(
        parse(&two(seg(RX, LOW + 0x2000), seg(RW, LOW))).err(),
        Some(ImageError::SegmentsOverlap)
    );
    // Sharing a page with equal rights is one page.
    let shared = two(
        (e::PT_LOAD, RX, 0x1000, LOW, 0x10, 0x10),
        (e::PT_LOAD, RX, 0x1010, LOW + 0x10, 0x10, 0x10),
    );
    assert_eq!(parse(&shared).unwrap().pages().count(), 1);
    let mut many = Vec::new();
    for i in 0..=MAX_SEGMENTS as u64 {
        many.push(seg(RX, LOW + i * 0x1000));
    }
    assert_eq!(
        parse(&elf(x86, e::ET_EXEC, LOW, &many, &[0; 0x10])).err(),
        Some(ImageError::TooManySegments)
    );
    assert_eq!(parse(&good()[..40]).err(), Some(ImageError::Malformed));
    assert_eq!(parse(b"").err(), Some(ImageError::Malformed));
}

/// What every accepted image guarantees the loader.
fn check_consistent(f: &[u8], img: &Image<'_>) {
    for s in img.segments() {
        assert!(s.vaddr >= LOW && s.end() <= HIGH && s.len > 0);
        assert_eq!(s.vaddr % PAGE_SIZE, 0);
        assert!(s.file_offset + s.file_len <= f.len() as u64);
        assert!(!(s.rights.write && s.rights.execute));
    }
    let mut page = [0u8; 4096];
    for (p, _) in img.pages() {
        img.fill_page(p, &mut page);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(img) = parse(&bytes) {
            check_consistent(&bytes, &img);
        }
    }

    #[test]
    fn mutated_images_never_panic(
        edits in proptest::collection::vec((0usize..0xc0, any::<u8>()), 1..8),
        cut in 0usize..0x3000,
    ) {
        let mut f = good();
        for (at, v) in edits {
            f[at] = v;
        }
        f.truncate(cut.max(64));
        if let Ok(img) = parse(&f) {
            check_consistent(&f, &img);
        }
    }
}

#[test]
fn vm_11_segment_mappings_are_never_writable_and_executable() {
    use abi::rights::Rights as R;
    use abi::vm::VmAttributes as A;
    for (write, execute) in [(false, false), (true, false), (false, true), (true, true)] {
        let (r, a) = Rights { write, execute }.mapping();
        assert!(!(r.contains(R::WRITE) && a.contains(A::EXECUTE)));
        assert_eq!(a.contains(A::EXECUTE), execute);
        assert_eq!(r.contains(R::WRITE), write && !execute);
        assert!(r.contains(R::READ));
    }
}
