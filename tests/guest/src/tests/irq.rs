//! IRQControl and IRQHandler (spec: IRQ-1 … IRQ-9), with a real device
//! raising a real interrupt: x86_64 the HPET (a comparator routed to an
//! IOAPIC input, level-triggered), aarch64 the PL031 real-time clock (its
//! match interrupt, SPI 2 = line 34, level-triggered). The root task hands
//! the suite the device's page as a device frame (`DEVICE_FRAME`).

use super::{T, Test};
use crate::sys::*;
use crate::{check, check_eq};
use abi::error::ErrorDetail as E;
use abi::invocation::Label;
use abi::object::ObjectType as O;
use abi::rights::Rights;
use abi::vm::VmAttributes;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU64, Ordering};

pub const TESTS: &[Test] = &[
    ("irq_4_get_checks_in_order", get_checks),
    ("irq_2_reserved_lines_are_refused", reserved),
    (
        "irq_8_delivery_signals_the_notification_and_masks",
        delivery,
    ),
    (
        "irq_5_ack_unmasks_a_level_line_still_asserted",
        ack_redelivers,
    ),
    ("irq_6_7_set_notification_and_clear", set_and_clear),
    ("irq_9_deleting_the_handler_frees_the_line", delete_frees),
];

/// The badge the tests' notification capability carries.
const BADGE: u64 = 0x1a5;
/// Polls of the notification before a delivery counts as missing. The
/// device asserts its line before the tests poll, and an interrupt
/// pending at the controller is taken as soon as user mode runs again,
/// so one poll would do; a few allow for a tick in between. (Few, too,
/// because the checking kernel checks every invariant after each.)
const POLLS: u32 = 16;

fn get_checks(s: &mut Suite) -> T {
    let d = s.slot();
    let e = s.retype(O::Endpoint, 0, 1);
    check_eq!(
        call(IRQ_CONTROL, Label::IrqControlGet, &[5, 0], &[MY_CNODE]),
        kerr(E::TruncatedMessage)
    );
    check_eq!(
        call(IRQ_CONTROL, Label::IrqControlGet, &[5, 4, d], &[MY_CNODE]),
        kerr(E::InvalidArgument { index: 1 })
    );
    #[cfg(target_arch = "aarch64")]
    check_eq!(
        call(IRQ_CONTROL, Label::IrqControlGet, &[40, 2, d], &[MY_CNODE]),
        kerr(E::InvalidArgument { index: 1 })
    );
    check_eq!(
        call(
            IRQ_CONTROL,
            Label::IrqControlGet,
            &[1024, 0, d],
            &[MY_CNODE]
        ),
        kerr(E::RangeError { min: 0, max: 1023 })
    );
    check_eq!(
        call(IRQ_CONTROL, Label::IrqControlGet, &[5, 0, d], &[e]),
        kerr(E::InvalidCapability { position: 1 })
    );
    check_eq!(
        call(
            IRQ_CONTROL,
            Label::IrqControlGet,
            &[5, 0, 1 << RADIX],
            &[MY_CNODE]
        ),
        kerr(E::RangeError {
            min: 0,
            max: (1 << RADIX) - 1
        })
    );
    // Check 8: the destination slot is occupied.
    check_eq!(
        call(
            IRQ_CONTROL,
            Label::IrqControlGet,
            &[dev::FREE_LINE, 0, e],
            &[MY_CNODE]
        ),
        kerr(E::DeleteFirst)
    );
    Ok(())
}

/// Lines the platform does not have (QEMU's IOAPIC has 24 inputs, the
/// `virt` GIC 288 interrupt IDs) and, on aarch64, the SGIs and PPIs.
fn reserved(s: &mut Suite) -> T {
    let d = s.slot();
    #[cfg(target_arch = "x86_64")]
    let lines = [200, 500, 1023];
    #[cfg(target_arch = "aarch64")]
    let lines = [0, 1, 27, 30, 31, 1020, 1023];
    for line in lines {
        check_eq!(
            call(
                IRQ_CONTROL,
                Label::IrqControlGet,
                &[line, 0, d],
                &[MY_CNODE]
            ),
            kerr(E::IllegalOperation)
        );
    }
    Ok(())
}

