//! The log a context's watchers share: its last [`WATCH_BUFFER`] writes, in slots the one
//! writer fills and watchers only read.
//!
//! An entry that fits its slot (a name and values of usual size, a little metadata) is
//! written into it as words under a stamp (a sequence lock): a watcher copies the words and
//! keeps them only if the stamp did not move meanwhile. Reading thus never writes to memory
//! the writer uses: the writer neither waits for a watcher nor pays for the cache lines
//! watchers took from it, and a write costs the same whatever the number of watchers. A
//! larger entry is kept whole beside its slot, behind a lock.

use std::sync::atomic::{AtomicU64, Ordering, fence};

use dspex_core::{Metadata, Value};
use parking_lot::Mutex;

use super::{UpdateSource, VariableUpdate, WATCH_BUFFER};

/// The log's slots.
pub(super) const SLOTS: usize = WATCH_BUFFER;

/// The words of a slot that hold its entry: version, time, header, value, old value, then
/// the bytes of the strings (name, string values, metadata keys and values).
const WORDS: usize = 15;
const FIXED_WORDS: usize = 5;
const TEXT_BYTES: usize = (WORDS - FIXED_WORDS) * 8;

/// The stamp of a slot never written.
const EMPTY: u64 = u64::MAX;

/// How an entry is kept (the header's first byte).
const KIND_INLINE: u8 = 1;
const KIND_WHOLE: u8 = 2;

const TAG_NONE: u8 = 0;
const TAG_FLOAT: u8 = 1;
const TAG_INTEGER: u8 = 2;
const TAG_STRING: u8 = 3;
const TAG_BOOLEAN: u8 = 4;

/// One place of the log: entry `seq` lives in slot `seq % SLOTS`. Its stamp is `seq
/// << 1` once the entry is written, `seq << 1 | 1` while it is being written.
#[repr(align(128))]
struct Slot {
    stamp: AtomicU64,
    words: [AtomicU64; WORDS],
}

/// Where an entry stands in its slot.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Place {
    /// Not written yet (or being written).
    NotYet,
    /// There, whole.
    There,
    /// Overwritten by a later one (or being overwritten).
    Overwritten,
}

fn place_of(stamp: u64, seq: u64) -> Place {
    let held = stamp >> 1;
    if stamp == EMPTY || held < seq || (held == seq && stamp & 1 == 1) {
        Place::NotYet
    } else if held == seq {
        Place::There
    } else {
        Place::Overwritten
    }
}

/// What reading an entry gave: with `There`, the update and when it was published, unless
/// the reader did not want its variable.
pub(super) enum Got {
    NotYet,
    There(Option<(VariableUpdate, u64)>),
    Overwritten,
}

/// A write to log, borrowed from the variable it was made to.
pub(super) struct Written<'a> {
    pub(super) name: &'a str,
    pub(super) value: &'a Value,
    pub(super) old_value: Option<&'a Value>,
    pub(super) version: u64,
    pub(super) source: UpdateSource,
    pub(super) metadata: &'a Metadata,
}

impl<'a> Written<'a> {
    /// `update` (made elsewhere) as a write to log.
    #[cfg(any(test, feature = "redis"))]
    pub(super) fn of(update: &'a VariableUpdate) -> Self {
        Self {
            name: &update.name,
            value: &update.value,
            old_value: update.old_value.as_ref(),
            version: update.version,
            source: update.source,
            metadata: &update.metadata,
        }
    }
}

/// The last [`WATCH_BUFFER`] writes of a context.
pub(super) struct Log {
    slots: Box<[Slot]>,
    /// The entries too large for their slot, by slot (boxed: most slots never hold one).
    whole: Box<[Mutex<Option<Box<VariableUpdate>>>]>,
}

impl Log {
    pub(super) fn new() -> Self {
        Self {
            slots: (0..SLOTS)
                .map(|_| Slot {
                    stamp: AtomicU64::new(EMPTY),
                    words: std::array::from_fn(|_| AtomicU64::new(0)),
                })
                .collect(),
            whole: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
        }
    }

    fn index(seq: u64) -> usize {
        (seq % SLOTS as u64) as usize
    }

