//! Kernel invocations as typed functions, over any [`Invoke`]: the real
//! system call ([`Syscalls`], bare-metal targets only) or a test double,
//! so that what builds on them (the untyped allocator's retype, `spawn`)
//! is tested on the host.
//!
//! Each function builds the message of its rule — words and extra
//! capabilities in the order the spec lists them — makes the Call, and
//! decodes the answer; a failure names the invocation ([`InvokeError`]).

use crate::cap::{AsidPool, CNode, Cap, Endpoint, Frame4K, Kind, PageTable, Tcb, Untyped, VSpace};
use crate::message::{InvocationError, Message, MessageError, ResultWords};
use abi::cptr::CPtr;
use abi::error::{BadDetail, ErrorDetail};
use abi::invocation::Label;
use abi::object::ObjectType;
use abi::rights::Rights;
use abi::vm::VmAttributes;
use core::fmt;

/// Something that makes Calls on kernel objects (spec: SYS-9).
pub trait Invoke {
    /// Invoke the capability at `cptr` with `msg` and wait for the answer.
    fn invoke(&mut self, cptr: CPtr, msg: &Message) -> Result<ResultWords, InvocationError>;
}

/// The real thing: the `Call` system call through this thread's IPC
/// buffer ([`crate::ipc::invoke`]).
#[cfg(target_os = "none")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Syscalls;

#[cfg(target_os = "none")]
impl Invoke for Syscalls {
    fn invoke(&mut self, cptr: CPtr, msg: &Message) -> Result<ResultWords, InvocationError> {
        crate::ipc::invoke(cptr, msg)
    }
}

/// A kernel invocation that did not succeed, and which one it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvokeError {
    /// The kernel refused it (spec: ERR-1, ERR-2).
    Kernel {
        /// The invocation.
        label: Label,
        /// The error and its detail words.
        detail: ErrorDetail,
    },
    /// The answer was not a kernel result (spec: SYS-10): the capability
    /// named a user server's endpoint, not a kernel object.
    NotAResult {
        /// The invocation.
        label: Label,
        /// What was wrong with the answer.
        bad: BadDetail,
    },
    /// The message could not be built.
    Message {
        /// The invocation.
        label: Label,
        /// Which limit it broke.
        error: MessageError,
    },
}

impl InvokeError {
    /// The invocation that failed.
    pub fn label(&self) -> Label {
        match *self {
            InvokeError::Kernel { label, .. }
            | InvokeError::NotAResult { label, .. }
            | InvokeError::Message { label, .. } => label,
        }
    }

    /// The kernel's error, if the kernel refused it.
    pub fn detail(&self) -> Option<ErrorDetail> {
        match *self {
            InvokeError::Kernel { detail, .. } => Some(detail),
            _ => None,
        }
    }
}

impl fmt::Display for InvokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvokeError::Kernel { label, detail } => write!(f, "{label:?} failed: {detail:?}"),
            InvokeError::NotAResult { label, bad } => {
                write!(f, "{label:?} got an answer that is no result: {bad:?}")
            }
            InvokeError::Message { label, error } => {
                write!(f, "{label:?}: message not built: {error:?}")
            }
        }
    }
}

/// Invoke `cptr` with `label`, `words` and the extra capabilities `caps`.
pub fn invoke<I: Invoke + ?Sized>(
    k: &mut I,
    cptr: CPtr,
    label: Label,
    words: &[u64],
    caps: &[CPtr],
) -> Result<ResultWords, InvokeError> {
    let built = Message::with_words(label.raw(), words).and_then(|mut m| {
        for &c in caps {
            m.push_cap(c)?;
        }
        Ok(m)
    });
    let msg = built.map_err(|error| InvokeError::Message { label, error })?;
    k.invoke(cptr, &msg).map_err(|e| match e {
        InvocationError::Kernel(detail) => InvokeError::Kernel { label, detail },
        InvocationError::NotAResult(bad) => InvokeError::NotAResult { label, bad },
    })
}

fn unit(r: Result<ResultWords, InvokeError>) -> Result<(), InvokeError> {
    r.map(|_| ())
}

/// Untyped Retype (spec: UT-3): `count` objects of type `ty` (`size_bits`
/// as UT-4 reads it) into slots `offset ..` of `dest`.
pub fn retype<I: Invoke + ?Sized>(
    k: &mut I,
    untyped: Cap<Untyped>,
    ty: ObjectType,
    size_bits: u64,
    dest: Cap<CNode>,
    offset: u64,
    count: u64,
) -> Result<(), InvokeError> {
    unit(invoke(
        k,
        untyped.cptr(),
        Label::UntypedRetype,
        &[ty as u64, size_bits, offset, count],
        &[dest.cptr()],
    ))
}

