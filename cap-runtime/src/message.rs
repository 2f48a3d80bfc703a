//! IPC messages as the system calls see them (spec: MSG-2 … MSG-6,
//! SYS-9, ABI-5, ABI-8).
//!
//! A message is a label, up to [`MAX_LENGTH`] words and up to
//! [`MAX_EXTRA_CAPS`] extra capability addresses. For a system call, MR0 …
//! MR3 travel in registers and MR4 onwards in the `msg` array of the
//! thread's IPC buffer, the capability addresses in its `caps_or_badges`
//! array; [`Message::stage`] lays a message out so, and [`Received`] reads
//! one back the same way. [`Received::result`] decodes the answer to a
//! kernel invocation made with Call: label 0 and the result words, or an
//! error code with its detail words ([`ErrorDetail`]).

use abi::cptr::CPtr;
use abi::error::{BadDetail, ErrorDetail};
use abi::ipc_buffer::IpcBuffer;
use abi::msginfo::{MAX_EXTRA_CAPS, MAX_LENGTH, MessageInfo, REGISTER_MRS};

const MAX_WORDS: usize = MAX_LENGTH as usize;
const MAX_CAPS: usize = MAX_EXTRA_CAPS as usize;
const REG_MRS: usize = REGISTER_MRS as usize;

/// The register roles of a system call (spec: ABI-5), in and out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Registers {
    /// The capability address going in; the badge coming out.
    pub cptr_or_badge: u64,
    /// The message-info word.
    pub info: u64,
    /// MR0 … MR3.
    pub mrs: [u64; REG_MRS],
}

/// Why a message cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageError {
    /// The label does not fit the info word (spec: ABI-4).
    LabelTooLarge,
    /// More than [`MAX_LENGTH`] words.
    TooLong,
    /// More than [`MAX_EXTRA_CAPS`] extra capabilities.
    TooManyCaps,
}

/// A message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    label: u64,
    words: [u64; MAX_WORDS],
    len: usize,
    caps: [CPtr; MAX_CAPS],
    ncaps: usize,
}

impl Message {
    /// An empty message with `label`.
    pub fn new(label: u64) -> Result<Message, MessageError> {
        MessageInfo::new(label, 0, 0, 0).map_err(|_| MessageError::LabelTooLarge)?;
        Ok(Message {
            label,
            words: [0; MAX_WORDS],
            len: 0,
            caps: [CPtr::NULL; MAX_CAPS],
            ncaps: 0,
        })
    }

    /// A message with `label` and `words`.
    pub fn with_words(label: u64, words: &[u64]) -> Result<Message, MessageError> {
        let mut m = Message::new(label)?;
        for &w in words {
            m.push(w)?;
        }
        Ok(m)
    }

    /// Append a word.
    pub fn push(&mut self, word: u64) -> Result<&mut Message, MessageError> {
        let slot = self.words.get_mut(self.len).ok_or(MessageError::TooLong)?;
        *slot = word;
        self.len += 1;
        Ok(self)
    }

    /// Append an extra capability (spec: MSG-4).
    pub fn push_cap(&mut self, cap: CPtr) -> Result<&mut Message, MessageError> {
        let slot = self
            .caps
            .get_mut(self.ncaps)
            .ok_or(MessageError::TooManyCaps)?;
        *slot = cap;
        self.ncaps += 1;
        Ok(self)
    }

    /// The label.
    pub fn label(&self) -> u64 {
        self.label
    }

    /// The words.
    pub fn words(&self) -> &[u64] {
        &self.words[..self.len]
    }

    /// The extra capabilities.
    pub fn caps(&self) -> &[CPtr] {
        &self.caps[..self.ncaps]
    }

    /// The info word (spec: ABI-4).
    pub fn info(&self) -> MessageInfo {
        MessageInfo::new(self.label, 0, self.ncaps as u64, self.len as u64)
            .expect("`new`, `push` and `push_cap` keep every field in range")
    }