    /// Writes entry `seq`. Only one thread writes at a time (the lock of the state that
    /// owns the log serialises its writers), in sequence order.
    pub(super) fn write(&self, seq: u64, update: &Written<'_>, published_us: u64) {
        let i = Self::index(seq);
        let slot = &self.slots[i];
        prefetch_for_write(&self.slots[Self::index(seq + PREFETCH_AHEAD)]);
        slot.stamp.store(seq << 1 | 1, Ordering::Relaxed);
        // Nobody sees the words below change before the stamp says they are changing.
        fence(Ordering::Release);
        let words = &slot.words;
        words[0].store(update.version, Ordering::Relaxed);
        words[1].store(published_us, Ordering::Relaxed);
        match Inline::of(update) {
            Some(inline) => {
                words[2].store(inline.header, Ordering::Relaxed);
                words[3].store(inline.value, Ordering::Relaxed);
                words[4].store(inline.old_value, Ordering::Relaxed);
                let mut text = Packer::new(&words[FIXED_WORDS..]);
                text.push(update.name.as_bytes());
                text.push(inline.value_text);
                text.push(inline.old_text);
                for (key, value) in update.metadata {
                    // Both fit a byte: `Inline::of` checked.
                    text.push(&[key.len() as u8, value.len() as u8]);
                    text.push(key.as_bytes());
                    text.push(value.as_bytes());
                }
                text.finish();
            }
            None => {
                self.keep_whole(i, update);
                words[2].store(u64::from(KIND_WHOLE), Ordering::Relaxed);
            }
        }
        // Release, for the words (the hub orders it before its look at sleeping watchers).
        slot.stamp.store(seq << 1, Ordering::Release);
    }

    fn keep_whole(&self, i: usize, update: &Written<'_>) {
        let mut whole = self.whole[i].lock();
        match &mut *whole {
            Some(kept) => {
                kept.name.clear();
                kept.name.push_str(update.name);
                kept.value.clone_from(update.value);
                kept.old_value = update.old_value.cloned();
                kept.version = update.version;
                kept.source = update.source;
                kept.metadata.clone_from(update.metadata);
            }
            None => {
                *whole = Some(Box::new(VariableUpdate {
                    name: update.name.to_owned(),
                    value: update.value.clone(),
                    old_value: update.old_value.cloned(),
                    version: update.version,
                    source: update.source,
                    metadata: update.metadata.clone(),
                }));
            }
        }
    }

    /// Where entry `seq` stands (ordered with the writes as a sleeper's registration is).
    pub(super) fn place(&self, seq: u64) -> Place {
        place_of(
            self.slots[Self::index(seq)].stamp.load(Ordering::SeqCst),
            seq,
        )
    }

    /// Reads entry `seq`, keeping its update only if `wanted` says so of its variable's name.
    pub(super) fn read(&self, seq: u64, wanted: impl FnOnce(&str) -> bool) -> Got {
        let i = Self::index(seq);
        let slot = &self.slots[i];
        let stamp = slot.stamp.load(Ordering::Acquire);
        match place_of(stamp, seq) {
            Place::NotYet => return Got::NotYet,
            Place::Overwritten => return Got::Overwritten,
            Place::There => {}
        }
        let mut copy = [0u64; WORDS];
        for (copied, word) in copy.iter_mut().zip(&slot.words) {
            *copied = word.load(Ordering::Relaxed);
        }
        // The copy is entry `seq` as written only if the stamp did not move meanwhile.
        fence(Ordering::Acquire);
        if slot.stamp.load(Ordering::Relaxed) != stamp {
            return Got::Overwritten;
        }
        let published_us = copy[1];
        if copy[2] as u8 == KIND_WHOLE {
            let whole = self.whole[i].lock();
            if slot.stamp.load(Ordering::Acquire) != stamp {
                return Got::Overwritten; // overwritten while this waited for the lock
            }
            return Got::There(
                whole
                    .as_ref()
                    .filter(|update| wanted(&update.name))
                    .map(|update| (VariableUpdate::clone(update), published_us)),
            );
        }
        match unpack(&copy, wanted) {
            Some(update) => Got::There(update.map(|update| (update, published_us))),
            None => Got::Overwritten, // never: the words are the writer's
        }
    }
}

const PREFETCH_AHEAD: u64 = 16;

