//! The suite's toolbox: invocations by slot, object creation, scratch
//! mappings, helper threads and fault reception — each a thin layer over
//! `cap-runtime`, so a test reads as the spec's rule it checks.

use abi::cptr::CPtr;
use abi::error::ErrorDetail;
use abi::invocation::Label;
use abi::ipc_buffer::IpcBuffer;
use abi::msginfo::MessageInfo;
use abi::object::ObjectType;
use abi::rights::Rights;
use abi::root_task as rt;
use abi::syscall::Syscall;
use abi::vm::VmAttributes;
use cap_runtime::ipc::{invoke, with_ipc_buffer};
use cap_runtime::message::{InvocationError, Message, Registers, ResultWords};
use cap_runtime::syscall;

/// Radix of the suite's CNode (spawn convention, ABI-20).
pub const RADIX: u32 = 12;
/// The suite's own capabilities (ABI-20).
pub const MY_TCB: u64 = 1;
pub const MY_CNODE: u64 = 2;
pub const MY_VSPACE: u64 = 3;
pub const UNTYPED: u64 = 16;
pub const ASID_POOL: u64 = 17;
pub const ASID_CONTROL: u64 = 18;
pub const IRQ_CONTROL: u64 = 19;
/// The page of the device the IRQ tests drive (a device frame: x86_64
/// the HPET, aarch64 the PL031 real-time clock), from the root task.
pub const DEVICE_FRAME: u64 = 20;
/// The suite's priority and mcp (spawn convention) and its helpers'.
pub const SUITE_PRIORITY: u64 = 100;
pub const HELPER_PRIORITY: u64 = SUITE_PRIORITY + 1;
/// First slot the suite allocates from.
const FIRST_FREE: u64 = 32;

/// Where the suite maps scratch frames in its own address space: the
/// second GiB, whose tables the suite links itself at start.
pub const SCRATCH_BASE: u64 = 0x4000_0000;
/// Scratch pages available (one level-3 table).
const SCRATCH_PAGES: u64 = 512;

/// The outcome of an invocation.
pub type Res = Result<ResultWords, InvocationError>;

/// A kernel error as an invocation result.
pub fn kerr(e: ErrorDetail) -> Res {
    Err(InvocationError::Kernel(e))
}

/// Slot `i` of the suite's CNode as a capability address.
pub fn cptr(i: u64) -> CPtr {
    match CPtr::new(i, RADIX) {
        Ok(c) => c,
        Err(_) => panic!("slot {i} out of range"),
    }
}

/// Invoke slot `slot` with `label`, `words` and extra capabilities in
/// slots `caps`.
pub fn call(slot: u64, label: Label, words: &[u64], caps: &[u64]) -> Res {
    call_raw(slot, label as u64, words, caps)
}

/// As [`call`] with a raw label.
pub fn call_raw(slot: u64, label: u64, words: &[u64], caps: &[u64]) -> Res {
    let mut m = match Message::with_words(label, words) {
        Ok(m) => m,
        Err(e) => panic!("message {label}: {e:?}"),
    };
    for &c in caps {
        if let Err(e) = m.push_cap(cptr(c)) {
            panic!("message {label}: {e:?}");
        }
    }
    invoke(cptr(slot), &m)
}

/// The state the suite keeps between tests.
pub struct Suite {
    next_slot: u64,
    next_scratch: u64,
    /// The endpoint (full rights) every helper thread's faults go to.
    pub fault_ep: u64,
    /// Helper threads started so far (each gets its own stack).
    pub helpers: u64,
}

impl Suite {
    /// Set up: the scratch tables and the fault endpoint.
    pub fn new() -> Suite {
        let mut s = Suite {
            next_slot: FIRST_FREE,
            next_scratch: 0,
            fault_ep: 0,
            helpers: 0,
        };
        let tables = s.retype(ObjectType::PageTable, 0, 2);
        for t in tables..tables + 2 {
            if let Err(e) = call(t, Label::PageTableMap, &[SCRATCH_BASE], &[MY_VSPACE]) {
                panic!("linking the scratch tables: {e:?}");
            }
        }
        s.fault_ep = s.retype(ObjectType::Endpoint, 0, 1);
        let park = s.retype(ObjectType::Endpoint, 0, 1);
        crate::threads::REPORT_EP.store(s.fault_ep, core::sync::atomic::Ordering::Relaxed);
        crate::threads::PARK_EP.store(park, core::sync::atomic::Ordering::Relaxed);
        s
    }

    /// A free slot of the suite's CNode.
    pub fn slot(&mut self) -> u64 {
        self.slots(1)
    }

    /// `n` consecutive free slots.
    pub fn slots(&mut self, n: u64) -> u64 {
        let s = self.next_slot;
        assert!(s + n < 1 << RADIX, "out of slots");
        self.next_slot += n;
        s
    }

