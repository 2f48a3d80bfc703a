//! spawn against a recording kernel: the invocations it makes, the pages
//! it writes, and what it undoes when any one of them fails.

use super::*;
use crate::cap::{Kind, Untyped};
use crate::message::{InvocationError, Message, Received, Registers, ResultWords};
use abi::cptr::CPtr;
use abi::error::ErrorDetail;
use abi::invocation::Label;
use std::collections::BTreeMap;

/// One recorded Call.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Call {
    cptr: CPtr,
    label: Label,
    words: Vec<u64>,
    caps: Vec<CPtr>,
}

/// Answers every Call with success, except call number `fail_at`; keeps
/// what was written through the scratch page per frame.
struct Mock {
    calls: Vec<Call>,
    fail_at: Option<(usize, ErrorDetail)>,
    scratch_frame: Option<CPtr>,
    contents: BTreeMap<u64, Vec<u8>>,
}

impl Mock {
    fn new() -> Mock {
        Mock {
            calls: vec![],
            fail_at: None,
            scratch_frame: None,
            contents: BTreeMap::new(),
        }
    }
}

fn ok() -> Result<ResultWords, InvocationError> {
    Received::new(Registers::default(), &zerocopy::FromZeros::new_zeroed()).result()
}

impl Invoke for Mock {
    fn invoke(&mut self, cptr: CPtr, msg: &Message) -> Result<ResultWords, InvocationError> {
        let call = Call {
            cptr,
            label: Label::try_from(msg.label()).unwrap(),
            words: msg.words().to_vec(),
            caps: msg.caps().to_vec(),
        };
        let n = self.calls.len();
        self.calls.push(call.clone());
        if let Some((at, detail)) = self.fail_at
            && at == n
        {
            return Err(InvocationError::Kernel(detail));
        }
        match call.label {
            Label::FrameMap if call.words[0] == p::SCRATCH_VADDR => {
                assert_eq!(self.scratch_frame, None, "scratch mapped twice");
                assert_eq!(call.caps[0], caller_vspace().cptr());
                assert_eq!(call.words[1], Rights::READ_WRITE.bits());
                self.scratch_frame = Some(cptr);
            }
            Label::FrameUnmap if self.scratch_frame == Some(cptr) => self.scratch_frame = None,
            _ => {}
        }
        ok()
    }
}

impl Scratch for Mock {
    fn scratch_vaddr(&self) -> u64 {
        p::SCRATCH_VADDR
    }

    unsafe fn with_scratch(&mut self, f: &mut dyn FnMut(&mut [u8; PAGE])) {
        let frame = self
            .scratch_frame
            .expect("nothing mapped at the scratch page");
        let mut page = [0xAAu8; PAGE];
        f(&mut page);
        self.contents.insert(frame.raw(), page.to_vec());
    }
}

const RADIX: u32 = 12;

fn cap<K: Kind>(slot: u64) -> Cap<K> {
    Cap::new(CPtr::new(slot, RADIX).unwrap())
}

fn caller_vspace() -> Cap<VSpace> {
    cap(3)
}

const EM: u16 = if cfg!(target_arch = "aarch64") {
    183
} else {
    62
};