/// Asks for the cache line of a slot the writer fills soon, to own it by then: watchers
/// read it last time round, and taking it back would otherwise stall that write.
#[inline(always)]
fn prefetch_for_write(slot: &Slot) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads and writes nothing; `slot` is a valid reference.
    unsafe {
        std::arch::asm!(
            "prefetchw [{0}]",
            in(reg) slot as *const Slot,
            options(nostack, preserves_flags, readonly)
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

/// The parts of an entry that fits its slot.
struct Inline<'a> {
    header: u64,
    value: u64,
    old_value: u64,
    value_text: &'a [u8],
    old_text: &'a [u8],
}

impl<'a> Inline<'a> {
    fn of(update: &Written<'a>) -> Option<Self> {
        let (value_tag, value, value_text) = parts(Some(update.value));
        let (old_tag, old_value, old_text) = parts(update.old_value);
        let mut text = update.name.len() + value_text.len() + old_text.len();
        for (key, value) in update.metadata {
            u8::try_from(key.len()).ok()?;
            u8::try_from(value.len()).ok()?;
            text += 2 + key.len() + value.len();
        }
        if text > TEXT_BYTES {
            return None;
        }
        let source = match update.source {
            UpdateSource::Rust => 0,
            UpdateSource::Python => 1,
        };
        let header = [
            KIND_INLINE,
            source,
            value_tag,
            old_tag,
            u8::try_from(update.name.len()).ok()?,
            u8::try_from(value_text.len()).ok()?,
            u8::try_from(old_text.len()).ok()?,
            u8::try_from(update.metadata.len()).ok()?,
        ];
        Some(Self {
            header: u64::from_le_bytes(header),
            value,
            old_value,
            value_text,
            old_text,
        })
    }
}

/// A value's tag, its bits (a scalar's) and its text (a string's).
fn parts(value: Option<&Value>) -> (u8, u64, &[u8]) {
    match value {
        None => (TAG_NONE, 0, &[]),
        Some(Value::Float(v)) => (TAG_FLOAT, v.to_bits(), &[]),
        Some(Value::Integer(v)) => (TAG_INTEGER, *v as u64, &[]),
        Some(Value::Boolean(v)) => (TAG_BOOLEAN, u64::from(*v), &[]),
        Some(Value::String(v)) => (TAG_STRING, 0, v.as_bytes()),
    }
}

/// Packs bytes into a slot's words, a word at a time (built in a register: bytes stored
/// one by one and read back as a word would stall the writer).
struct Packer<'w> {
    words: &'w [AtomicU64],
    next: usize,
    word: u64,
    filled: usize,
}