/// The device's page mapped (device memory, whatever the attributes say),
/// the line claimed with its handler in a fresh slot, and a badged
/// notification set: (device, handler slot, notification slot).
fn claim(s: &mut Suite) -> Result<(dev::Device, u64, u64), ()> {
    let device = dev::Device::map(s)?;
    let h = s.slot();
    check!(
        call(
            IRQ_CONTROL,
            Label::IrqControlGet,
            &[device.line, dev::TRIGGER, h],
            &[MY_CNODE]
        )
        .is_ok()
    );
    // IRQ-4 check 7: a line already claimed.
    let again = s.slot();
    check_eq!(
        call(
            IRQ_CONTROL,
            Label::IrqControlGet,
            &[device.line, dev::TRIGGER, again],
            &[MY_CNODE]
        ),
        kerr(E::RevokeFirst)
    );
    let n = s.retype(O::Notification, 0, 1);
    let badged = s.mint(n, Rights::ALL, BADGE);
    check!(call(h, Label::IrqHandlerSetNotification, &[], &[badged]).is_ok());
    Ok((device, h, n))
}

/// Poll `n` until it is signalled (its badge) or [`POLLS`] polls found
/// nothing (0). Each poll is a system call: an interrupt pending at the
/// controller is taken on the way back to user mode.
fn signalled(n: u64) -> u64 {
    for _ in 0..POLLS {
        let m = poll(n);
        if m.badge != 0 {
            return m.badge;
        }
    }
    0
}

/// Release what [`claim`] made: the device quiet, the handler deleted.
fn release(s: &mut Suite, device: &dev::Device, h: u64) {
    device.lower();
    device.stop();
    s.delete(h);
}

fn delivery(s: &mut Suite) -> T {
    let (device, h, n) = claim(s)?;
    // The first interrupt is raised later, and the suite blocks in Wait:
    // with no thread runnable the kernel idles, takes the interrupt
    // there, and signals the notification (IRQ-8), which wakes the suite.
    device.raise_later();
    check_eq!(recv(n).badge, BADGE);
    // Delivered and not acknowledged: the line is masked, so the device,
    // still asserting its level, raises no further signal.
    check!(device.asserted());
    check_eq!(signalled(n), 0);
    device.lower();
    check!(call(h, Label::IrqHandlerAck, &[], &[]).is_ok());
    check_eq!(signalled(n), 0);
    // A second interrupt, after the Ack, is delivered again.
    device.raise();
    check_eq!(signalled(n), BADGE);
    device.lower();
    check!(call(h, Label::IrqHandlerAck, &[], &[]).is_ok());
    release(s, &device, h);
    Ok(())
}

/// IRQ-5 on a level-triggered line: Ack unmasks it, and if the device
/// still asserts it, it is delivered at once again. A second Ack with
/// nothing pending changes nothing.
fn ack_redelivers(s: &mut Suite) -> T {
    let (device, h, n) = claim(s)?;
    device.raise();
    check_eq!(signalled(n), BADGE);
    check_eq!(signalled(n), 0);
    check!(call(h, Label::IrqHandlerAck, &[], &[]).is_ok());
    check_eq!(signalled(n), BADGE);
    device.lower();
    check!(call(h, Label::IrqHandlerAck, &[], &[]).is_ok());
    check!(call(h, Label::IrqHandlerAck, &[], &[]).is_ok());
    check_eq!(signalled(n), 0);
    release(s, &device, h);
    Ok(())
}