/// CNode Copy (spec: CNODE-2): slot `src` of `src_cnode` into slot `dest`
/// of `cnode`, rights masked by `rights`.
pub fn copy<I: Invoke + ?Sized>(
    k: &mut I,
    cnode: Cap<CNode>,
    dest: u64,
    src_cnode: Cap<CNode>,
    src: u64,
    rights: Rights,
) -> Result<(), InvokeError> {
    unit(invoke(
        k,
        cnode.cptr(),
        Label::CNodeCopy,
        &[dest, src, rights.bits()],
        &[src_cnode.cptr()],
    ))
}

/// CNode Mint (spec: CNODE-3): as [`copy`], and a non-zero `badge` is
/// set on the copy.
pub fn mint<I: Invoke + ?Sized>(
    k: &mut I,
    cnode: Cap<CNode>,
    dest: u64,
    src_cnode: Cap<CNode>,
    src: u64,
    rights: Rights,
    badge: u64,
) -> Result<(), InvokeError> {
    unit(invoke(
        k,
        cnode.cptr(),
        Label::CNodeMint,
        &[dest, src, rights.bits(), badge],
        &[src_cnode.cptr()],
    ))
}

/// CNode Move (spec: CNODE-4): slot `src` of `src_cnode` to slot `dest`
/// of `cnode`.
pub fn move_cap<I: Invoke + ?Sized>(
    k: &mut I,
    cnode: Cap<CNode>,
    dest: u64,
    src_cnode: Cap<CNode>,
    src: u64,
) -> Result<(), InvokeError> {
    unit(invoke(
        k,
        cnode.cptr(),
        Label::CNodeMove,
        &[dest, src],
        &[src_cnode.cptr()],
    ))
}

/// CNode Delete (spec: CNODE-6, DER-7) of slot `index`.
pub fn delete<I: Invoke + ?Sized>(
    k: &mut I,
    cnode: Cap<CNode>,
    index: u64,
) -> Result<(), InvokeError> {
    unit(invoke(k, cnode.cptr(), Label::CNodeDelete, &[index], &[]))
}

/// CNode Revoke (spec: CNODE-7, DER-11) of slot `index`.
pub fn revoke<I: Invoke + ?Sized>(
    k: &mut I,
    cnode: Cap<CNode>,
    index: u64,
) -> Result<(), InvokeError> {
    unit(invoke(k, cnode.cptr(), Label::CNodeRevoke, &[index], &[]))
}

/// Frame Map (spec: VM-6).
pub fn frame_map<I: Invoke + ?Sized>(
    k: &mut I,
    frame: Cap<Frame4K>,
    vspace: Cap<VSpace>,
    vaddr: u64,
    rights: Rights,
    attributes: VmAttributes,
) -> Result<(), InvokeError> {
    unit(invoke(
        k,
        frame.cptr(),
        Label::FrameMap,
        &[vaddr, rights.bits(), attributes.bits()],
        &[vspace.cptr()],
    ))
}

/// Frame Unmap (spec: VM-7).
pub fn frame_unmap<I: Invoke + ?Sized>(k: &mut I, frame: Cap<Frame4K>) -> Result<(), InvokeError> {
    unit(invoke(k, frame.cptr(), Label::FrameUnmap, &[], &[]))
}

/// PageTable Map (spec: VM-9).
pub fn page_table_map<I: Invoke + ?Sized>(
    k: &mut I,
    table: Cap<PageTable>,
    vspace: Cap<VSpace>,
    vaddr: u64,
) -> Result<(), InvokeError> {
    unit(invoke(
        k,
        table.cptr(),
        Label::PageTableMap,
        &[vaddr],
        &[vspace.cptr()],
    ))
}

/// ASIDPool Assign (spec: ASID-5).
pub fn asid_assign<I: Invoke + ?Sized>(
    k: &mut I,
    pool: Cap<AsidPool>,
    vspace: Cap<VSpace>,
) -> Result<(), InvokeError> {
    unit(invoke(
        k,
        pool.cptr(),
        Label::AsidPoolAssign,
        &[],
        &[vspace.cptr()],
    ))
}