impl<'w> Packer<'w> {
    fn new(words: &'w [AtomicU64]) -> Self {
        Self {
            words,
            next: 0,
            word: 0,
            filled: 0,
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        while let Some((&byte, rest)) = bytes.split_first() {
            if self.filled == 0
                && let Some((chunk, rest)) = bytes.split_first_chunk::<8>()
            {
                self.store(u64::from_le_bytes(*chunk));
                bytes = rest;
                continue;
            }
            self.word |= u64::from(byte) << (8 * self.filled);
            self.filled += 1;
            if self.filled == 8 {
                self.store(self.word);
                (self.word, self.filled) = (0, 0);
            }
            bytes = rest;
        }
    }

    fn store(&mut self, word: u64) {
        if let Some(slot_word) = self.words.get(self.next) {
            slot_word.store(word, Ordering::Relaxed);
        }
        self.next += 1;
    }

    fn finish(mut self) {
        if self.filled > 0 {
            self.store(self.word);
        }
    }
}

/// The update in `words` (an inline entry's), if `wanted` wants its variable; `None` when
/// the words are not an entry.
fn unpack(
    words: &[u64; WORDS],
    wanted: impl FnOnce(&str) -> bool,
) -> Option<Option<VariableUpdate>> {
    let [
        _,
        source,
        value_tag,
        old_tag,
        name_len,
        value_len,
        old_len,
        metadata_len,
    ] = words[2].to_le_bytes();
    let mut bytes = [0u8; TEXT_BYTES];
    for (chunk, word) in bytes.chunks_exact_mut(8).zip(&words[FIXED_WORDS..]) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    let mut text = Text {
        bytes: &bytes,
        at: 0,
    };
    let name = text.str(name_len)?;
    if !wanted(name) {
        return Some(None);
    }
    let value = value_of(value_tag, words[3], text.str(value_len)?)?;
    let old_value = match old_tag {
        TAG_NONE => None,
        tag => Some(value_of(tag, words[4], text.str(old_len)?)?),
    };
    let mut metadata = Metadata::new();
    for _ in 0..metadata_len {
        let (key_len, value_len) = (text.byte()?, text.byte()?);
        let key = text.str(key_len)?;
        metadata.insert(key.to_owned(), text.str(value_len)?.to_owned());
    }
    Some(Some(VariableUpdate {
        name: name.to_owned(),
        value,
        old_value,
        version: words[0],
        source: match source {
            0 => UpdateSource::Rust,
            _ => UpdateSource::Python,
        },
        metadata,
    }))
}

fn value_of(tag: u8, bits: u64, text: &str) -> Option<Value> {
    Some(match tag {
        TAG_FLOAT => Value::Float(f64::from_bits(bits)),
        TAG_INTEGER => Value::Integer(bits as i64),
        TAG_BOOLEAN => Value::Boolean(bits != 0),
        TAG_STRING => Value::String(text.to_owned()),
        _ => return None,
    })
}

/// Reads the strings of an entry back, in the order they were packed.
struct Text<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl<'b> Text<'b> {
    fn take(&mut self, n: usize) -> Option<&'b [u8]> {
        let bytes = self.bytes.get(self.at..self.at + n)?;
        self.at += n;
        Some(bytes)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn str(&mut self, len: u8) -> Option<&'b str> {
        std::str::from_utf8(self.take(usize::from(len))?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(name: &str, value: Value, metadata: &[(&str, &str)]) -> VariableUpdate {
        VariableUpdate {
            name: name.to_owned(),
            value,
            old_value: Some(Value::Integer(-3)),
            version: 7,
            source: UpdateSource::Python,
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn write(log: &Log, seq: u64, update: &VariableUpdate) {
        log.write(seq, &Written::of(update), 1234);
    }

    fn read_back(log: &Log, seq: u64) -> Option<(VariableUpdate, u64)> {
        match log.read(seq, |_| true) {
            Got::There(entry) => entry,
            _ => None,
        }
    }

    #[test]
    fn entries_read_back_as_written_inline_or_whole() {
        let log = Log::new();
        let long = "x".repeat(300);
        let cases = [
            update("n", Value::Integer(i64::MIN), &[]),
            update("t", Value::Float(0.25), &[("origin", "rust")]),
            update("flag", Value::Boolean(true), &[]),
            update(
                "model",
                Value::String("gpt-4o-mini".into()),
                &[("a", "b"), ("c", "")],
            ),
            update("long", Value::String(long.clone()), &[]),
            update(&"v".repeat(120), Value::Integer(1), &[]),
            update("meta", Value::Integer(1), &[("k", long.as_str())]),
        ];
        for (seq, case) in cases.iter().enumerate() {
            write(&log, seq as u64, case);
            assert_eq!(read_back(&log, seq as u64), Some((case.clone(), 1234)));
        }
    }

    #[test]
    fn a_reader_sees_where_an_entry_stands() {
        let log = Log::new();
        let one = update("n", Value::Integer(1), &[]);
        assert!(matches!(log.read(0, |_| true), Got::NotYet));
        write(&log, 0, &one);
        assert!(matches!(log.read(1, |_| true), Got::NotYet));
        assert!(matches!(log.read(0, |name| name == "m"), Got::There(None)));
        write(&log, SLOTS as u64, &one);
        assert!(matches!(log.read(0, |_| true), Got::Overwritten));
        assert_eq!(log.place(SLOTS as u64), Place::There);
        assert_eq!(log.place(2 * SLOTS as u64), Place::NotYet);
    }

    #[test]
    fn readers_racing_a_writer_keep_only_whole_entries() {
        let log = std::sync::Arc::new(Log::new());
        let writer = {
            let log = log.clone();
            std::thread::spawn(move || {
                for seq in 0..200_000u64 {
                    let value = if seq % 7 == 0 {
                        Value::String(format!("{seq:0>200}"))
                    } else {
                        Value::String(seq.to_string())
                    };
                    let mut entry = update("n", value, &[]);
                    entry.version = seq;
                    write(&log, seq, &entry);
                }
            })
        };
        let mut checked = 0;
        while !writer.is_finished() {
            for seq in 0..SLOTS as u64 * 100 {
                if let Got::There(Some((entry, _))) = log.read(seq, |_| true) {
                    let Value::String(text) = &entry.value else {
                        panic!("{entry:?}")
                    };
                    assert_eq!(text.parse::<u64>().ok(), Some(entry.version));
                    assert_eq!(entry.version, seq);
                    checked += 1;
                }
            }
        }
        writer.join().expect("the writer");
        assert!(checked > 0);
    }
}