    /// Lay the message out for a system call on `cptr`: the returned
    /// registers carry the address, the info word and MR0 … MR3; MR4
    /// onwards go to `buf.msg[4..]` and the capability addresses to
    /// `buf.caps_or_badges` (spec: MSG-3, MSG-4). Words `msg[0..4]` of the
    /// buffer are left alone (the kernel never reads them).
    pub fn stage(&self, cptr: CPtr, buf: &mut IpcBuffer) -> Registers {
        let mut mrs = [0; REG_MRS];
        for (i, &w) in self.words().iter().enumerate() {
            match mrs.get_mut(i) {
                Some(r) => *r = w,
                None => buf.msg[i] = w,
            }
        }
        for (i, c) in self.caps().iter().enumerate() {
            buf.caps_or_badges[i] = c.raw();
        }
        Registers {
            cptr_or_badge: cptr.raw(),
            info: self.info().raw(),
            mrs,
        }
    }
}

/// A message a system call delivered: the output registers and the IPC
/// buffer they refer to.
#[derive(Clone, Copy, Debug)]
pub struct Received<'a> {
    regs: Registers,
    buf: &'a IpcBuffer,
}

/// Why the answer to a kernel invocation is not a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvocationError {
    /// The kernel refused the invocation (spec: ERR-1, ERR-2).
    Kernel(ErrorDetail),
    /// A label and words that are no kernel result (a user server's answer
    /// with a reserved label, SYS-10).
    NotAResult(BadDetail),
}

impl<'a> Received<'a> {
    /// The message the registers `regs` describe, MR4 onwards in `buf`.
    pub fn new(regs: Registers, buf: &'a IpcBuffer) -> Received<'a> {
        Received { regs, buf }
    }

    /// The info word.
    pub fn info(&self) -> MessageInfo {
        MessageInfo::from_raw(self.regs.info)
    }

    /// The label.
    pub fn label(&self) -> u64 {
        self.info().label()
    }

    /// The badge of the capability the sender used (spec: MSG-6).
    pub fn badge(&self) -> u64 {
        self.regs.cptr_or_badge
    }

    /// The number of words delivered.
    pub fn len(&self) -> usize {
        self.info().length() as usize
    }

    /// Whether no words were delivered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Word `i`, if delivered.
    pub fn word(&self, i: usize) -> Option<u64> {
        if i >= self.len() {
            return None;
        }
        Some(match self.regs.mrs.get(i) {
            Some(&w) => w,
            None => self.buf.msg[i],
        })
    }

    /// The delivered words, in order.
    pub fn words(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).filter_map(|i| self.word(i))
    }

    /// The badge of unwrapped extra capability `i`, if the kernel unwrapped
    /// it (spec: IPC-13 rule 2).
    pub fn unwrapped_badge(&self, i: usize) -> Option<u64> {
        let info = self.info();
        let mine = i < info.extra_caps() as usize && info.caps_unwrapped() >> i & 1 == 1;
        mine.then(|| self.buf.caps_or_badges[i])
    }

    /// The answer to a kernel invocation made with Call (spec: SYS-9):
    /// the result words on label 0, else the error with its detail.
    pub fn result(&self) -> Result<ResultWords, InvocationError> {
        let mut words = ResultWords {
            words: [0; MAX_WORDS],
            len: self.len(),
        };
        for (dst, w) in words.words.iter_mut().zip(self.words()) {
            *dst = w;
        }
        match self.label() {
            0 => Ok(words),
            label => Err(match ErrorDetail::from_words(label, words.as_slice()) {
                Ok(detail) => InvocationError::Kernel(detail),
                Err(bad) => InvocationError::NotAResult(bad),
            }),
        }
    }
}

/// The words of a successful invocation's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResultWords {
    words: [u64; MAX_WORDS],
    len: usize,
}