/// IRQ-6 and IRQ-7: SetNotification refuses what is not a notification
/// with Write; after Clear a delivery signals nothing (it still masks the
/// line until Ack); a notification set again is signalled after the Ack.
fn set_and_clear(s: &mut Suite) -> T {
    let (device, h, n) = claim(s)?;
    let e = s.retype(O::Endpoint, 0, 1);
    let read_only = s.copy(n, Rights::READ);
    check_eq!(
        call(h, Label::IrqHandlerSetNotification, &[], &[]),
        kerr(E::TruncatedMessage)
    );
    check_eq!(
        call(h, Label::IrqHandlerSetNotification, &[], &[e]),
        kerr(E::InvalidCapability { position: 1 })
    );
    check_eq!(
        call(h, Label::IrqHandlerSetNotification, &[], &[read_only]),
        kerr(E::InvalidCapability { position: 1 })
    );
    check!(call(h, Label::IrqHandlerClear, &[], &[]).is_ok());
    device.raise();
    check_eq!(signalled(n), 0);
    // Set again (a second badge), then Ack: the level is still asserted.
    let other = s.mint(n, Rights::ALL, BADGE + 1);
    check!(call(h, Label::IrqHandlerSetNotification, &[], &[other]).is_ok());
    check_eq!(signalled(n), 0);
    check!(call(h, Label::IrqHandlerAck, &[], &[]).is_ok());
    check_eq!(signalled(n), BADGE + 1);
    device.lower();
    check!(call(h, Label::IrqHandlerAck, &[], &[]).is_ok());
    release(s, &device, h);
    Ok(())
}

/// IRQ-9: deleting the only handler makes the line `Inactive` (masked,
/// unclaimed): the device raises nothing, and Get succeeds again.
fn delete_frees(s: &mut Suite) -> T {
    let (device, h, n) = claim(s)?;
    s.delete(h);
    device.raise();
    check_eq!(signalled(n), 0);
    let again = s.slot();
    check!(
        call(
            IRQ_CONTROL,
            Label::IrqControlGet,
            &[device.line, dev::TRIGGER, again],
            &[MY_CNODE]
        )
        .is_ok()
    );
    // Claimed again, with no notification set: the asserted level is
    // delivered (and masks the line) without a signal.
    check_eq!(signalled(n), 0);
    release(s, &device, again);
    Ok(())
}

/// The device page's address: mapped on first use, for every test.
fn device_page(s: &mut Suite) -> Result<u64, ()> {
    static MAPPED: AtomicU64 = AtomicU64::new(0);
    let va = MAPPED.load(Ordering::Relaxed);
    if va != 0 {
        return Ok(va);
    }
    let va = s.scratch();
    let r = map(
        DEVICE_FRAME,
        MY_VSPACE,
        va,
        Rights::READ_WRITE,
        VmAttributes::UNCACHED,
    );
    check!(r.is_ok());
    MAPPED.store(va, Ordering::Relaxed);
    Ok(va)
}

/// Read a device register.
fn read32(va: u64) -> u32 {
    // SAFETY: `va` is a register of the device page mapped (device memory)
    // by `Device::map` for the rest of the suite; reading it has no effect
    // the tests do not expect.
    unsafe { read_volatile(va as *const u32) }
}

/// Write a device register.
fn write32(va: u64, v: u32) {
    // SAFETY: as for `read32`; the tests write only the registers their
    // device's description below names.
    unsafe { write_volatile(va as *mut u32, v) }
}

#[cfg(target_arch = "x86_64")]
mod dev {
    //! The HPET: its last comparator in one-shot, level-triggered mode,
    //! routed to the highest IOAPIC input its route capability allows.
    use super::{read32, write32};
    use crate::check;
    use crate::sys::Suite;

    /// IRQControl Get trigger word: level, active-high.
    pub const TRIGGER: u64 = abi::irq::TRIGGER_LEVEL;
    /// A line the platform has (no device raises it in these tests).
    pub const FREE_LINE: u64 = 5;

    const CAPABILITIES: u64 = 0x00;
    const CONFIG: u64 = 0x10;
    const STATUS: u64 = 0x20;
    const COUNTER: u64 = 0xf0;
    const T_CONFIG: u64 = 0x100;
    const T_COMPARATOR: u64 = 0x108;
    const T_STRIDE: u64 = 0x20;
    const T_LEVEL: u32 = 1 << 1;
    const T_ENABLE: u32 = 1 << 2;
    const T_ROUTE_SHIFT: u32 = 9;

    pub struct Device {
        va: u64,
        timer: u64,
        pub line: u64,
    }

    impl Device {
        pub fn map(s: &mut Suite) -> Result<Device, ()> {
            let va = super::device_page(s)?;
            let caps = read32(va + CAPABILITIES + 4);
            check!(caps != 0 && caps != u32::MAX);
            let timers = u64::from((read32(va + CAPABILITIES) >> 8) & 0x1f) + 1;
            let timer = timers - 1;
            let route_cap = read32(va + T_CONFIG + timer * T_STRIDE + 4);
            check!(route_cap != 0);
            let line = u64::from(31 - route_cap.leading_zeros());
            let d = Device { va, timer, line };
            d.stop();
            // The main counter runs (legacy replacement routing off).
            write32(va + CONFIG, 1);
            Ok(d)
        }

