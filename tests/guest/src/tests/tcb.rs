//! TCB invocations (spec: TCB-3 … TCB-14) and scheduling calls.

use super::{T, Test};
use crate::sys::*;
use crate::threads::{self, report};
use crate::{check, check_eq};
use abi::error::ErrorDetail as E;
use abi::invocation::Label;
use abi::object::ObjectType as O;
use abi::rights::Rights;
use abi::syscall::Syscall;

pub const TESTS: &[Test] = &[
    ("tcb_4_read_registers_refusals", read_refusals),
    ("tcb_5_write_then_read_registers", write_read),
    ("tcb_5_write_registers_refusals", write_refusals),
    ("tcb_6_configure_refusals", configure_refusals),
    ("tcb_7_priority_bounded_by_authority_mcp", priority),
    ("tcb_8_mcp_bounded_by_authority_mcp", mcp),
    (
        "tcb_9_10_suspend_leaves_the_queue_resume_restarts",
        suspend_resume,
    ),
    ("tcb_4_read_with_suspend", read_suspends),
    ("tcb_11_tls_base", tls),
    (
        "tcb_12_fault_endpoint_needs_write_and_grant",
        fault_ep_rights,
    ),
    ("tcb_13_14_bind_and_unbind_notification", bind),
    ("sched_7_yield_returns", yield_returns),
];

#[cfg(target_arch = "x86_64")]
const CONTEXT_WORDS: u64 = abi::context::x86_64::CONTEXT_WORDS as u64;
#[cfg(target_arch = "aarch64")]
const CONTEXT_WORDS: u64 = abi::context::aarch64::CONTEXT_WORDS as u64;

fn read_refusals(s: &mut Suite) -> T {
    check_eq!(
        call(MY_TCB, Label::TcbReadRegisters, &[0, 1], &[]),
        kerr(E::IllegalOperation)
    );
    let (t, _, _) = s.helper_tcb(1);
    check_eq!(
        call(t, Label::TcbReadRegisters, &[2, 1], &[]),
        kerr(E::InvalidArgument { index: 0 })
    );
    for count in [0, CONTEXT_WORDS + 1] {
        check_eq!(
            call(t, Label::TcbReadRegisters, &[0, count], &[]),
            kerr(E::RangeError {
                min: 1,
                max: CONTEXT_WORDS
            })
        );
    }
    check_eq!(
        call(t, Label::TcbReadRegisters, &[0], &[]),
        kerr(E::TruncatedMessage)
    );
    let r = call(t, Label::TcbReadRegisters, &[0, CONTEXT_WORDS], &[]);
    check_eq!(r.map(|w| w.as_slice().len() as u64), Ok(CONTEXT_WORDS));
    s.delete(t);
    Ok(())
}

fn write_read(s: &mut Suite) -> T {
    let (t, _, _) = s.helper_tcb(1);
    let (pc, sp) = (0x40_1234, 0x7000_0000);
    let flags = u64::MAX;
    check!(call(t, Label::TcbWriteRegisters, &[0, 3, pc, sp, flags], &[]).is_ok());
    let r = call(t, Label::TcbReadRegisters, &[0, 3], &[]);
    let Ok(w) = r else {
        check!(r.is_ok());
        return Err(());
    };
    check_eq!(w.as_slice()[0], pc);
    check_eq!(w.as_slice()[1], sp);
    // The flags register is sanitised (ABI-10): user bits only, the
    // forced ones set.
    #[cfg(target_arch = "x86_64")]
    check_eq!(
        w.as_slice()[2],
        abi::context::x86_64::sanitise_rflags(flags)
    );
    #[cfg(target_arch = "aarch64")]
    check_eq!(w.as_slice()[2], abi::context::aarch64::sanitise_spsr(flags));
    s.delete(t);
    Ok(())
}

fn write_refusals(s: &mut Suite) -> T {
    check_eq!(
        call(MY_TCB, Label::TcbWriteRegisters, &[0, 1, 0], &[]),
        kerr(E::IllegalOperation)
    );
    let (t, _, _) = s.helper_tcb(1);
    check_eq!(
        call(t, Label::TcbWriteRegisters, &[4, 1, 0], &[]),
        kerr(E::InvalidArgument { index: 0 })
    );
    check_eq!(
        call(t, Label::TcbWriteRegisters, &[0, 0], &[]),
        kerr(E::RangeError {
            min: 1,
            max: CONTEXT_WORDS
        })
    );
    check_eq!(
        call(t, Label::TcbWriteRegisters, &[0, 3, 1, 2], &[]),
        kerr(E::TruncatedMessage)
    );
    // An address register above the user half (x86_64 rip): refused.
    #[cfg(target_arch = "x86_64")]
    check_eq!(
        call(t, Label::TcbWriteRegisters, &[0, 1, 1 << 47], &[]),
        kerr(E::InvalidArgument { index: 2 })
    );
    s.delete(t);
    Ok(())
}

