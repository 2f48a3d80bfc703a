//! Invocation labels: the `label` of the message-info word when a thread
//! invokes a kernel object (spec: ABI-13). Any other label, 0 included,
//! fails with `IllegalOperation` (spec: ERR-6), so unknown labels are a
//! typed error, never a panic.

/// An invocation of a kernel object (spec: ABI-13).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    /// spec: UT-3
    UntypedRetype = 1,
    /// spec: TCB-4
    TcbReadRegisters = 2,
    /// spec: TCB-5
    TcbWriteRegisters = 3,
    /// spec: TCB-6
    TcbConfigure = 4,
    /// spec: TCB-7
    TcbSetPriority = 5,
    /// spec: TCB-8
    TcbSetMcPriority = 6,
    /// spec: TCB-9
    TcbResume = 7,
    /// spec: TCB-10
    TcbSuspend = 8,
    /// spec: TCB-11
    TcbSetTlsBase = 9,
    /// spec: TCB-12
    TcbSetFaultEndpoint = 10,
    /// spec: TCB-13
    TcbBindNotification = 11,
    /// spec: TCB-14
    TcbUnbindNotification = 12,
    /// spec: CNODE-2
    CNodeCopy = 16,
    /// spec: CNODE-3
    CNodeMint = 17,
    /// spec: CNODE-4
    CNodeMove = 18,
    /// spec: CNODE-5
    CNodeMutate = 19,
    /// spec: CNODE-6
    CNodeDelete = 20,
    /// spec: CNODE-7
    CNodeRevoke = 21,
    /// spec: CNODE-8
    CNodeCancelBadgedSends = 22,
    /// spec: CNODE-10
    CNodeSaveCaller = 23,
    /// spec: IRQ-4
    IrqControlGet = 32,
    /// spec: IRQ-5
    IrqHandlerAck = 33,
    /// spec: IRQ-6
    IrqHandlerSetNotification = 34,
    /// spec: IRQ-7
    IrqHandlerClear = 35,
    /// spec: VM-6
    FrameMap = 48,
    /// spec: VM-7
    FrameUnmap = 49,
    /// spec: VM-8
    FrameGetAddress = 50,
    /// spec: VM-9
    PageTableMap = 56,
    /// spec: VM-10
    PageTableUnmap = 57,
    /// spec: ASID-4
    AsidControlMakePool = 64,
    /// spec: ASID-5
    AsidPoolAssign = 65,
}

/// The capability type an invocation belongs to (spec: CAP-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Invoked {
    /// Untyped capability.
    Untyped,
    /// TCB capability.
    Tcb,
    /// CNode capability.
    CNode,
    /// IRQControl capability.
    IrqControl,
    /// IRQHandler capability.
    IrqHandler,
    /// Frame capability.
    Frame,
    /// PageTable capability.
    PageTable,
    /// ASIDControl capability.
    AsidControl,
    /// ASIDPool capability.
    AsidPool,
}

/// A label that names no invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownLabel(pub u64);

impl Label {
    /// Every label, in number order.
    pub const ALL: [Label; 31] = [
        Label::UntypedRetype,
        Label::TcbReadRegisters,
        Label::TcbWriteRegisters,
        Label::TcbConfigure,
        Label::TcbSetPriority,
        Label::TcbSetMcPriority,
        Label::TcbResume,
        Label::TcbSuspend,
        Label::TcbSetTlsBase,
        Label::TcbSetFaultEndpoint,
        Label::TcbBindNotification,
        Label::TcbUnbindNotification,
        Label::CNodeCopy,
        Label::CNodeMint,
        Label::CNodeMove,
        Label::CNodeMutate,
        Label::CNodeDelete,
        Label::CNodeRevoke,
        Label::CNodeCancelBadgedSends,
        Label::CNodeSaveCaller,
        Label::IrqControlGet,
        Label::IrqHandlerAck,
        Label::IrqHandlerSetNotification,
        Label::IrqHandlerClear,
        Label::FrameMap,
        Label::FrameUnmap,
        Label::FrameGetAddress,
        Label::PageTableMap,
        Label::PageTableUnmap,
        Label::AsidControlMakePool,
        Label::AsidPoolAssign,
    ];

