//! Faults and isolation (spec: FLT-1 … FLT-7, TP-4): a thread in its own
//! address space and CSpace, holding nothing, runs a few instructions the
//! suite wrote; every fault reaches the suite as a message, and the suite
//! (and the kernel) keep running.

use super::{T, Test};
use crate::sys::*;
use crate::{check, check_eq};
use abi::fault::FaultLabel as F;
use abi::invocation::Label;
use abi::object::ObjectType as O;
use abi::rights::Rights;
use abi::vm::VmAttributes as A;

pub const TESTS: &[Test] = &[
    ("flt_4_read_of_another_address_space", read_other),
    ("flt_4_write_of_another_address_space", write_other),
    ("flt_4_write_of_kernel_memory", write_kernel),
    ("flt_4_fetch_from_unmapped_memory", fetch_unmapped),
    ("flt_4_fetch_from_non_executable_memory", fetch_nx),
    ("flt_4_undefined_instruction", undefined),
    ("flt_4_unknown_system_call", unknown_syscall),
    ("flt_1_capability_it_was_not_given", cap_not_given),
    ("flt_7_reply_resumes_at_a_new_pc", reply_resumes),
    ("flt_3_no_handler_suspends_the_thread", no_handler),
];

const CODE: u64 = 0x40_0000;
/// Offsets of the stubs in the code page.
const LOAD: u64 = 0x00;
const UNDEFINED: u64 = 0x10;
const SYSCALL: u64 = 0x20;
const STORE: u64 = 0x30;

/// The code page: a load through the first argument register, an
/// undefined instruction, a system call, a store — each followed by an
/// undefined instruction.
fn code() -> [u8; 64] {
    let mut c = [0u8; 64];
    #[cfg(target_arch = "x86_64")]
    {
        let ud2 = [0x0f, 0x0b];
        c[LOAD as usize..][..5].copy_from_slice(&[0x48, 0x8b, 0x07, ud2[0], ud2[1]]); // mov rax, [rdi]
        c[UNDEFINED as usize..][..2].copy_from_slice(&ud2);
        c[SYSCALL as usize..][..4].copy_from_slice(&[0x0f, 0x05, ud2[0], ud2[1]]); // syscall
        c[STORE as usize..][..5].copy_from_slice(&[0x48, 0x89, 0x07, ud2[0], ud2[1]]); // mov [rdi], rax
    }
    #[cfg(target_arch = "aarch64")]
    {
        let put = |c: &mut [u8; 64], at: u64, words: &[u32]| {
            for (i, w) in words.iter().enumerate() {
                c[at as usize + 4 * i..][..4].copy_from_slice(&w.to_le_bytes());
            }
        };
        let udf = 0x0000_0000;
        put(&mut c, LOAD, &[0xf940_0001, udf]); // ldr x1, [x0]
        put(&mut c, UNDEFINED, &[udf]);
        put(&mut c, SYSCALL, &[0xd400_0001, udf]); // svc #0
        put(&mut c, STORE, &[0xf900_0001, udf]); // str x1, [x0]
    }
    c
}

/// A process of its own: VSpace (new ASID), empty radix-4 CNode, the code
/// page mapped read + execute at `CODE`, a TCB one priority above the
/// suite, faulting to the suite with `badge` (or to no one).
struct Child {
    tcb: u64,
    vs: u64,
}

fn child(s: &mut Suite, badge: Option<u64>) -> Result<Child, ()> {
    let vs = s.retype(O::VSpace, 0, 1);
    check!(call(ASID_POOL, Label::AsidPoolAssign, &[], &[vs]).is_ok());
    let pts = s.retype(O::PageTable, 0, 3);
    for i in 0..3 {
        check!(call(pts + i, Label::PageTableMap, &[CODE], &[vs]).is_ok());
    }
    // Write the code through a scratch mapping of the suite, then map a
    // read-only copy executable in the child.
    let (f, va) = s.mapped_frame();
    for (i, chunk) in code().chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        poke(va + 8 * i as u64, u64::from_le_bytes(w));
    }
    let x = s.copy(f, Rights::READ);
    check!(map(x, vs, CODE, Rights::READ, A::EXECUTE).is_ok());
    let cn = s.retype(O::CNode, 4, 1);
    let buf = s.retype(O::Frame4K, 0, 1);
    let tcb = s.retype(O::Tcb, 0, 1);
    check!(call(tcb, Label::TcbConfigure, &[0x1000_0000], &[cn, vs, buf]).is_ok());
    check!(call(tcb, Label::TcbSetPriority, &[HELPER_PRIORITY], &[MY_TCB]).is_ok());
    if let Some(b) = badge {
        let fep = s.mint(s.fault_ep, Rights::ALL, b);
        check!(call(tcb, Label::TcbSetFaultEndpoint, &[], &[fep]).is_ok());
    }
    Ok(Child { tcb, vs })
}

/// Start `c` at `pc` with the given number, first-argument and
/// memory-value registers.
fn run(c: &Child, pc: u64, number: u64, arg: u64, value: u64) -> T {
    #[cfg(target_arch = "x86_64")]
    // rip, rsp, rflags, rax, rbx, rcx, rdx, rsi, rdi
    let regs = [pc, 0, 0x202, number | value, 0, 0, 0, 0, arg];
    #[cfg(target_arch = "aarch64")]
    // pc, sp, spsr, x0 … x7
    let regs = [pc, 0, 0, arg, value, 0, 0, 0, 0, 0, number];
    let mut w = [0u64; 13];
    w[1] = regs.len() as u64;
    w[2..2 + regs.len()].copy_from_slice(&regs);
    check!(call(c.tcb, Label::TcbWriteRegisters, &w[..2 + regs.len()], &[]).is_ok());
    check!(call(c.tcb, Label::TcbResume, &[], &[]).is_ok());
    Ok(())
}