/// A static executable: code at 4 MiB (2 pages), data with bss (4 pages),
/// read-only data in the next 2 MiB region (1 page).
fn elf() -> Vec<u8> {
    let phs: [(u32, u64, u64, u64, u64); 3] = [
        // (flags, offset, vaddr, filesz, memsz)
        (5, 0x1000, 0x40_0000, 0x1800, 0x1800),
        (6, 0x2800, 0x40_2100, 0x100, 0x3000),
        (4, 0x2900, 0x60_0000, 0x10, 0x10),
    ];
    let mut f = vec![0u8; 0x1000];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2;
    f[5] = 1;
    f[6] = 1;
    f[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f[18..20].copy_from_slice(&EM.to_le_bytes());
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[24..32].copy_from_slice(&0x40_0010u64.to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes());
    f[52..54].copy_from_slice(&64u16.to_le_bytes());
    f[54..56].copy_from_slice(&56u16.to_le_bytes());
    f[56..58].copy_from_slice(&(phs.len() as u16).to_le_bytes());
    f[58..60].copy_from_slice(&64u16.to_le_bytes());
    for (i, &(flags, off, va, filesz, memsz)) in phs.iter().enumerate() {
        let h = &mut f[64 + 56 * i..64 + 56 * (i + 1)];
        h[0..4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        h[4..8].copy_from_slice(&flags.to_le_bytes());
        h[8..16].copy_from_slice(&off.to_le_bytes());
        h[16..24].copy_from_slice(&va.to_le_bytes());
        h[24..32].copy_from_slice(&va.to_le_bytes());
        h[32..40].copy_from_slice(&filesz.to_le_bytes());
        h[40..48].copy_from_slice(&memsz.to_le_bytes());
        h[48..56].copy_from_slice(&0x1000u64.to_le_bytes());
    }
    f.extend((0..0x1910u32).map(|i| (i % 251) as u8 + 1));
    f
}

/// The caller's state: slots 100 … 199 free, one 16 MiB untyped.
struct World {
    slots: SlotAllocator,
    untypeds: UntypedAllocator,
}

impl World {
    fn new() -> World {
        let mut untypeds = UntypedAllocator::new();
        untypeds.add(cap::<Untyped>(16), 24, false, 0).unwrap();
        World {
            slots: SlotAllocator::new(100, 200, RADIX).unwrap(),
            untypeds,
        }
    }

    fn caller(&mut self) -> Caller<'_> {
        Caller {
            cnode: cap(2),
            vspace: caller_vspace(),
            tcb: cap(1),
            slots: &mut self.slots,
            untypeds: &mut self.untypeds,
        }
    }
}

const PASSED: [PassCap; 3] = [
    PassCap {
        slot: 20,
        how: Pass::Move,
    },
    PassCap {
        slot: 6,
        how: Pass::Copy(Rights::READ),
    },
    PassCap {
        slot: 30,
        how: Pass::Mint(Rights::ALL, 5),
    },
];

fn config(elf: &[u8]) -> Config<'_> {
    Config {
        elf,
        asid_pool: cap(6),
        fault_endpoint: Some(cap(40)),
        priority: 100,
        mcp: 200,
        arg: 0xfeed,
        caps: &PASSED,
    }
}

fn labelled(calls: &[Call], label: Label) -> Vec<&Call> {
    calls.iter().filter(|c| c.label == label).collect()
}

