//! IRQControl (spec: IRQ-2, IRQ-4). No line can be claimed yet: the kernel
//! delivers no device interrupt to user space, so every line is `Reserved`.

use super::{T, Test};
use crate::check_eq;
use crate::sys::*;
use abi::error::ErrorDetail as E;
use abi::invocation::Label;
use abi::object::ObjectType as O;

pub const TESTS: &[Test] = &[
    ("irq_4_get_checks_in_order", get_checks),
    ("irq_2_reserved_lines_are_refused", reserved),
];

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
    Ok(())
}

fn reserved(s: &mut Suite) -> T {
    let d = s.slot();
    for line in [0, 1, 4, 33, 100, 1023] {
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
