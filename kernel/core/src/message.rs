//! Registers, the IPC buffer and messages (spec: MSG-1 … MSG-6, ABI-5,
//! ABI-8, SYS-9).
//!
//! A thread's registers live in its TCB (saved there by the architecture's
//! entry code); its IPC buffer is read and written through physical memory,
//! wherever or whether it is mapped (MSG-5).

use crate::cap::Cap;
use crate::kernel::Kernel;
use crate::mem::{Memory, PAddr, get, get_mut};
use crate::object::tcb;
use crate::slot;
use abi::error::ErrorDetail;
use abi::invocation::TcbSlot;
use abi::msginfo::{MAX_EXTRA_CAPS, MAX_LENGTH, MessageInfo, REGISTER_MRS};

/// Word index of `msg[0]` in the IPC buffer (spec: ABI-8).
pub const MSG_WORD: usize = 1;
/// Word index of `caps_or_badges[0]`.
pub const CAPS_WORD: usize = 122;
/// Word index of `receive_slot`.
pub const RECEIVE_SLOT_WORD: usize = 125;
/// Words in the IPC buffer.
pub const BUFFER_WORDS: usize = 128;

/// A message read from a sender (spec: MSG-2): label, words, and the
/// number of extra capabilities.
///
/// The words are a `heapless::Vec`, not an array: most messages are a few
/// words long, and an array of `MAX_LENGTH` would be zeroed whole on
/// every read (a tenth of an IPC round trip's instructions).
#[derive(Clone, Debug)]
pub struct Message {
    /// The label.
    pub label: u64,
    /// Number of words in `words` (`words.len()`).
    pub length: usize,
    /// The words MR0 …
    pub words: heapless::Vec<u64, { MAX_LENGTH as usize }>,
    /// Extra capabilities named in the sender's IPC buffer.
    pub extra: usize,
}

impl<M: Memory> Kernel<M> {
    /// Register `i` of thread `t`.
    pub fn reg(&self, t: PAddr, i: usize) -> u64 {
        tcb::tcb(&self.mem, t).context[i]
    }

    /// Set register `i` of thread `t`.
    pub fn set_reg(&mut self, t: PAddr, i: usize, v: u64) {
        tcb::tcb_mut(&mut self.mem, t).context[i] = v;
    }

    /// The physical address of `t`'s IPC buffer, if it has one (spec:
    /// MSG-5).
    pub fn ipc_buffer(&self, t: PAddr) -> Option<PAddr> {
        let vaddr = tcb::tcb(&self.mem, t).ipc_buffer;
        let frame = slot::cap(&self.mem, tcb::slot_addr(t, TcbSlot::IpcBufferFrame as u64));
        match frame {
            Cap::Frame { obj, size_bits, .. } if vaddr != 0 => {
                Some(obj + (vaddr & ((1 << size_bits) - 1)))
            }
            _ => None,
        }
    }

    /// Word `i` of the IPC buffer at `buf`.
    pub fn buffer_word(&self, buf: PAddr, i: usize) -> u64 {
        *get::<u64>(&self.mem, buf + 8 * i as u64)
    }

    /// Set word `i` of the IPC buffer at `buf`.
    pub fn set_buffer_word(&mut self, buf: PAddr, i: usize, v: u64) {
        *get_mut::<u64>(&mut self.mem, buf + 8 * i as u64) = v;
    }

    /// The number of extra capabilities thread `t`'s message names (spec:
    /// MSG-2, MSG-4): none without an IPC buffer; as [`Self::read_message`]
    /// counts them, without reading the words.
    pub fn message_extra(&self, t: PAddr) -> usize {
        let info = MessageInfo::from_raw(self.reg(t, self.layout.info));
        match self.ipc_buffer(t) {
            Some(_) => (info.extra_caps() as usize).min(MAX_EXTRA_CAPS as usize),
            None => 0,
        }
    }

    /// The message thread `t` sends (spec: MSG-2, MSG-3).
    pub fn read_message(&self, t: PAddr) -> Message {
        let l = self.layout;
        let info = MessageInfo::from_raw(self.reg(t, l.info));
        let buf = self.ipc_buffer(t);
        let mut length = info.length() as usize;
        let mut extra = info.extra_caps() as usize;
        if buf.is_none() {
            length = length.min(REGISTER_MRS as usize);
            extra = 0;
        }
        let mut words = heapless::Vec::new();
        for i in 0..length {
            let w = match (i < REGISTER_MRS as usize, buf) {
                (true, _) => self.reg(t, l.mrs[i]),
                (false, Some(b)) => self.buffer_word(b, MSG_WORD + i),
                (false, None) => 0,
            };
            // `length` ≤ MAX_LENGTH, the capacity (MessageInfo caps it).
            if words.push(w).is_err() {
                break;
            }
        }
        let length = words.len();
        Message {
            label: info.label(),
            length,
            words,
            extra: extra.min(MAX_EXTRA_CAPS as usize),
        }
    }

    /// The capability address of `t`'s extra capability `i` (MSG-4).
    pub fn extra_cptr(&self, t: PAddr, i: usize) -> u64 {
        match self.ipc_buffer(t) {
            Some(b) => self.buffer_word(b, CAPS_WORD + i),
            None => 0,
        }
    }

    /// Write a message of `words` to receiver `r` (spec: MSG-6): MR0 … MR3
    /// to registers, the rest to its IPC buffer (dropped without one), and
    /// the info and badge registers. Returns the length delivered.
    pub fn write_message(
        &mut self,
        r: PAddr,
        label: u64,
        words: &[u64],
        extra_caps: u64,
        caps_unwrapped: u64,
        badge: u64,
    ) -> usize {
        let l = self.layout;
        let buf = self.ipc_buffer(r);
        let n = match buf {
            Some(_) => words.len(),
            None => words.len().min(REGISTER_MRS as usize),
        };
        for (i, &w) in words.iter().enumerate().take(n) {
            if i < REGISTER_MRS as usize {
                self.set_reg(r, l.mrs[i], w);
            } else if let Some(b) = buf {
                self.set_buffer_word(b, MSG_WORD + i, w);
            }
        }
        let info = MessageInfo::from_raw(
            (label << 12) | (caps_unwrapped << 9) | (extra_caps << 7) | n as u64,
        );
        self.set_reg(r, l.info, info.raw());
        self.set_reg(r, l.cptr, badge);
        n
    }

    /// Give the caller of a completed Call its result (spec: SYS-9).
    pub fn write_result(&mut self, t: PAddr, r: Result<&[u64], ErrorDetail>) {
        match r {
            Ok(words) => {
                self.write_message(t, 0, words, 0, 0, 0);
            }
            Err(e) => {
                let words = e.to_words();
                let n = ErrorDetail::length_of(e.error());
                self.write_message(t, e.error().code(), &words[..n], 0, 0, 0);
            }
        }
    }
}