#[test]
fn abi_20_spawn_builds_the_process_layout() {
    // spec: ABI-20, UT-3, ASID-5, VM-9, VM-6, CNODE-2, CNODE-3, CNODE-4,
    // TCB-6, TCB-12, TCB-7, TCB-8, TCB-5
    let file = elf();
    let mut k = Mock::new();
    let mut w = World::new();
    let pr = spawn(&mut k, &mut w.caller(), &config(&file)).unwrap();
    assert_eq!(
        (pr.tcb, pr.cnode, pr.vspace, pr.objects),
        (cap(100), cap(101), cap(102), cap(103))
    );
    assert_eq!(
        (pr.entry, pr.image_pages, pr.page_tables),
        (0x40_0010, 7, 5)
    );
    // 5 tables + 7 image frames + 16 stack frames + 1 IPC buffer = 29
    // slots: an objects CNode of radix 5.
    let obj = |i: u64| CPtr::new((103 << 5) | i, RADIX + 5).unwrap();
    let calls = &k.calls;

    let retypes: Vec<_> = labelled(calls, Label::UntypedRetype)
        .iter()
        .map(|c| c.words.clone())
        .collect();
    assert_eq!(
        retypes,
        vec![
            vec![ObjectType::CNode as u64, 12, 101, 1],
            vec![ObjectType::CNode as u64, 5, 103, 1],
            vec![ObjectType::VSpace as u64, 0, 102, 1],
            vec![ObjectType::PageTable as u64, 0, 0, 5],
            vec![ObjectType::Frame4K as u64, 0, 5, 24],
            vec![ObjectType::Tcb as u64, 0, 100, 1],
        ]
    );
    for r in labelled(calls, Label::UntypedRetype) {
        let dest = if r.words[0] == ObjectType::PageTable as u64
            || r.words[0] == ObjectType::Frame4K as u64
        {
            cap::<CNode>(103).cptr()
        } else {
            cap::<CNode>(2).cptr()
        };
        assert_eq!(
            (r.cptr, r.caps.clone()),
            (cap::<Untyped>(16).cptr(), vec![dest])
        );
    }

    let assign = labelled(calls, Label::AsidPoolAssign);
    assert_eq!(
        (assign[0].cptr, &assign[0].caps),
        (cap::<AsidPool>(6).cptr(), &vec![cap::<VSpace>(102).cptr()])
    );

    // Tables linked top down, one per level for the first page, then one
    // level-3 table per further 2 MiB region.
    let tables: Vec<_> = labelled(calls, Label::PageTableMap)
        .iter()
        .map(|c| (c.cptr, c.words[0]))
        .collect();
    assert_eq!(
        tables,
        vec![
            (obj(0), 0x40_0000),
            (obj(1), 0x40_0000),
            (obj(2), 0x40_0000),
            (obj(3), 0x60_0000),
            (obj(4), 0x1000_0000),
        ]
    );

    // Every image frame is written through the scratch page with the
    // image's bytes, then mapped in the child with its segment's rights.
    let image = Image::parse(&file, Machine::NATIVE, p::IMAGE_LOW, p::IMAGE_HIGH).unwrap();
    let child_maps: BTreeMap<u64, (CPtr, u64, u64)> = labelled(calls, Label::FrameMap)
        .iter()
        .filter(|c| c.caps[0] == cap::<VSpace>(102).cptr())
        .map(|c| (c.words[0], (c.cptr, c.words[1], c.words[2])))
        .collect();
    assert_eq!(child_maps.len(), 7 + 16 + 1);
    for (i, (va, r)) in image.pages().enumerate() {
        let (frame, rights, attrs) = child_maps[&va];
        assert_eq!(frame, obj(5 + i as u64));
        let mut want = [0u8; PAGE];
        image.fill_page(va, &mut want);
        match k.contents.get(&frame.raw()) {
            Some(got) => assert_eq!(got, &want.to_vec(), "page {va:#x}"),
            // Not written: a page of zeros (the frame is new, UT-9).
            None => assert_eq!(want, [0; PAGE], "page {va:#x}"),
        }
        let expect = match (r.execute, r.write) {
            (true, _) => (Rights::READ.bits(), VmAttributes::EXECUTE.bits()),
            (false, true) => (Rights::READ_WRITE.bits(), 0),
            (false, false) => (Rights::READ.bits(), 0),
        };
        assert_eq!((rights, attrs), expect, "page {va:#x}");
    }
    // Code (2 pages), the data page, rodata: the 3 .bss pages are not.
    assert_eq!(
        k.contents.len(),
        4,
        "only pages with file bytes are written"
    );
    assert_eq!(k.scratch_frame, None, "the scratch page is left unmapped");
    for i in 0..16 {
        let (frame, rights, attrs) = child_maps[&(p::STACK_BOTTOM + i * 4096)];
        assert_eq!((frame, rights, attrs), (obj(12 + i), 3, 0));
    }
    assert!(
        !child_maps.contains_key(&(p::STACK_BOTTOM - 4096)),
        "guard page"
    );
    assert_eq!(child_maps[&p::IPC_BUFFER_VADDR], (obj(28), 3, 0));
    assert!(!child_maps.contains_key(&p::SCRATCH_VADDR));

    // The CNode: 1, 2, 3, 7, then the passed capabilities from 16 on.
    let child = cap::<CNode>(101).cptr();
    let into_child: Vec<_> = calls
        .iter()
        .filter(|c| c.cptr == child)
        .map(|c| (c.label, c.words.clone(), c.caps.clone()))
        .collect();
    let me = vec![cap::<CNode>(2).cptr()];
    assert_eq!(
        into_child,
        vec![
            (Label::CNodeCopy, vec![slot::TCB, 100, 15], me.clone()),
            (Label::CNodeCopy, vec![slot::CNODE, 101, 15], me.clone()),
            (Label::CNodeCopy, vec![slot::VSPACE, 102, 15], me.clone()),
            (
                Label::CNodeCopy,
                vec![slot::IPC_BUFFER, 28, 15],
                vec![cap::<CNode>(103).cptr()]
            ),
            (Label::CNodeMove, vec![16, 20], me.clone()),
            (Label::CNodeCopy, vec![17, 6, 1], me.clone()),
            (Label::CNodeMint, vec![18, 30, 15, 5], me.clone()),
        ]
    );

    // The thread, last of all.
    let tcb = cap::<Tcb>(100).cptr();
    let on_tcb: Vec<_> = calls
        .iter()
        .filter(|c| c.cptr == tcb)
        .map(|c| (c.label, c.words.clone(), c.caps.clone()))
        .collect();
    let (regs, n) = initial_registers(&LAYOUT, 0x40_0010, 0xfeed);
    let mut write = vec![1, n as u64];
    write.extend_from_slice(&regs[..n]);
    assert_eq!(
        on_tcb,
        vec![
            (
                Label::TcbConfigure,
                vec![p::IPC_BUFFER_VADDR],
                vec![child, cap::<VSpace>(102).cptr(), obj(28)]
            ),
            (
                Label::TcbSetFaultEndpoint,
                vec![],
                vec![cap::<Endpoint>(40).cptr()]
            ),
            (
                Label::TcbSetMcPriority,
                vec![200],
                vec![cap::<Tcb>(1).cptr()]
            ),
            (Label::TcbSetPriority, vec![100], vec![cap::<Tcb>(1).cptr()]),
            (Label::TcbWriteRegisters, write, vec![]),
        ]
    );
    assert_eq!(calls.last().unwrap().label, Label::TcbWriteRegisters);
    assert_eq!(w.slots.available(), 100 - 4);
}