    /// Retype `count` objects from the suite's untyped into fresh slots;
    /// panics on failure (setup, not a test).
    pub fn retype(&mut self, ty: ObjectType, size_bits: u64, count: u64) -> u64 {
        let at = self.slots(count);
        if let Err(e) = self.retype_into(UNTYPED, ty, size_bits, at, count) {
            panic!("retype {ty:?}: {e:?}");
        }
        at
    }

    /// One Retype from untyped `ut` into slots `at ..`.
    pub fn retype_into(
        &mut self,
        ut: u64,
        ty: ObjectType,
        size_bits: u64,
        at: u64,
        count: u64,
    ) -> Res {
        call(
            ut,
            Label::UntypedRetype,
            &[ty as u64, size_bits, at, count],
            &[MY_CNODE],
        )
    }

    /// A fresh scratch page address in the suite's address space.
    pub fn scratch(&mut self) -> u64 {
        assert!(self.next_scratch < SCRATCH_PAGES, "out of scratch pages");
        let va = SCRATCH_BASE + self.next_scratch * 4096;
        self.next_scratch += 1;
        va
    }

    /// A new 4 KiB frame mapped read-write at a scratch address: (slot,
    /// address).
    pub fn mapped_frame(&mut self) -> (u64, u64) {
        let f = self.retype(ObjectType::Frame4K, 0, 1);
        let va = self.scratch();
        if let Err(e) = map(f, MY_VSPACE, va, Rights::READ_WRITE, VmAttributes::NONE) {
            panic!("mapping a scratch frame: {e:?}");
        }
        (f, va)
    }

    /// A copy of the capability in `src` with `rights`, in a fresh slot.
    pub fn copy(&mut self, src: u64, rights: Rights) -> u64 {
        let d = self.slot();
        if let Err(e) = call(
            MY_CNODE,
            Label::CNodeCopy,
            &[d, src, rights.bits()],
            &[MY_CNODE],
        ) {
            panic!("copy of slot {src}: {e:?}");
        }
        d
    }

    /// A badged copy of the endpoint or notification in `src`.
    pub fn mint(&mut self, src: u64, rights: Rights, badge: u64) -> u64 {
        let d = self.slot();
        if let Err(e) = call(
            MY_CNODE,
            Label::CNodeMint,
            &[d, src, rights.bits(), badge],
            &[MY_CNODE],
        ) {
            panic!("mint of slot {src}: {e:?}");
        }
        d
    }

    /// A helper thread in the suite's own address space and CSpace, not
    /// started: configured with a fresh IPC-buffer frame mapped at a
    /// scratch address, priority `HELPER_PRIORITY` (above the suite's, so
    /// it runs as soon as it can, until it blocks), faults to `fault_ep`
    /// with badge `badge`. Returns the TCB slot, the IPC-buffer address
    /// and the IPC-buffer frame's slot.
    pub fn helper_tcb(&mut self, badge: u64) -> (u64, u64, u64) {
        let t = self.retype(ObjectType::Tcb, 0, 1);
        let (frame, buf) = self.mapped_frame();
        ok_or_panic(
            call(
                t,
                Label::TcbConfigure,
                &[buf],
                &[MY_CNODE, MY_VSPACE, frame],
            ),
            "configure helper",
        );
        ok_or_panic(
            call(t, Label::TcbSetPriority, &[HELPER_PRIORITY], &[MY_TCB]),
            "helper priority",
        );
        let fep = self.mint(self.fault_ep, Rights::ALL, badge);
        ok_or_panic(
            call(t, Label::TcbSetFaultEndpoint, &[], &[fep]),
            "helper fault endpoint",
        );
        (t, buf, frame)
    }

    /// Start helper thread `t` at `entry(arg)` on a fresh stack.
    pub fn start(&mut self, t: u64, entry: extern "C" fn(u64) -> !, arg: u64) {
        let stack = crate::threads::stack(self.helpers);
        self.helpers += 1;
        let words = start_registers(entry as usize as u64, stack, arg);
        ok_or_panic(
            call(t, Label::TcbWriteRegisters, &words.1[..words.0], &[]),
            "helper registers",
        );
        ok_or_panic(call(t, Label::TcbResume, &[], &[]), "resume helper");
    }

    /// A started helper running `entry` on `slot` (the argument is its
    /// IPC buffer's address plus the slot): (TCB slot, buffer address).
    pub fn helper(&mut self, entry: extern "C" fn(u64) -> !, slot: u64, badge: u64) -> (u64, u64) {
        let (t, buf, _) = self.helper_tcb(badge);
        self.start(t, entry, buf | slot);
        (t, buf)
    }

    /// Delete the capability in `slot` (a helper's TCB: the thread goes).
    pub fn delete(&mut self, slot: u64) {
        ok_or_panic(call(MY_CNODE, Label::CNodeDelete, &[slot], &[]), "delete");
    }
}

/// Panic with `what` if `r` failed (setup steps, not tests).
pub fn ok_or_panic(r: Res, what: &str) -> ResultWords {
    match r {
        Ok(w) => w,
        Err(e) => panic!("{what}: {e:?}"),
    }
}

