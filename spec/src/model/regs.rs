//! Registers, IPC buffers and messages (spec: ABI-5, ABI-8, ABI-17,
//! MSG-2 … MSG-6), and the restart address of a thread.

use abi::context::Layout;
use abi::msginfo::MessageInfo;
use alloc::vec::Vec;

use super::Model;
use crate::entry::UserActions;
use crate::state::{Addr, Fault, ThreadState};

/// IPC-buffer word of `msg[0]` (ABI-8): `msg[i]` is word `MSG + i`.
pub(super) const MSG: usize = 1;
/// IPC-buffer word of `caps_or_badges[0]` (ABI-8).
pub(super) const CAPS: usize = 122;
/// IPC-buffer word of `receive_slot` (ABI-8).
pub(super) const RECEIVE_SLOT: usize = 125;
/// Words in an IPC buffer (ABI-8).
const BUFFER_WORDS: usize = 128;
/// Message registers in registers (ABI-6).
const REGISTER_MRS: usize = 4;

/// A message as its sender's registers and IPC buffer hold it (MSG-2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Message {
    /// The info word's label.
    pub label: u64,
    /// MR0 … MR`length − 1`.
    pub words: Vec<u64>,
    /// The extra capability addresses (`caps_or_badges[0 .. extra]`).
    pub caps: Vec<u64>,
}

impl Model {
    /// The register layout (ABI-5, ABI-10).
    pub(super) fn layout(&self) -> Layout {
        self.arch.layout()
    }

    pub(super) fn reg(&self, t: Addr, i: usize) -> u64 {
        self.tcb(t)
            .and_then(|tcb| tcb.context.get(i).copied())
            .unwrap_or(0)
    }

    pub(super) fn set_reg(&mut self, t: Addr, i: usize, v: u64) {
        if let Some(r) = self.tcb_mut(t).and_then(|tcb| tcb.context.get_mut(i)) {
            *r = v;
        }
    }

    /// The physical address of `t`'s IPC buffer, if it has one (MSG-5).
    pub(super) fn buffer(&self, t: Addr) -> Option<Addr> {
        self.state.ipc_buffer(t)
    }

    /// Word `i` of `t`'s IPC buffer (0 without a buffer).
    pub(super) fn buf_read(&self, t: Addr, i: usize) -> u64 {
        match self.buffer(t) {
            Some(b) if i < BUFFER_WORDS => self
                .state
                .frame_data
                .get(&(b + 8 * i as u64))
                .copied()
                .unwrap_or(0),
            _ => 0,
        }
    }

    /// Write word `i` of `t`'s IPC buffer (dropped without a buffer).
    pub(super) fn buf_write(&mut self, t: Addr, i: usize, v: u64) {
        if let Some(b) = self.buffer(t)
            && i < BUFFER_WORDS
        {
            let a = b + 8 * i as u64;
            if v == 0 {
                self.state.frame_data.remove(&a);
            } else {
                self.state.frame_data.insert(a, v);
            }
        }
    }

    /// What the current thread's user code does before the entry (the
    /// `UserActions` doc): register and IPC-buffer writes, in order;
    /// writes outside the register set or without a buffer are dropped.
    pub fn apply_user_actions(&mut self, t: Addr, a: &UserActions) {
        for &(i, v) in &a.regs {
            self.set_reg(t, i, v);
        }
        for &(i, v) in &a.buffer {
            self.buf_write(t, i, v);
        }
    }

    /// The message `s` sends (MSG-2, MSG-3, MSG-4), read now (MSG-7).
    pub(super) fn read_message(&self, s: Addr) -> Message {
        let l = self.layout();
        let info = MessageInfo::from_raw(self.reg(s, l.info));
        let (mut length, mut extra) = (info.length() as usize, info.extra_caps() as usize);
        let has_buffer = self.buffer(s).is_some();
        if !has_buffer {
            length = length.min(REGISTER_MRS);
            extra = 0;
        }
        let words = (0..length)
            .map(|i| {
                if i < REGISTER_MRS {
                    self.reg(s, l.mrs[i])
                } else {
                    self.buf_read(s, MSG + i)
                }
            })
            .collect();
        let caps = (0..extra).map(|i| self.buf_read(s, CAPS + i)).collect();
        Message {
            label: info.label(),
            words,
            caps,
        }
    }

    /// Write a message to `r` (MSG-6): MR0 … MR3 to its registers, MR4 …
    /// to its IPC buffer (none without a buffer), the info word and the
    /// badge. Registers and words beyond the length keep their values.
    pub(super) fn write_message(
        &mut self,
        r: Addr,
        label: u64,
        words: &[u64],
        badge: u64,
        extra: u64,
        unwrapped: u64,
    ) {
        let l = self.layout();
        let mut n = words.len().min(120);
        if self.buffer(r).is_none() {
            n = n.min(REGISTER_MRS);
        }
        for (i, &w) in words[..n].iter().enumerate() {
            if i < REGISTER_MRS {
                self.set_reg(r, l.mrs[i], w);
            } else {
                self.buf_write(r, MSG + i, w);
            }
        }
        let label = label & ((1 << abi::msginfo::LABEL_BITS) - 1);
        let info = (label << 12) | (unwrapped << 9) | (extra << 7) | n as u64;
        self.set_reg(r, l.info, info);
        self.set_reg(r, l.cptr, badge);
    }

    /// The badge register gets `badge` and the info register 0 (NTFN-3,
    /// NTFN-4, NTFN-7, IPC-10 step 4); message registers are untouched.
    pub(super) fn write_signal(&mut self, r: Addr, badge: u64) {
        let l = self.layout();
        self.set_reg(r, l.info, 0);
        self.set_reg(r, l.cptr, badge);
    }

    /// Where `t` continues if it is restarted (module documentation:
    /// "The program counter").
    pub(super) fn restart_address(&self, t: Addr) -> u64 {
        let l = self.layout();
        let pc = self.reg(t, l.pc);
        let Some(tcb) = self.tcb(t) else { return pc };
        match (tcb.state, tcb.fault) {
            (_, Some(Fault::UserException { .. } | Fault::Vm { .. })) => pc,
            (_, Some(Fault::Cap { .. } | Fault::UnknownSyscall { .. })) => {
                pc.wrapping_sub(l.syscall_len)
            }
            (ThreadState::Running | ThreadState::Inactive | ThreadState::Idle, None) => pc,
            // Restart, or blocked in a system call.
            (_, None) => pc.wrapping_sub(l.syscall_len),
        }
    }

    /// The program counter as ReadRegisters reports it (TCB-4): a
    /// `Restart` thread's is the instruction it will re-execute.
    pub(super) fn reported_pc(&self, t: Addr) -> u64 {
        let l = self.layout();
        let pc = self.reg(t, l.pc);
        if self.state_of(t) == Some(ThreadState::Restart) {
            pc.wrapping_sub(l.syscall_len)
        } else {
            pc
        }
    }
}