        fn reg(&self, off: u64) -> u64 {
            self.va + off + self.timer * T_STRIDE
        }

        /// The main counter (its halves read until consistent).
        fn now(&self) -> u64 {
            loop {
                let hi = read32(self.va + COUNTER + 4);
                let lo = read32(self.va + COUNTER);
                if read32(self.va + COUNTER + 4) == hi {
                    return u64::from(hi) << 32 | u64::from(lo);
                }
            }
        }

        /// Fire `delta` counts from now. The comparator is written while
        /// the timer is disabled: a half-written value in the past would
        /// fire at once.
        fn arm(&self, delta: u64) {
            let config = T_LEVEL | (self.line as u32) << T_ROUTE_SHIFT;
            write32(self.reg(T_CONFIG), config);
            let at = self.now() + delta;
            write32(self.reg(T_COMPARATOR) + 4, (at >> 32) as u32);
            write32(self.reg(T_COMPARATOR), at as u32);
            write32(self.reg(T_CONFIG), config | T_ENABLE);
        }

        /// Raise the interrupt now (the comparator a few counts ahead),
        /// and wait until the device asserts it.
        pub fn raise(&self) {
            self.arm(10);
            while !self.asserted() {
                core::hint::spin_loop();
            }
        }

        /// Raise the interrupt in about a millisecond (the HPET of QEMU
        /// counts at 100 MHz).
        pub fn raise_later(&self) {
            self.arm(100_000);
        }

        /// Whether the device asserts the level (its status bit).
        pub fn asserted(&self) -> bool {
            read32(self.va + STATUS) & (1 << self.timer) != 0
        }

        /// Lower the level (write 1 to the status bit).
        pub fn lower(&self) {
            write32(self.va + STATUS, 1 << self.timer);
        }

        /// The comparator disabled.
        pub fn stop(&self) {
            write32(self.reg(T_CONFIG), 0);
            self.lower();
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod dev {
    //! The PL031 real-time clock: its match interrupt, a level on SPI 2.
    use super::{read32, write32};
    use crate::check_eq;
    use crate::sys::Suite;

    /// IRQControl Get trigger word: level.
    pub const TRIGGER: u64 = abi::irq::TRIGGER_LEVEL;
    /// A line the platform has (no device raises it in these tests).
    pub const FREE_LINE: u64 = 100;

    const DR: u64 = 0x00;
    const MR: u64 = 0x04;
    const IMSC: u64 = 0x10;
    const RIS: u64 = 0x14;
    const ICR: u64 = 0x1c;
    const PERIPH_ID0: u64 = 0xfe0;

    pub struct Device {
        va: u64,
        pub line: u64,
    }

    impl Device {
        pub fn map(s: &mut Suite) -> Result<Device, ()> {
            let va = super::device_page(s)?;
            // The PrimeCell peripheral ID of a PL031: 0x31.
            check_eq!(read32(va + PERIPH_ID0), 0x31);
            let d = Device { va, line: 34 };
            d.stop();
            Ok(d)
        }

        /// Raise the interrupt now: the match register set to the current
        /// count (retried if a second passes in between).
        pub fn raise(&self) {
            write32(self.va + IMSC, 1);
            while !self.asserted() {
                write32(self.va + MR, read32(self.va + DR));
            }
        }

        /// Raise the interrupt at the next second.
        pub fn raise_later(&self) {
            write32(self.va + IMSC, 1);
            write32(self.va + MR, read32(self.va + DR).wrapping_add(1));
        }

        /// Whether the device asserts the level (raw status).
        pub fn asserted(&self) -> bool {
            read32(self.va + RIS) & 1 != 0
        }

        /// Lower the level.
        pub fn lower(&self) {
            write32(self.va + ICR, 1);
        }

        /// The match interrupt disabled.
        pub fn stop(&self) {
            write32(self.va + IMSC, 0);
            self.lower();
        }
    }
}