fn configure_refusals(s: &mut Suite) -> T {
    let t = s.retype(O::Tcb, 0, 1);
    let e = s.retype(O::Endpoint, 0, 1);
    let f = s.retype(O::Frame4K, 0, 1);
    let vs = s.retype(O::VSpace, 0, 1);
    let buf = 0x1000_4000;
    check_eq!(
        call(t, Label::TcbConfigure, &[buf], &[MY_CNODE, MY_VSPACE]),
        kerr(E::TruncatedMessage)
    );
    check_eq!(
        call(t, Label::TcbConfigure, &[buf], &[e, MY_VSPACE, f]),
        kerr(E::InvalidCapability { position: 1 })
    );
    // A VSpace without an ASID cannot be used (VM-4).
    check_eq!(
        call(t, Label::TcbConfigure, &[buf], &[MY_CNODE, vs, f]),
        kerr(E::InvalidCapability { position: 2 })
    );
    check_eq!(
        call(t, Label::TcbConfigure, &[buf], &[MY_CNODE, MY_VSPACE, e]),
        kerr(E::InvalidCapability { position: 3 })
    );
    check_eq!(
        call(
            t,
            Label::TcbConfigure,
            &[buf + 8],
            &[MY_CNODE, MY_VSPACE, f]
        ),
        kerr(E::AlignmentError)
    );
    check_eq!(
        call(
            t,
            Label::TcbConfigure,
            &[1 << 47],
            &[MY_CNODE, MY_VSPACE, f]
        ),
        kerr(E::InvalidArgument { index: 0 })
    );
    check!(call(t, Label::TcbConfigure, &[buf], &[MY_CNODE, MY_VSPACE, f]).is_ok());
    Ok(())
}

fn priority(s: &mut Suite) -> T {
    // A new TCB has mcp 0 (UT-9): as its own authority it can set
    // priority 0 and nothing above.
    let t = s.retype(O::Tcb, 0, 1);
    check_eq!(
        call(t, Label::TcbSetPriority, &[1], &[t]),
        kerr(E::RangeError { min: 0, max: 0 })
    );
    check!(call(t, Label::TcbSetPriority, &[0], &[t]).is_ok());
    let e = s.retype(O::Endpoint, 0, 1);
    check_eq!(
        call(t, Label::TcbSetPriority, &[0], &[e]),
        kerr(E::InvalidCapability { position: 1 })
    );
    check_eq!(
        call(t, Label::TcbSetPriority, &[0], &[]),
        kerr(E::TruncatedMessage)
    );
    // The suite's own mcp allows its helpers' priority.
    check!(call(t, Label::TcbSetPriority, &[HELPER_PRIORITY], &[MY_TCB]).is_ok());
    Ok(())
}

fn mcp(s: &mut Suite) -> T {
    let t = s.retype(O::Tcb, 0, 1);
    check_eq!(
        call(t, Label::TcbSetMcPriority, &[1], &[t]),
        kerr(E::RangeError { min: 0, max: 0 })
    );
    check!(call(t, Label::TcbSetMcPriority, &[HELPER_PRIORITY], &[MY_TCB]).is_ok());
    // Now `t` is authority enough for its own priority up to its mcp.
    check!(call(t, Label::TcbSetPriority, &[HELPER_PRIORITY], &[t]).is_ok());
    check_eq!(
        call(t, Label::TcbSetPriority, &[HELPER_PRIORITY + 1], &[t]),
        kerr(E::RangeError {
            min: 0,
            max: HELPER_PRIORITY
        })
    );
    Ok(())
}

fn suspend_resume(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    // The receiver runs at once (higher priority) and blocks on `e`.
    let (t, _) = s.helper(threads::receiver, e, 1);
    check!(call(t, Label::TcbSuspend, &[], &[]).is_ok());
    // Suspended, it left the queue: a non-blocking send finds no
    // receiver and is dropped.
    ipc(Syscall::NBSend, e, 3, &[1], &[]);
    // Resumed, it restarts its Recv and gets the next message.
    check!(call(t, Label::TcbResume, &[], &[]).is_ok());
    ipc(Syscall::Send, e, 4, &[2], &[]);
    let m = recv(s.fault_ep);
    check_eq!(m.label, report::RECEIVED);
    check_eq!(&m.words[..4], &[0, 4, 1, 2]);
    s.delete(t);
    Ok(())
}