/// TCB Configure (spec: TCB-6).
pub fn tcb_configure<I: Invoke + ?Sized>(
    k: &mut I,
    tcb: Cap<Tcb>,
    cspace: Cap<CNode>,
    vspace: Cap<VSpace>,
    ipc_frame: Cap<Frame4K>,
    ipc_buffer: u64,
) -> Result<(), InvokeError> {
    unit(invoke(
        k,
        tcb.cptr(),
        Label::TcbConfigure,
        &[ipc_buffer],
        &[cspace.cptr(), vspace.cptr(), ipc_frame.cptr()],
    ))
}

/// TCB SetPriority (spec: TCB-7), with `authority`'s mcp as the limit.
pub fn tcb_set_priority<I: Invoke + ?Sized>(
    k: &mut I,
    tcb: Cap<Tcb>,
    authority: Cap<Tcb>,
    priority: u8,
) -> Result<(), InvokeError> {
    unit(invoke(
        k,
        tcb.cptr(),
        Label::TcbSetPriority,
        &[u64::from(priority)],
        &[authority.cptr()],
    ))
}

/// TCB SetMCPriority (spec: TCB-8), with `authority`'s mcp as the limit.
pub fn tcb_set_mcp<I: Invoke + ?Sized>(
    k: &mut I,
    tcb: Cap<Tcb>,
    authority: Cap<Tcb>,
    mcp: u8,
) -> Result<(), InvokeError> {
    unit(invoke(
        k,
        tcb.cptr(),
        Label::TcbSetMcPriority,
        &[u64::from(mcp)],
        &[authority.cptr()],
    ))
}

/// TCB SetFaultEndpoint (spec: TCB-12): set `endpoint`, or clear with
/// `None`.
pub fn tcb_set_fault_endpoint<I: Invoke + ?Sized>(
    k: &mut I,
    tcb: Cap<Tcb>,
    endpoint: Option<Cap<Endpoint>>,
) -> Result<(), InvokeError> {
    let caps = endpoint.map(|e| [e.cptr()]);
    unit(invoke(
        k,
        tcb.cptr(),
        Label::TcbSetFaultEndpoint,
        &[],
        caps.as_ref().map_or(&[][..], |c| &c[..]),
    ))
}

/// Most register values [`tcb_write_registers`] sends: the message's
/// words less `flags` and `count`.
pub const MAX_WRITTEN_REGISTERS: usize = abi::msginfo::MAX_LENGTH as usize - 2;

/// TCB WriteRegisters (spec: TCB-5): the first `values.len()` registers
/// in ABI-10 order, then Resume if `resume`.
pub fn tcb_write_registers<I: Invoke + ?Sized>(
    k: &mut I,
    tcb: Cap<Tcb>,
    resume: bool,
    values: &[u64],
) -> Result<(), InvokeError> {
    let label = Label::TcbWriteRegisters;
    let mut m = Message::with_words(label.raw(), &[u64::from(resume), values.len() as u64])
        .map_err(|error| InvokeError::Message { label, error })?;
    for &v in values {
        m.push(v)
            .map_err(|error| InvokeError::Message { label, error })?;
    }
    k.invoke(tcb.cptr(), &m).map(|_| ()).map_err(|e| match e {
        InvocationError::Kernel(detail) => InvokeError::Kernel { label, detail },
        InvocationError::NotAResult(bad) => InvokeError::NotAResult { label, bad },
    })
}

/// TCB Resume (spec: TCB-9).
pub fn tcb_resume<I: Invoke + ?Sized>(k: &mut I, tcb: Cap<Tcb>) -> Result<(), InvokeError> {
    unit(invoke(k, tcb.cptr(), Label::TcbResume, &[], &[]))
}

/// TCB Suspend (spec: TCB-10).
pub fn tcb_suspend<I: Invoke + ?Sized>(k: &mut I, tcb: Cap<Tcb>) -> Result<(), InvokeError> {
    unit(invoke(k, tcb.cptr(), Label::TcbSuspend, &[], &[]))
}

