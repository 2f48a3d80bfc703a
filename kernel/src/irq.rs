//! Device interrupts for user space: the interrupt controller follows the
//! object core's line states (spec: IRQ-1 … IRQ-9, INV-36).
//!
//! The object core decides, per line, whether it is claimed and whether a
//! delivery awaits its Ack (`Kernel::irq_state`); this module makes the
//! controller agree: a line is unmasked exactly when it is `Active`
//! without a pending acknowledgement. After each entry that changed a
//! state (`Kernel::irq_changes` moved), [`sync`] masks and unmasks the
//! lines whose state differs from what the controller was last told;
//! the architecture's interrupt path masks a line itself the moment it
//! delivers it ([`delivered`]), before the end of interrupt.
//!
//! A device interrupt taken in user mode enters the core at once
//! (`Trap::Interrupt`). One taken while the kernel waits for an interrupt
//! (no thread runnable, see `crate::user`) is recorded ([`defer`]) and
//! handed to the core when the wait is over ([`take_deferred`]).
//!
//! The architecture provides `arch::lines`: `count()` (lines the platform
//! has), `reserved(line)`, `unmask(line, trigger_word)` (configure with
//! IRQControl Get's trigger word and unmask) and `mask(line)`.

use crate::arch;
use crate::phys::PhysMemory;
use abi::irq::IRQ_LINES;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel_core::kernel::Kernel;
use kernel_core::object::irq::ACTIVE;
use spin::Mutex;

const WORDS: usize = (IRQ_LINES as usize).div_ceil(64);

/// What the controller was last told: the lines unmasked at it.
struct Controller {
    unmasked: [u64; WORDS],
}

static CONTROLLER: Mutex<Controller> = Mutex::new(Controller {
    unmasked: [0; WORDS],
});

/// `Kernel::irq_changes` at the last [`sync`]: most entries change no
/// line, and cost one load here.
static SEEN: AtomicU64 = AtomicU64::new(0);

/// Lines delivered while the kernel waited, not yet given to the core.
static DEFERRED: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];

fn bit(line: u64) -> Option<(usize, u64)> {
    (line < IRQ_LINES).then(|| ((line / 64) as usize, 1 << (line % 64)))
}

/// The interrupt path took `line`: mask it at the controller (spec:
/// IRQ-8: it stays masked until Ack). Interrupts are masked.
pub fn delivered(line: u64) {
    let Some((w, b)) = bit(line) else { return };
    arch::lines::mask(line);
    CONTROLLER.lock().unmasked[w] &= !b;
}

/// Record `line`, taken while the kernel waited, for [`take_deferred`].
pub fn defer(line: u64) {
    if let Some((w, b)) = bit(line) {
        DEFERRED[w].fetch_or(b, Ordering::Relaxed);
    }
}

/// One line recorded by [`defer`], lowest first.
pub fn take_deferred() -> Option<u64> {
    for (w, word) in DEFERRED.iter().enumerate() {
        let v = word.load(Ordering::Relaxed);
        if v != 0 {
            let i = v.trailing_zeros();
            word.fetch_and(!(1 << i), Ordering::Relaxed);
            return Some(w as u64 * 64 + u64::from(i));
        }
    }
    None
}

/// Make the controller agree with the core's line states (spec: INV-36:
/// a line is unmasked iff it is `Active` without a pending Ack), if an
/// entry changed any since the last call.
pub fn sync(k: &Kernel<PhysMemory>) {
    if SEEN.load(Ordering::Relaxed) == k.irq_changes {
        return;
    }
    SEEN.store(k.irq_changes, Ordering::Relaxed);
    let mut c = CONTROLLER.lock();
    for (line, &state) in k.irq_state.iter().enumerate() {
        let (w, b) = (line / 64, 1u64 << (line % 64));
        let want = state == ACTIVE;
        if want == (c.unmasked[w] & b != 0) {
            continue;
        }
        if want {
            arch::lines::unmask(line as u64, u64::from(k.irq_trigger[line]));
            c.unmasked[w] |= b;
        } else {
            arch::lines::mask(line as u64);
            c.unmasked[w] &= !b;
        }
    }
}

/// The checking kernel's look at the controller itself (spec: INV-36,
/// the half the abstract state cannot show): every line the platform has
/// is masked at the controller exactly when it is not `Active` without a
/// pending Ack. `Err((line, state, masked))` names the first that is not.
#[cfg(feature = "check")]
pub fn controller_agrees(k: &Kernel<PhysMemory>) -> Result<(), (u64, u8, bool)> {
    for line in 0..arch::lines::count().min(IRQ_LINES) {
        let state = k.irq_state[line as usize];
        if let Some(masked) = arch::lines::is_masked(line)
            && masked == (state == ACTIVE)
        {
            return Err((line, state, masked));
        }
    }
    Ok(())
}

/// The lines the platform has and those of them the kernel keeps, for the
/// boot state (spec: IRQ-2): `(count, reserved)`. At most `N` reserved
/// lines are listed; the count stops before the first that does not fit.
pub fn platform_lines<const N: usize>() -> (u64, [u64; N], usize) {
    let mut reserved = [0; N];
    let mut n = 0;
    let count = arch::lines::count().min(IRQ_LINES);
    for line in 0..count {
        if arch::lines::reserved(line) {
            if n == N {
                return (line, reserved, n);
            }
            reserved[n] = line;
            n += 1;
        }
    }
    (count, reserved, n)
}