fn read_suspends(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let (t, _) = s.helper(threads::receiver, e, 1);
    // Read with bit 0: suspend first (TCB-4); the message is then dropped.
    check!(call(t, Label::TcbReadRegisters, &[1, 1], &[]).is_ok());
    ipc(Syscall::NBSend, e, 3, &[1], &[]);
    check!(call(t, Label::TcbResume, &[], &[]).is_ok());
    ipc(Syscall::Send, e, 5, &[7], &[]);
    let m = recv(s.fault_ep);
    check_eq!(&m.words[..4], &[0, 5, 1, 7]);
    s.delete(t);
    Ok(())
}

fn tls(s: &mut Suite) -> T {
    let (t, _, _) = s.helper_tcb(1);
    check!(call(t, Label::TcbSetTlsBase, &[0x7000_1000], &[]).is_ok());
    #[cfg(target_arch = "x86_64")]
    let at = abi::context::x86_64::FS_BASE;
    #[cfg(target_arch = "aarch64")]
    let at = abi::context::aarch64::TPIDR_EL0;
    let r = call(t, Label::TcbReadRegisters, &[0, at as u64 + 1], &[]);
    check_eq!(r.map(|w| w.as_slice()[at]), Ok(0x7000_1000));
    #[cfg(target_arch = "x86_64")]
    check_eq!(
        call(t, Label::TcbSetTlsBase, &[1 << 47], &[]),
        kerr(E::InvalidArgument { index: 0 })
    );
    check_eq!(
        call(t, Label::TcbSetTlsBase, &[], &[]),
        kerr(E::TruncatedMessage)
    );
    s.delete(t);
    Ok(())
}

fn fault_ep_rights(s: &mut Suite) -> T {
    let t = s.retype(O::Tcb, 0, 1);
    let e = s.retype(O::Endpoint, 0, 1);
    let no_grant = s.copy(e, Rights::READ_WRITE);
    check_eq!(
        call(t, Label::TcbSetFaultEndpoint, &[], &[no_grant]),
        kerr(E::InvalidCapability { position: 1 })
    );
    let no_write = s.copy(e, Rights::READ.union(Rights::GRANT));
    check_eq!(
        call(t, Label::TcbSetFaultEndpoint, &[], &[no_write]),
        kerr(E::InvalidCapability { position: 1 })
    );
    let n = s.retype(O::Notification, 0, 1);
    check_eq!(
        call(t, Label::TcbSetFaultEndpoint, &[], &[n]),
        kerr(E::InvalidCapability { position: 1 })
    );
    let ok = s.copy(e, Rights::WRITE.union(Rights::GRANT_REPLY));
    check!(call(t, Label::TcbSetFaultEndpoint, &[], &[ok]).is_ok());
    // No capability: clears it.
    check!(call(t, Label::TcbSetFaultEndpoint, &[], &[]).is_ok());
    Ok(())
}

fn bind(s: &mut Suite) -> T {
    let t = s.retype(O::Tcb, 0, 1);
    let n = s.retype(O::Notification, 0, 1);
    check_eq!(
        call(t, Label::TcbUnbindNotification, &[], &[]),
        kerr(E::IllegalOperation)
    );
    let wo = s.copy(n, Rights::WRITE);
    check_eq!(
        call(t, Label::TcbBindNotification, &[], &[wo]),
        kerr(E::InvalidCapability { position: 1 })
    );
    check!(call(t, Label::TcbBindNotification, &[], &[n]).is_ok());
    check_eq!(
        call(t, Label::TcbBindNotification, &[], &[n]),
        kerr(E::IllegalOperation)
    );
    // The notification is bound: no second thread may bind it.
    let t2 = s.retype(O::Tcb, 0, 1);
    check_eq!(
        call(t2, Label::TcbBindNotification, &[], &[n]),
        kerr(E::IllegalOperation)
    );
    check!(call(t, Label::TcbUnbindNotification, &[], &[]).is_ok());
    check!(call(t2, Label::TcbBindNotification, &[], &[n]).is_ok());
    Ok(())
}

fn yield_returns(_s: &mut Suite) -> T {
    cap_runtime::ipc::with_ipc_buffer(cap_runtime::syscall::yield_now);
    cap_runtime::ipc::with_ipc_buffer(cap_runtime::syscall::yield_now);
    check!(true);
    Ok(())
}
