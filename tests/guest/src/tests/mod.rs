//! The tests, by area. Each is `fn(&mut Suite) -> T` and cites the spec
//! rules it checks; a failed check prints its line and values.

pub mod cnode;
pub mod faults;
pub mod ipc;
pub mod irq;
pub mod tcb;
pub mod untyped;
pub mod vspace;

use crate::sys::Suite;

/// A test's result: `Err(())` after the failure has been printed.
pub type T = Result<(), ()>;

/// A named test.
pub type Test = (&'static str, fn(&mut Suite) -> T);

/// Fail the test unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr) => {
        if !$cond {
            cap_runtime::println!("    line {}: {} does not hold", line!(), stringify!($cond));
            return Err(());
        }
    };
}

/// Fail the test unless `a == b`.
#[macro_export]
macro_rules! check_eq {
    ($a:expr, $b:expr) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            cap_runtime::println!(
                "    line {}: {} = {:?}, expected {:?}",
                line!(),
                stringify!($a),
                a,
                b
            );
            return Err(());
        }
    }};
}

/// Every test, in order.
pub fn all() -> impl Iterator<Item = &'static Test> {
    untyped::TESTS
        .iter()
        .chain(cnode::TESTS)
        .chain(tcb::TESTS)
        .chain(ipc::TESTS)
        .chain(vspace::TESTS)
        .chain(irq::TESTS)
        .chain(faults::TESTS)
}