impl ResultWords {
    /// The words.
    pub fn as_slice(&self) -> &[u64] {
        &self.words[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::error::{Error, LookupFailure};
    use zerocopy::FromZeros;

    fn cptr(i: u64) -> CPtr {
        CPtr::new(i, 12).unwrap()
    }

    #[test]
    fn msg_3_the_first_four_words_go_in_registers_the_rest_in_the_buffer() {
        let words: Vec<u64> = (100..110).collect();
        let mut m = Message::with_words(7, &words).unwrap();
        m.push_cap(cptr(3)).unwrap().push_cap(cptr(4)).unwrap();
        let mut buf = IpcBuffer::new_zeroed();
        buf.msg[0] = 0xdead;
        let r = m.stage(cptr(9), &mut buf);
        assert_eq!(r.cptr_or_badge, cptr(9).raw());
        assert_eq!(r.mrs, [100, 101, 102, 103]);
        assert_eq!(buf.msg[0], 0xdead, "msg[0..4] is not the kernel's");
        assert_eq!(&buf.msg[4..10], &words[4..]);
        assert_eq!(buf.msg[10], 0);
        assert_eq!(buf.caps_or_badges, [cptr(3).raw(), cptr(4).raw(), 0]);
        let info = MessageInfo::from_raw(r.info);
        assert_eq!((info.label(), info.extra_caps(), info.length()), (7, 2, 10));
        // What the kernel delivers the same way reads back whole.
        let got = Received::new(r, &buf);
        assert_eq!(got.words().collect::<Vec<_>>(), words);
        assert_eq!(got.word(10), None);
        assert_eq!(got.label(), 7);
    }

    #[test]
    fn abi_6_limits_are_refused_when_building() {
        let mut m = Message::with_words(1, &[0; MAX_WORDS]).unwrap();
        assert_eq!(m.push(1).unwrap_err(), MessageError::TooLong);
        for i in 0..3 {
            m.push_cap(cptr(i)).unwrap();
        }
        assert_eq!(m.push_cap(cptr(5)).unwrap_err(), MessageError::TooManyCaps);
        assert_eq!(
            Message::new(1 << 52).unwrap_err(),
            MessageError::LabelTooLarge
        );
        assert_eq!(m.info().length(), MAX_LENGTH);
    }

    #[test]
    fn sys_9_results_and_errors_decode() {
        let buf = IpcBuffer::new_zeroed();
        let ok = Registers {
            cptr_or_badge: 0,
            info: MessageInfo::new(0, 0, 0, 2).unwrap().raw(),
            mrs: [5, 6, 0, 0],
        };
        assert_eq!(
            Received::new(ok, &buf).result().unwrap().as_slice(),
            &[5, 6]
        );
        let failure = LookupFailure::from_words([1, 0, 0]).unwrap();
        let detail = ErrorDetail::FailedLookup {
            position: 1,
            failure,
        };
        let words = detail.to_words();
        let err = Registers {
            cptr_or_badge: 0,
            info: MessageInfo::new(Error::FailedLookup.code(), 0, 0, 4)
                .unwrap()
                .raw(),
            mrs: words,
        };
        assert_eq!(
            Received::new(err, &buf).result(),
            Err(InvocationError::Kernel(detail))
        );
        // A server answering with a reserved label and the wrong length.
        let odd = Registers {
            cptr_or_badge: 0,
            info: MessageInfo::new(Error::RangeError.code(), 0, 0, 1)
                .unwrap()
                .raw(),
            mrs: [1, 0, 0, 0],
        };
        assert!(matches!(
            Received::new(odd, &buf).result(),
            Err(InvocationError::NotAResult(BadDetail::WrongLength { .. }))
        ));
    }

    #[test]
    fn ipc_13_unwrapped_badges_are_read_only_where_the_info_word_says() {
        let mut buf = IpcBuffer::new_zeroed();
        buf.caps_or_badges = [11, 22, 33];
        let regs = Registers {
            cptr_or_badge: 4,
            // Two capabilities, the second unwrapped.
            info: MessageInfo::new(3, 0b10, 2, 0).unwrap().raw(),
            mrs: [0; 4],
        };
        let got = Received::new(regs, &buf);
        assert_eq!(got.badge(), 4);
        assert_eq!(got.unwrapped_badge(0), None);
        assert_eq!(got.unwrapped_badge(1), Some(22));
        assert_eq!(got.unwrapped_badge(2), None);
        assert!(got.is_empty());
    }
}