#[test]
fn abi_20_the_first_registers_are_pc_sp_and_the_argument() {
    // spec: ABI-20, ABI-5, ABI-10
    let (x, n) = initial_registers(&Layout::X86_64, 0x40_0000, 7);
    assert_eq!(n, 9, "up to rdi");
    assert_eq!(&x[..9], &[0x40_0000, p::STACK_TOP, 0, 0, 0, 0, 0, 0, 7]);
    let (a, n) = initial_registers(&Layout::AARCH64, 0x40_0000, 7);
    assert_eq!(n, 4, "up to x0");
    assert_eq!(&a[..4], &[0x40_0000, p::STACK_TOP, 0, 7]);
}

#[test]
fn a_failure_anywhere_is_named_and_undone() {
    let file = elf();
    let mut k = Mock::new();
    let mut w = World::new();
    spawn(&mut k, &mut w.caller(), &config(&file)).unwrap();
    let all = k.calls.clone();
    let detail = ErrorDetail::IllegalOperation;
    for (n, failing) in all.iter().enumerate() {
        let mut k = Mock::new();
        k.fail_at = Some((n, detail));
        let mut w = World::new();
        let e = spawn(&mut k, &mut w.caller(), &config(&file)).unwrap_err();
        assert_eq!(
            e,
            SpawnError::Invocation(InvokeError::Kernel {
                label: failing.label,
                detail
            }),
            "call {n}"
        );
        assert_eq!(
            &k.calls[..=n],
            &all[..=n],
            "the same path up to the failure"
        );
        let undo = &k.calls[n + 1..];
        // Every slot spawn took is revoked, deleted and free again.
        assert_eq!(w.slots.available(), 100, "call {n}");
        for s in 100..104 {
            for label in [Label::CNodeRevoke, Label::CNodeDelete] {
                assert!(
                    undo.iter().any(|c| c.label == label
                        && c.cptr == cap::<CNode>(2).cptr()
                        && c.words == [s]),
                    "call {n}: no {label:?} of slot {s}"
                );
            }
        }
        // What was moved to the child came back to its slot, before the
        // child's CNode was deleted.
        let moved = all[..n]
            .iter()
            .any(|c| c.label == Label::CNodeMove && c.words == [16, 20]);
        let back = undo.iter().position(|c| {
            c.label == Label::CNodeMove
                && c.cptr == cap::<CNode>(2).cptr()
                && c.words == [20, 16]
                && c.caps == [cap::<CNode>(101).cptr()]
        });
        assert_eq!(back.is_some(), moved, "call {n}");
        if let Some(b) = back {
            let delete = undo
                .iter()
                .position(|c| c.label == Label::CNodeDelete && c.words == [101])
                .unwrap();
            assert!(b < delete);
        }
        // Nothing is left mapped at the scratch page.
        assert_eq!(k.scratch_frame, None, "call {n}");
        // The thread was never started.
        assert!(
            !undo.iter().any(|c| c.label == Label::TcbWriteRegisters),
            "call {n}"
        );
    }
}

