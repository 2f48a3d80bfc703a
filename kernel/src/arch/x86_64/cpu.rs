//! CPU protections: NX, SMEP, SMAP.
//!
//! NX is the loader's job (its page tables use the NX bit, so it must be on
//! before they are loaded); here it is only checked. SMEP (no kernel
//! execution of user pages) and SMAP (no kernel data access to user pages
//! outside explicit `stac`/`clac` windows) are turned on whenever CPUID
//! reports them, now, before any user mapping exists, so no code path is
//! ever written that silently depends on them being off.

use core::arch::x86_64::{__cpuid, __cpuid_count, CpuidResult};
use x86_64::registers::control::{Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

/// CPUID.(EAX=7,ECX=0):EBX bits.
const CPUID7_EBX_SMEP: u32 = 1 << 7;
const CPUID7_EBX_SMAP: u32 = 1 << 20;

/// CPUID leaf `leaf` (subleaf 0), or `None` if the CPU does not have it.
pub fn cpuid(leaf: u32) -> Option<CpuidResult> {
    let max = if leaf >= 0x8000_0000 {
        __cpuid(0x8000_0000).eax
    } else {
        __cpuid(0).eax
    };
    (leaf <= max).then(|| __cpuid_count(leaf, 0))
}

/// Check NX and enable SMEP and SMAP where available; log the result.
pub fn enable_protections() {
    let nx = Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE);
    let ebx = cpuid(7).map_or(0, |r| r.ebx);
    let smep = ebx & CPUID7_EBX_SMEP != 0;
    let smap = ebx & CPUID7_EBX_SMAP != 0;
    // SAFETY: only bits CPUID reports as supported are set. SMEP and SMAP
    // restrict the kernel's access to user pages, and no page the kernel
    // uses is a user page (the loader maps everything supervisor-only).
    unsafe {
        Cr4::update(|cr4| {
            cr4.set(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION, smep);
            cr4.set(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION, smap);
        })
    };
    let on = |b: bool| if b { "on" } else { "not supported" };
    if nx {
        log::info!(
            "cpu: NX on (EFER.NXE), SMEP {}, SMAP {}",
            on(smep),
            on(smap)
        );
    } else {
        // The loader's tables set the NX bit everywhere; running at all
        // with EFER.NXE clear would be a contradiction, so say so loudly.
        log::error!(
            "cpu: EFER.NXE is clear: no-execute protection is off; SMEP {}, SMAP {}",
            on(smep),
            on(smap)
        );
    }
}
