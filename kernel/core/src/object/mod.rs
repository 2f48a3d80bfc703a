//! Kernel objects: their layouts in retyped memory and their invocations,
//! one file per object kind (spec: ST-2, ABI-14).

pub mod cnode;
pub mod endpoint;
pub mod irq;
pub mod notification;
pub mod tcb;
pub mod thread;
pub mod untyped;
pub mod vspace;