fn vm_fault(s: &mut Suite, pc: u64, arg: u64, badge: u64, addr: u64, fetch: u64) -> T {
    let c = child(s, Some(badge))?;
    run(&c, pc, 0, arg, 0)?;
    let m = recv(s.fault_ep);
    check_eq!(m.badge, badge);
    check_eq!(m.label, F::VmFault as u64);
    check_eq!(m.len, 4);
    check_eq!(&m.words[..3], &[pc, addr, fetch]);
    s.delete(c.tcb);
    let _ = c.vs;
    Ok(())
}

fn read_other(s: &mut Suite) -> T {
    // A page the suite has mapped and written: not in the child's space.
    let (_, va) = s.mapped_frame();
    poke(va, 0x5ec2e7);
    vm_fault(s, CODE + LOAD, va, 41, va, 0)?;
    check_eq!(peek(va), 0x5ec2e7);
    Ok(())
}

fn write_other(s: &mut Suite) -> T {
    let (_, va) = s.mapped_frame();
    vm_fault(s, CODE + STORE, va, 42, va, 0)?;
    check_eq!(peek(va), 0);
    Ok(())
}

fn write_kernel(s: &mut Suite) -> T {
    // The kernel's direct map and image: never reachable from user mode.
    let kernel = 0xffff_8000_0010_0000;
    vm_fault(s, CODE + STORE, kernel, 43, kernel, 0)?;
    let image = 0xffff_ffff_8000_0000;
    vm_fault(s, CODE + LOAD, image, 44, image, 0)
}

fn fetch_unmapped(s: &mut Suite) -> T {
    let pc = CODE + 0x10_0000;
    vm_fault(s, pc, 0, 45, pc, 1)
}

fn fetch_nx(s: &mut Suite) -> T {
    let c = child(s, Some(46))?;
    let f = s.retype(O::Frame4K, 0, 1);
    let data = CODE + 0x1000;
    check!(map(f, c.vs, data, Rights::READ_WRITE, A::NONE).is_ok());
    run(&c, data, 0, 0, 0)?;
    let m = recv(s.fault_ep);
    check_eq!((m.badge, m.label), (46, F::VmFault as u64));
    check_eq!(&m.words[..3], &[data, data, 1]);
    s.delete(c.tcb);
    Ok(())
}

#[cfg(target_arch = "x86_64")]
const UNDEFINED_NUMBER: u64 = 6; // #UD
#[cfg(target_arch = "aarch64")]
const UNDEFINED_NUMBER: u64 = 0; // EC 0: unknown reason

fn undefined(s: &mut Suite) -> T {
    let c = child(s, Some(47))?;
    run(&c, CODE + UNDEFINED, 0, 0, 0)?;
    let m = recv(s.fault_ep);
    check_eq!((m.badge, m.label, m.len), (47, F::UserException as u64, 5));
    check_eq!(m.words[0], CODE + UNDEFINED);
    check_eq!(m.words[3], UNDEFINED_NUMBER);
    s.delete(c.tcb);
    Ok(())
}

fn unknown_syscall(s: &mut Suite) -> T {
    let c = child(s, Some(48))?;
    run(&c, CODE + SYSCALL, 0x999, 0, 0)?;
    let m = recv(s.fault_ep);
    check_eq!((m.badge, m.label), (48, F::UnknownSyscall as u64));
    check!(m.len > 4);
    s.delete(c.tcb);
    Ok(())
}

fn cap_not_given(s: &mut Suite) -> T {
    let c = child(s, Some(49))?;
    // Call (1) on slot 1 of its own, empty CNode (depth 4): nothing there;
    // the suite's capabilities are not in its CSpace at all.
    let addr = match abi::cptr::CPtr::new(1, 4) {
        Ok(a) => a.raw(),
        Err(_) => return Err(()),
    };
    run(&c, CODE + SYSCALL, 1, addr, 0)?;
    let m = recv(s.fault_ep);
    check_eq!((m.badge, m.label), (49, F::CapFault as u64));
    check_eq!(&m.words[..3], &[CODE + SYSCALL, addr, 0]);
    s.delete(c.tcb);
    Ok(())
}

fn reply_resumes(s: &mut Suite) -> T {
    let c = child(s, Some(50))?;
    run(&c, CODE + UNDEFINED, 0x999, 0, 0)?;
    let m = recv(s.fault_ep);
    check_eq!(m.label, F::UserException as u64);
    // Resume at the system call (number 0x999 still in its register): the
    // next fault is the unknown system call, at the new pc.
    reply(0, &[CODE + SYSCALL]);
    let m = recv(s.fault_ep);
    check_eq!((m.badge, m.label), (50, F::UnknownSyscall as u64));
    s.delete(c.tcb);
    Ok(())
}

fn no_handler(s: &mut Suite) -> T {
    let c = child(s, None)?;
    run(&c, CODE + UNDEFINED, 0, 0, 0)?;
    // It faulted and was made Inactive (FLT-3); the suite runs on, and
    // the thread's registers still show where it stopped.
    let r = call(c.tcb, Label::TcbReadRegisters, &[0, 1], &[]);
    check_eq!(r.map(|w| w.as_slice()[0]), Ok(CODE + UNDEFINED));
    // Resumed, it faults again — still nobody to tell, still no crash.
    check!(call(c.tcb, Label::TcbResume, &[], &[]).is_ok());
    let r = call(c.tcb, Label::TcbReadRegisters, &[0, 1], &[]);
    check_eq!(r.map(|w| w.as_slice()[0]), Ok(CODE + UNDEFINED));
    s.delete(c.tcb);
    Ok(())
}