#[test]
fn hostile_images_and_arguments_are_refused_before_any_invocation() {
    let mut w = World::new();
    let mut k = Mock::new();
    let mut file = elf();
    file[18] ^= 0xff;
    assert!(matches!(
        spawn(&mut k, &mut w.caller(), &config(&file)),
        Err(SpawnError::Image(ImageError::WrongMachine(_)))
    ));
    let file = elf();
    assert!(matches!(
        spawn(&mut k, &mut w.caller(), &config(&file[..0x1100])),
        Err(SpawnError::Image(ImageError::SegmentOutOfFile))
    ));
    let many = vec![
        PassCap {
            slot: 5,
            how: Pass::Move
        };
        p::MAX_PASSED + 1
    ];
    let cfg = Config {
        caps: &many,
        ..config(&file)
    };
    assert_eq!(
        spawn(&mut k, &mut w.caller(), &cfg),
        Err(SpawnError::TooManyCaps(p::MAX_PASSED + 1))
    );
    assert!(k.calls.is_empty());
    assert_eq!(w.slots.available(), 100);
}

#[test]
fn running_out_of_slots_or_memory_is_a_typed_error_and_undone() {
    let file = elf();
    // Three free slots: the fourth is missing.
    let mut k = Mock::new();
    let mut slots = SlotAllocator::new(100, 103, RADIX).unwrap();
    let mut untypeds = World::new().untypeds;
    let mut caller = Caller {
        cnode: cap(2),
        vspace: caller_vspace(),
        tcb: cap(1),
        slots: &mut slots,
        untypeds: &mut untypeds,
    };
    assert_eq!(
        spawn(&mut k, &mut caller, &config(&file)),
        Err(SpawnError::NoSlots)
    );
    assert_eq!(slots.available(), 3);
    // 64 KiB of untyped: the 128 KiB CNode does not fit.
    let mut k = Mock::new();
    let mut w = World::new();
    w.untypeds = UntypedAllocator::new();
    w.untypeds.add(cap::<Untyped>(16), 16, false, 0).unwrap();
    assert_eq!(
        spawn(&mut k, &mut w.caller(), &config(&file)),
        Err(SpawnError::NoMemory { bits: 17, count: 1 })
    );
    assert_eq!(w.slots.available(), 100);
    assert!(
        k.calls
            .iter()
            .all(|c| matches!(c.label, Label::CNodeRevoke | Label::CNodeDelete))
    );
}

#[test]
fn plans_grow_with_the_image_and_stop_at_the_limits() {
    let file = elf();
    let image = Image::parse(&file, Machine::NATIVE, p::IMAGE_LOW, p::IMAGE_HIGH).unwrap();
    let plan = plan(&image, 12).unwrap();
    assert_eq!(
        plan,
        Plan {
            image_pages: 7,
            page_tables: 5,
            objects_radix: 5
        }
    );
    assert_eq!(
        (plan.frames(), plan.first_stack_frame(), plan.ipc_frame()),
        (24, 12, 28)
    );
    // A caller CSpace so deep that the objects' addresses would not fit.
    assert_eq!(super::plan(&image, 52), Err(SpawnError::TooBig));
}

#[test]
fn destroy_deletes_the_four_capabilities_in_order_and_frees_their_slots() {
    let file = elf();
    let mut k = Mock::new();
    let mut w = World::new();
    let pr = spawn(&mut k, &mut w.caller(), &config(&file)).unwrap();
    let before = k.calls.len();
    pr.destroy(&mut k, &mut w.caller()).unwrap();
    let got: Vec<_> = k.calls[before..]
        .iter()
        .map(|c| (c.label, c.words[0]))
        .collect();
    let mut want = vec![];
    for s in [100, 101, 102, 103] {
        want.push((Label::CNodeRevoke, s));
        want.push((Label::CNodeDelete, s));
    }
    assert_eq!(got, want);
    assert_eq!(w.slots.available(), 100);
}