/// Frame Map.
pub fn map(frame: u64, vspace: u64, va: u64, rights: Rights, attrs: VmAttributes) -> Res {
    call(
        frame,
        Label::FrameMap,
        &[va, rights.bits(), attrs.bits()],
        &[vspace],
    )
}

/// The WriteRegisters words (flags 0, count, values) that start a thread
/// at `pc` with stack top `sp` and first argument `arg` (ABI-10 order).
/// Returns (number of words, words).
pub fn start_registers(pc: u64, sp: u64, arg: u64) -> (usize, [u64; 12]) {
    let mut w = [0u64; 12];
    #[cfg(target_arch = "x86_64")]
    {
        // rip, rsp, rflags, rax, rbx, rcx, rdx, rsi, rdi: a function is
        // entered with rsp ≡ 8 (mod 16), as after a call.
        let regs = [pc, sp - 8, 0x202, 0, 0, 0, 0, 0, arg];
        w[0] = 0;
        w[1] = regs.len() as u64;
        w[2..2 + regs.len()].copy_from_slice(&regs);
        (2 + regs.len(), w)
    }
    #[cfg(target_arch = "aarch64")]
    {
        // pc, sp, spsr, x0.
        let regs = [pc, sp, 0, arg];
        w[0] = 0;
        w[1] = regs.len() as u64;
        w[2..2 + regs.len()].copy_from_slice(&regs);
        (2 + regs.len(), w)
    }
}

/// A received message: badge, label, length and the first 12 words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Msg {
    pub badge: u64,
    pub label: u64,
    pub len: usize,
    pub extra: u64,
    pub unwrapped: u64,
    pub words: [u64; 12],
}

/// Read what a receive delivered.
pub fn read_msg(out: Registers, buf: &IpcBuffer) -> Msg {
    let info = MessageInfo::from_raw(out.info);
    let mut m = Msg {
        badge: out.cptr_or_badge,
        label: info.label(),
        len: info.length() as usize,
        extra: info.extra_caps(),
        unwrapped: info.caps_unwrapped(),
        words: [0; 12],
    };
    for i in 0..m.len.min(12) {
        m.words[i] = if i < 4 { out.mrs[i] } else { buf.msg[i] };
    }
    m
}

/// Receive on `slot` (an endpoint or notification) with the suite's
/// thread; blocks.
pub fn recv(slot: u64) -> Msg {
    with_ipc_buffer(|buf| {
        let out = syscall::recv(
            Registers {
                cptr_or_badge: cptr(slot).raw(),
                ..Registers::default()
            },
            buf,
        );
        read_msg(out, buf)
    })
}

/// NBRecv (poll) on `slot`.
pub fn poll(slot: u64) -> Msg {
    with_ipc_buffer(|buf| {
        let out = syscall::nb_recv(
            Registers {
                cptr_or_badge: cptr(slot).raw(),
                ..Registers::default()
            },
            buf,
        );
        read_msg(out, buf)
    })
}

/// Send `words` with `label` on `slot` by system call `sys` (Send, NBSend
/// or Call); returns what Call delivered back.
pub fn ipc(sys: Syscall, slot: u64, label: u64, words: &[u64], caps: &[u64]) -> Msg {
    let mut m = match Message::with_words(label, words) {
        Ok(m) => m,
        Err(e) => panic!("message: {e:?}"),
    };
    for &c in caps {
        if let Err(e) = m.push_cap(cptr(c)) {
            panic!("message: {e:?}");
        }
    }
    with_ipc_buffer(|buf| {
        let regs = m.stage(cptr(slot), buf);
        match sys {
            Syscall::Send => {
                syscall::send(regs, buf);
                Msg::default()
            }
            Syscall::NBSend => {
                syscall::nb_send(regs, buf);
                Msg::default()
            }
            Syscall::Call => {
                let out = syscall::call(regs, buf);
                read_msg(out, buf)
            }
            other => panic!("ipc by {other:?}"),
        }
    })
}

/// Reply to the caller in the suite's reply slot with `label` and
/// `words`.
pub fn reply(label: u64, words: &[u64]) {
    let m = match Message::with_words(label, words) {
        Ok(m) => m,
        Err(e) => panic!("message: {e:?}"),
    };
    with_ipc_buffer(|buf| {
        let regs = m.stage(cptr(0), buf);
        syscall::reply(regs, buf);
    });
}

/// Volatile read of the word at `va`.
pub fn peek(va: u64) -> u64 {
    // SAFETY: callers pass an address they mapped readable in this
    // address space; a volatile access of a plain word has no other
    // requirement.
    unsafe { core::ptr::read_volatile(va as *const u64) }
}

/// Volatile write of the word at `va`.
pub fn poke(va: u64, v: u64) {
    // SAFETY: callers pass an address they mapped writable and that no
    // Rust reference covers (scratch mappings).
    unsafe { core::ptr::write_volatile(va as *mut u64, v) }
}

/// The root task's layout constants the suite shares (spawn, ABI-20).
pub const IPC_BUFFER_VADDR: u64 = rt::IPC_BUFFER_VADDR;
