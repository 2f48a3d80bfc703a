//! Typed capability handles.
//!
//! A [`Cap<K>`] is a capability address in the caller's CSpace (spec: CS-1)
//! with the kind of object the program believes it names. The kernel checks
//! the real type on every invocation (a wrong one is `InvalidCapability`);
//! the type parameter only lets the compiler refuse, say, mapping an
//! endpoint, before a system call is wasted on it.

use abi::cptr::CPtr;
use abi::object::ObjectType;
use core::fmt;
use core::marker::PhantomData;

/// A kind of capability (spec: CAP-1).
pub trait Kind {
    /// Its name, for messages.
    const NAME: &'static str;
    /// The object type Retype creates for it, if Retype creates one.
    const OBJECT: Option<ObjectType>;
}

macro_rules! kinds {
    ($($(#[$doc:meta])* $name:ident => $object:expr;)*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum $name {}

            impl Kind for $name {
                const NAME: &'static str = stringify!($name);
                const OBJECT: Option<ObjectType> = $object;
            }
        )*
    };
}

kinds! {
    /// Untyped memory (spec: UT-1).
    Untyped => Some(ObjectType::Untyped);
    /// A thread control block.
    Tcb => Some(ObjectType::Tcb);
    /// An endpoint.
    Endpoint => Some(ObjectType::Endpoint);
    /// A notification.
    Notification => Some(ObjectType::Notification);
    /// A CNode.
    CNode => Some(ObjectType::CNode);
    /// A 4 KiB frame.
    Frame4K => Some(ObjectType::Frame4K);
    /// A 2 MiB frame.
    Frame2M => Some(ObjectType::Frame2M);
    /// A 1 GiB frame.
    Frame1G => Some(ObjectType::Frame1G);
    /// A page table (any level below the root).
    PageTable => Some(ObjectType::PageTable);
    /// An address-space root.
    VSpace => Some(ObjectType::VSpace);
    /// A one-shot reply capability (spec: IPC-16).
    Reply => None;
    /// The authority to create IRQ handlers (spec: IRQ-4).
    IrqControl => None;
    /// The handler of one interrupt line.
    IrqHandler => None;
    /// The authority to create ASID pools.
    AsidControl => None;
    /// A pool of ASIDs.
    AsidPool => None;
}

/// A capability of kind `K` at a capability address of the caller's CSpace.
pub struct Cap<K: Kind> {
    cptr: CPtr,
    kind: PhantomData<K>,
}

impl<K: Kind> Cap<K> {
    /// The capability at `cptr`, believed to be of kind `K`.
    pub const fn new(cptr: CPtr) -> Self {
        Cap {
            cptr,
            kind: PhantomData,
        }
    }

    /// Its address.
    pub const fn cptr(self) -> CPtr {
        self.cptr
    }

    /// The same address seen as another kind (a program that knows better
    /// than its types, e.g. after a Retype it chose the type of).
    pub const fn cast<L: Kind>(self) -> Cap<L> {
        Cap::new(self.cptr)
    }
}

// Derives would demand `K: Clone` etc. of the uninhabited marker.
impl<K: Kind> Clone for Cap<K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: Kind> Copy for Cap<K> {}

impl<K: Kind> PartialEq for Cap<K> {
    fn eq(&self, other: &Self) -> bool {
        self.cptr == other.cptr
    }
}

impl<K: Kind> Eq for Cap<K> {}

impl<K: Kind> fmt::Debug for Cap<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cap<{}>({:#x})", K::NAME, self.cptr.raw())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_is_its_address_and_names_its_kind() {
        let c: Cap<Endpoint> = Cap::new(CPtr::new(9, 12).unwrap());
        assert_eq!(c.cptr(), CPtr::new(9, 12).unwrap());
        assert_eq!(
            format!("{c:?}"),
            format!("Cap<Endpoint>({:#x})", c.cptr().raw())
        );
        let n: Cap<Notification> = c.cast();
        assert_eq!(n.cptr(), c.cptr());
        assert_eq!(
            <Notification as Kind>::OBJECT,
            Some(ObjectType::Notification)
        );
        assert_eq!(<Reply as Kind>::OBJECT, None);
    }
}