/// The capability of kind `K` at the slot `index` of a CNode that sits in
/// slot `node` of the caller's root CNode (radix `root_radix`) and has
/// radix `radix`: a two-level address (spec: CS-4, CS-5). `None` if the
/// address would be malformed.
pub fn nested<K: Kind>(root_radix: u32, node: u64, radix: u32, index: u64) -> Option<Cap<K>> {
    let depth = root_radix.checked_add(radix)?;
    let high = node.checked_shl(radix)?;
    if high >> radix != node || index >> radix != 0 {
        return None;
    }
    CPtr::new(high | index, depth).ok().map(Cap::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::error::LookupFailure;
    use abi::msginfo::MessageInfo;

    /// Records what it was asked and answers from a script.
    struct Script {
        seen: Vec<(CPtr, u64, Vec<u64>, Vec<CPtr>)>,
        answer: Result<ResultWords, InvocationError>,
    }

    impl Invoke for Script {
        fn invoke(&mut self, cptr: CPtr, msg: &Message) -> Result<ResultWords, InvocationError> {
            self.seen
                .push((cptr, msg.label(), msg.words().to_vec(), msg.caps().to_vec()));
            self.answer
        }
    }

    fn c<K: Kind>(i: u64) -> Cap<K> {
        Cap::new(CPtr::new(i, 12).unwrap())
    }

    fn ok() -> Result<ResultWords, InvocationError> {
        let buf = zerocopy::FromZeros::new_zeroed();
        let regs = crate::message::Registers {
            info: MessageInfo::new(0, 0, 0, 0).unwrap().raw(),
            ..Default::default()
        };
        crate::message::Received::new(regs, &buf).result()
    }

    #[test]
    fn words_and_caps_follow_the_rules() {
        // spec: UT-3, CNODE-3, VM-6, TCB-6, TCB-5, TCB-12
        let mut k = Script {
            seen: vec![],
            answer: ok(),
        };
        retype(&mut k, c(20), ObjectType::CNode, 12, c(2), 40, 1).unwrap();
        mint(&mut k, c(9), 16, c(2), 30, Rights::ALL, 7).unwrap();
        frame_map(
            &mut k,
            c(50),
            c(3),
            0x4000,
            Rights::READ,
            VmAttributes::EXECUTE,
        )
        .unwrap();
        tcb_configure(&mut k, c(41), c(40), c(42), c(43), 0x1000_0000).unwrap();
        tcb_write_registers(&mut k, c(41), true, &[1, 2, 3]).unwrap();
        tcb_set_fault_endpoint(&mut k, c(41), None).unwrap();
        let raw = |i| CPtr::new(i, 12).unwrap();
        assert_eq!(
            k.seen,
            vec![
                (raw(20), 1, vec![4, 12, 40, 1], vec![raw(2)]),
                (raw(9), 17, vec![16, 30, 15, 7], vec![raw(2)]),
                (raw(50), 48, vec![0x4000, 1, 1], vec![raw(3)]),
                (
                    raw(41),
                    4,
                    vec![0x1000_0000],
                    vec![raw(40), raw(42), raw(43)]
                ),
                (raw(41), 3, vec![1, 3, 1, 2, 3], vec![]),
                (raw(41), 10, vec![], vec![]),
            ]
        );
    }

    #[test]
    fn failures_name_the_invocation() {
        let detail = ErrorDetail::FailedLookup {
            position: 1,
            failure: LookupFailure::from_words([3, 0, 0]).unwrap(),
        };
        let mut k = Script {
            seen: vec![],
            answer: Err(InvocationError::Kernel(detail)),
        };
        let e = asid_assign(&mut k, c(6), c(3)).unwrap_err();
        assert_eq!(
            e,
            InvokeError::Kernel {
                label: Label::AsidPoolAssign,
                detail
            }
        );
        assert_eq!(
            (e.label(), e.detail()),
            (Label::AsidPoolAssign, Some(detail))
        );
        let too_many = [0; MAX_WRITTEN_REGISTERS + 1];
        assert_eq!(
            tcb_write_registers(&mut k, c(1), false, &too_many),
            Err(InvokeError::Message {
                label: Label::TcbWriteRegisters,
                error: MessageError::TooLong
            })
        );
        assert_eq!(
            k.seen.len(),
            1,
            "a message that cannot be built is not sent"
        );
    }

    #[test]
    fn nested_addresses_are_two_level() {
        // spec: CS-5: the root (radix 8) holds a radix-10 CNode in slot 3.
        let a: Cap<Frame4K> = nested(8, 3, 10, 5).unwrap();
        assert_eq!(a.cptr().raw(), (18 << 56) | (3 << 10) | 5);
        assert!(nested::<Frame4K>(8, 3, 10, 1 << 10).is_none());
        assert!(nested::<Frame4K>(12, 5, 50, 0).is_none(), "depth over 56");
        assert!(
            nested::<Frame4K>(12, 1 << 12, 4, 0).is_none(),
            "node beyond the root"
        );
    }
}