    /// The label word.
    pub const fn raw(self) -> u64 {
        self as u64
    }

    /// The capability type this invocation is made on; a label used on
    /// another type fails with `IllegalOperation` (spec: ERR-6 step 2).
    pub const fn invoked(self) -> Invoked {
        match self as u64 {
            1 => Invoked::Untyped,
            2..=12 => Invoked::Tcb,
            16..=23 => Invoked::CNode,
            32 => Invoked::IrqControl,
            33..=35 => Invoked::IrqHandler,
            48..=50 => Invoked::Frame,
            56 | 57 => Invoked::PageTable,
            64 => Invoked::AsidControl,
            _ => Invoked::AsidPool,
        }
    }
}

impl TryFrom<u64> for Label {
    type Error = UnknownLabel;

    fn try_from(raw: u64) -> Result<Self, UnknownLabel> {
        Label::ALL
            .iter()
            .copied()
            .find(|l| l.raw() == raw)
            .ok_or(UnknownLabel(raw))
    }
}

/// The five slots of a TCB (spec: ST-7, ABI-11).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcbSlot {
    /// The CSpace root: a CNode capability.
    CSpaceRoot = 0,
    /// The VSpace root: a VSpace capability.
    VSpaceRoot = 1,
    /// The IPC-buffer frame: a non-device Frame capability.
    IpcBufferFrame = 2,
    /// The fault endpoint: an Endpoint capability (spec: TCB-12).
    FaultEndpoint = 3,
    /// The one-shot reply (spec: IPC-16).
    Reply = 4,
}

/// Number of TCB slots.
pub const TCB_SLOTS: usize = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_are_grouped() {
        // spec: ABI-13
        for l in Label::ALL {
            assert_eq!(Label::try_from(l.raw()), Ok(l));
        }
        assert_eq!(Label::UntypedRetype.invoked(), Invoked::Untyped);
        assert_eq!(Label::TcbUnbindNotification.invoked(), Invoked::Tcb);
        assert_eq!(Label::CNodeSaveCaller.invoked(), Invoked::CNode);
        assert_eq!(Label::IrqControlGet.invoked(), Invoked::IrqControl);
        assert_eq!(Label::IrqHandlerClear.invoked(), Invoked::IrqHandler);
        assert_eq!(Label::FrameGetAddress.invoked(), Invoked::Frame);
        assert_eq!(Label::PageTableUnmap.invoked(), Invoked::PageTable);
        assert_eq!(Label::AsidControlMakePool.invoked(), Invoked::AsidControl);
        assert_eq!(Label::AsidPoolAssign.invoked(), Invoked::AsidPool);
    }

    #[test]
    fn unknown_labels_are_rejected() {
        for raw in [0, 13, 15, 24, 31, 36, 51, 58, 66, u64::MAX] {
            assert_eq!(Label::try_from(raw), Err(UnknownLabel(raw)));
        }
    }

    #[test]
    fn labels_are_distinct() {
        for (i, a) in Label::ALL.iter().enumerate() {
            for b in &Label::ALL[i + 1..] {
                assert!(a.raw() < b.raw());
            }
        }
    }

    #[test]
    fn tcb_slot_indices_are_fixed() {
        // spec: ABI-11
        assert_eq!(
            [
                TcbSlot::CSpaceRoot as u64,
                TcbSlot::VSpaceRoot as u64,
                TcbSlot::IpcBufferFrame as u64,
                TcbSlot::FaultEndpoint as u64,
                TcbSlot::Reply as u64,
            ],
            [0, 1, 2, 3, 4]
        );
        assert_eq!(TCB_SLOTS, 5);
    }
}
