//! A CSV record splitter specialised for cost reports.
//!
//! The `csv` crate tokenizes at roughly the speed zlib inflates, which would halve ingest
//! throughput; this splitter finds the structural bytes (`,` `"` `\n`) 64 bytes at a time with
//! SSE2 (scalar elsewhere, AVX-512 where the CPU has it), walks their bit mask and only records
//! field boundaries. Each record is checked for UTF-8 once, so readers need not validate field
//! by field. RFC 4180 quoting is supported (quoted fields with `,`, newlines and doubled quotes),
//! which is all CUR and FOCUS files use. Empty lines are skipped.

use std::io::{self, Read};

const PAD: usize = 64;
const INITIAL: usize = 1 << 20;
/// The longest record read: a cost report row is a few KB, so a longer one means a file that is
/// not a CSV report or a quote that is never closed. It bounds the buffer at twice this, and
/// the field list at eight bytes per byte of it (a record of nothing but commas).
const MAX_RECORD: usize = 4 << 20;

/// Splits a byte stream into records of fields.
pub(crate) struct Splitter<R> {
    src: R,
    /// Data lives in `buf[..end]`; `buf.len() == cap + PAD` so 64-byte loads never overrun.
    buf: Vec<u8>,
    cap: usize,
    pos: usize,
    end: usize,
    eof: bool,
    /// Field ranges of the current record: offsets into `buf`, or into `unescaped` when the
    /// top bit of the start is set.
    fields: Vec<(u32, u32)>,
    unescaped: Vec<u8>,
    scan_base: usize,
    scan_mask: u64,
    /// Whether the whole current record is valid UTF-8 (then so is every field).
    utf8: bool,
    /// A quoted field of the current record that left its opening quote's block had a
    /// non-ASCII byte (the main loop does not scan the blocks such a field covers).
    high: bool,
    /// Physical line number of the current record's start (1-based).
    pub(crate) line: u64,
    /// The CPU has the AVX-512 instructions of [`wide`]: masks of 64 bytes in one compare and
    /// a block's field boundaries written without a loop over its commas.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    wide: bool,
    /// [`MAX_RECORD`] (lower in tests).
    max_record: usize,
}

const IN_SCRATCH: u32 = 1 << 31;

pub(crate) enum Split {
    Record,
    End,
}

/// A malformed record (the stream itself failing is an `io::Error`).
pub(crate) struct Malformed(pub(crate) String);

impl<R: Read> Splitter<R> {
    pub(crate) fn new(src: R) -> Self {
        Splitter {
            src,
            buf: vec![0; INITIAL + PAD],
            cap: INITIAL,
            pos: 0,
            end: 0,
            eof: false,
            fields: Vec::with_capacity(128),
            unescaped: Vec::new(),
            scan_base: usize::MAX,
            scan_mask: 0,
            utf8: false,
            high: false,
            line: 0,
            wide: wide::available(),
            max_record: MAX_RECORD,
        }
    }

    pub(crate) fn get_mut(&mut self) -> &mut R {
        &mut self.src
    }

    /// Number of fields in the current record.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether every field of the current record is valid UTF-8.
    #[inline]
    pub(crate) fn is_utf8(&self) -> bool {
        self.utf8
    }

    /// Field `i` of the current record (empty if out of range).
    #[inline]
    pub(crate) fn field(&self, i: usize) -> &[u8] {
        match self.fields.get(i) {
            Some(&(s, e)) if s & IN_SCRATCH != 0 => {
                &self.unescaped[(s & !IN_SCRATCH) as usize..e as usize]
            }
            Some(&(s, e)) => &self.buf[s as usize..e as usize],
            None => b"",
        }
    }

    /// Whether field `i` of the current record is there and not empty.
    #[inline(always)]
    pub(crate) fn is_filled(&self, i: usize) -> bool {
        self.fields
            .get(i)
            .is_some_and(|&(s, e)| (s & !IN_SCRATCH) < e)
    }

    /// Moves unread data to the front and reads more; grows the buffer when a record does not
    /// fit. Returns false at end of input.
    fn refill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.cap {
            self.cap *= 2;
            self.buf.resize(self.cap + PAD, 0);
        }
        self.scan_base = usize::MAX;
        loop {
            match self.src.read(&mut self.buf[self.end..self.cap]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Position of the next `"` or `\n` at or after `pos` (inside a quoted field), or `self.end`.
    #[inline]
    fn next_quote_or_newline(&mut self, pos: usize) -> usize {
        if pos < self.scan_base || pos >= self.scan_base.wrapping_add(64) {
            self.scan_base = pos & !63;
            self.scan_mask = block_mask(&self.buf, self.scan_base, self.end).other;
        }
        let mut m = self.scan_mask & (!0u64 << (pos - self.scan_base));
        loop {
            if m != 0 {
                return self.scan_base + m.trailing_zeros() as usize;
            }
            self.scan_base += 64;
            if self.scan_base >= self.end {
                return self.end;
            }
            self.scan_mask = block_mask(&self.buf, self.scan_base, self.end).other;
            m = self.scan_mask;
        }
    }

    /// Reads the next non-empty record.
    pub(crate) fn next_record(&mut self) -> io::Result<Result<Split, Malformed>> {
        loop {
            match self.try_record() {
                Some(Ok(true)) => return Ok(Ok(Split::Record)),
                Some(Ok(false)) => continue, // empty line
                Some(Err(m)) => return Ok(Err(m)),
                None => {
                    // Ran out of buffered data mid-record: get more and retry from its start.
                    if self.end - self.pos >= self.max_record {
                        return Ok(Err(Malformed(format!(
                            "a record runs past {} MiB without ending (a cost report row is a \
                             few KB): the file is not a CSV report, or a quoted field is never \
                             closed",
                            self.max_record >> 20
                        ))));
                    }
                    if !self.refill()? {
                        if self.pos >= self.end {
                            return Ok(Ok(Split::End));
                        }
                        // Last record without a final newline.
                        return Ok(self.finish_last().map(|_| Split::Record));
                    }
                }
            }
        }
    }

    /// Parses one record at `pos`. `None` when the buffer ends before the record does (and
    /// more input may follow); `Some(Ok(false))` for an empty line.
    fn try_record(&mut self) -> Option<Result<bool, Malformed>> {
        self.parse_at(false)
    }

    fn finish_last(&mut self) -> Result<(), Malformed> {
        match self.parse_at(true) {
            Some(Ok(_)) => Ok(()),
            Some(Err(m)) => Err(m),
            None => Err(Malformed("unexpected end of input".into())),
        }
    }

    fn parse_at(&mut self, at_eof: bool) -> Option<Result<bool, Malformed>> {
        #[cfg(target_arch = "x86_64")]
        if self.wide {
            // SAFETY: `wide` is set only when the CPU has the features `parse_at_wide` enables.
            return unsafe { self.parse_at_wide(at_eof) };
        }
        self.parse_at_with::<false>(at_eof)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,popcnt")]
    unsafe fn parse_at_wide(&mut self, at_eof: bool) -> Option<Result<bool, Malformed>> {
        self.parse_at_with::<true>(at_eof)
    }

    /// Parses the record at `pos`; `WIDE` only when the CPU has [`wide`]'s features.
    #[inline(always)]
    fn parse_at_with<const WIDE: bool>(&mut self, at_eof: bool) -> Option<Result<bool, Malformed>> {
        let start = self.pos;
        let end = self.end;
        if start >= end {
            return None;
        }
        self.fields.clear();
        self.unescaped.clear();
        // Empty line.
        if self.buf[start] == b'\n' {
            self.pos = start + 1;
            self.line += 1;
            return Some(Ok(false));
        }
        if self.buf[start] == b'\r' && start + 1 < end && self.buf[start + 1] == b'\n' {
            self.pos = start + 2;
            self.line += 1;
            return Some(Ok(false));
        }
        let mut lines = 1u64;
        // Field start, and the structural bytes of the 64-byte block at `base` not yet visited:
        // commas, and the rarer quotes and newlines.
        let mut fstart = start;
        let mut base = start & !63;
        self.high = false;
        let first = block_mask_with::<WIDE>(&self.buf, base, end);
        let mut high = HighBytes::default();
        high.add(base, first.high);
        let mut commas = first.commas & (!0u64 << (start - base));
        let mut other = first.other & (!0u64 << (start - base));
        loop {
            if other == 0 {
                // Only commas left in this block.
                push_fields_with::<WIDE>(&mut self.fields, base, commas, &mut fstart);
                base += 64;
                if base >= end {
                    if at_eof {
                        // Last record without a final newline.
                        self.fields.push((fstart as u32, end as u32));
                        return Some(self.done(start, high, end, lines));
                    }
                    return None;
                }
                let b = block_mask_with::<WIDE>(&self.buf, base, end);
                commas = b.commas;
                other = b.other;
                high.add(base, b.high);
                continue;
            }
            let j = other.trailing_zeros();
            other &= other - 1;
            push_fields_with::<WIDE>(&mut self.fields, base, commas & !(!0u64 << j), &mut fstart);
            commas &= !0u64 << j;
            let i = base + j as usize;
            if self.buf[i] == b'\n' {
                let e = if i > fstart && self.buf[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                self.fields.push((fstart as u32, e as u32));
                return Some(self.done(start, high, i + 1, lines));
            }
            // A `"` inside an unquoted field is literal.
            if i != fstart {
                continue;
            }
            let p = match self.quoted(i, at_eof, &mut lines) {
                Some(Ok(p)) => p,
                Some(Err(e)) => return Some(Err(e)),
                None => return None,
            };
            // After a closing quote: delimiter, line end or end of input.
            if p >= end {
                if at_eof {
                    return Some(self.done(start, high, end, lines));
                }
                return None;
            }
            match self.buf[p] {
                b',' => fstart = p + 1,
                b'\n' => return Some(self.done(start, high, p + 1, lines)),
                b'\r' if p + 1 < end && self.buf[p + 1] == b'\n' => {
                    return Some(self.done(start, high, p + 2, lines))
                }
                b'\r' if p + 1 >= end && !at_eof => return None,
                _ => {
                    return Some(Err(Malformed(
                        "unexpected character after closing quote".into(),
                    )))
                }
            }
            base = fstart & !63;
            let b = block_mask_with::<WIDE>(&self.buf, base, end);
            commas = b.commas & (!0u64 << (fstart - base));
            other = b.other & (!0u64 << (fstart - base));
            high.add(base, b.high);
        }
    }

    /// Reads the quoted field whose opening quote is at `open` and records it; returns the
    /// position after the closing quote. `None` when the buffer ends first.
    fn quoted(
        &mut self,
        open: usize,
        at_eof: bool,
        lines: &mut u64,
    ) -> Option<Result<usize, Malformed>> {
        let end = self.end;
        let content = open + 1;
        let mut q = content;
        // Once a doubled quote is seen, the field is copied to `unescaped` in runs that end
        // with one quote of each pair; `run` is where the uncopied run starts.
        let mut escaped_from: Option<usize> = None;
        let mut run = content;
        loop {
            let s = self.next_quote_or_newline(q);
            if s >= end {
                if at_eof {
                    return Some(Err(Malformed("unterminated quoted field".into())));
                }
                return None;
            }
            match self.buf[s] {
                b'"' => {
                    if s + 1 < end && self.buf[s + 1] == b'"' {
                        escaped_from.get_or_insert(self.unescaped.len());
                        self.unescaped.extend_from_slice(&self.buf[run..=s]);
                        run = s + 2;
                        q = s + 2;
                    } else if s + 1 >= end && !at_eof {
                        return None;
                    } else {
                        // Closing quote.
                        let field = match escaped_from {
                            Some(from) => {
                                self.unescaped.extend_from_slice(&self.buf[run..s]);
                                (from as u32 | IN_SCRATCH, self.unescaped.len() as u32)
                            }
                            None => (content as u32, s as u32),
                        };
                        self.fields.push(field);
                        // The main loop has seen the opening quote's block only.
                        if s >> 6 != open >> 6 && !self.buf[content..s].is_ascii() {
                            self.high = true;
                        }
                        return Some(Ok(s + 1));
                    }
                }
                b'\n' => {
                    *lines += 1;
                    q = s + 1;
                }
                _ => q = s + 1,
            }
        }
    }

    /// Ends the record that started at `start` and ends before `next`; `high` spans the
    /// non-ASCII bytes of the blocks the main loop scanned.
    fn done(
        &mut self,
        start: usize,
        high: HighBytes,
        next: usize,
        lines: u64,
    ) -> Result<bool, Malformed> {
        // Fields split at ASCII bytes, so a record of valid UTF-8 has only valid UTF-8 fields.
        // Outside the span the record is ASCII, and the span starts and ends next to ASCII
        // bytes (or the record's ends), so checking the span checks the record.
        let (from, to) = if self.high {
            (start, next)
        } else {
            (high.lo.max(start), high.hi.min(next))
        };
        self.utf8 = from >= to || std::str::from_utf8(&self.buf[from..to]).is_ok();
        self.pos = next;
        self.line += lines;
        Ok(true)
    }
}

/// Where the non-ASCII bytes seen so far are: `lo..hi` (empty when there are none).
#[derive(Clone, Copy)]
struct HighBytes {
    lo: usize,
    hi: usize,
}

impl Default for HighBytes {
    fn default() -> Self {
        HighBytes {
            lo: usize::MAX,
            hi: 0,
        }
    }
}

impl HighBytes {
    /// Adds the high-byte mask of the block at `base`.
    #[inline(always)]
    fn add(&mut self, base: usize, mask: u64) {
        if mask != 0 {
            self.lo = self.lo.min(base + mask.trailing_zeros() as usize);
            self.hi = self.hi.max(base + 64 - mask.leading_zeros() as usize);
        }
    }
}

/// Records a field ending at each comma of `commas` (bits of the block at `base`).
#[inline(always)]
fn push_fields(fields: &mut Vec<(u32, u32)>, base: usize, mut commas: u64, fstart: &mut usize) {
    while commas != 0 {
        let i = base + commas.trailing_zeros() as usize;
        commas &= commas - 1;
        fields.push((*fstart as u32, i as u32));
        *fstart = i + 1;
    }
}

/// [`push_fields`], with AVX-512 when `WIDE`.
#[inline(always)]
fn push_fields_with<const WIDE: bool>(
    fields: &mut Vec<(u32, u32)>,
    base: usize,
    commas: u64,
    fstart: &mut usize,
) {
    #[cfg(target_arch = "x86_64")]
    if WIDE {
        // SAFETY: `WIDE` is true only inside `parse_at_wide`, which requires these features.
        unsafe { wide::push_fields(fields, base, commas, fstart) };
        return;
    }
    push_fields(fields, base, commas, fstart)
}

/// [`block_mask`], with AVX-512 when `WIDE`.
#[inline(always)]
fn block_mask_with<const WIDE: bool>(buf: &[u8], base: usize, end: usize) -> Block {
    #[cfg(target_arch = "x86_64")]
    if WIDE {
        // SAFETY: as in `push_fields_with`.
        return clip(unsafe { wide::block_raw(&buf[base..base + 64]) }, base, end);
    }
    block_mask(buf, base, end)
}

/// The 64 bytes at `base`, as bit masks (bit i for `buf[base + i]`, only below `end`). A `\r`
/// matters only before a `\n`, where it is looked at directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    /// `,`.
    commas: u64,
    /// `"` or `\n`.
    other: u64,
    /// Bytes >= 0x80: none means the bytes are ASCII, hence UTF-8.
    high: u64,
}

#[inline]
fn block_mask(buf: &[u8], base: usize, end: usize) -> Block {
    clip(block_raw(&buf[base..base + 64]), base, end)
}

/// Drops the bits of `b` (the block at `base`) at or after `end`.
#[inline(always)]
fn clip(b: Block, base: usize, end: usize) -> Block {
    let valid = end - base;
    if valid >= 64 {
        b
    } else {
        let keep = (1u64 << valid) - 1;
        Block {
            commas: b.commas & keep,
            other: b.other & keep,
            high: b.high & keep,
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn block_raw(block: &[u8]) -> Block {
    use std::arch::x86_64::*;
    assert!(block.len() >= 64);
    // SAFETY: SSE2 is part of the x86_64 baseline; `block` has at least 64 bytes and the loads
    // are unaligned loads.
    unsafe {
        let comma = _mm_set1_epi8(b',' as i8);
        let quote = _mm_set1_epi8(b'"' as i8);
        let nl = _mm_set1_epi8(b'\n' as i8);
        let (mut commas, mut other, mut high) = (0u64, 0u64, 0u64);
        for k in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(k * 16) as *const __m128i);
            let c = _mm_cmpeq_epi8(v, comma);
            let o = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, nl));
            commas |= (_mm_movemask_epi8(c) as u16 as u64) << (k * 16);
            other |= (_mm_movemask_epi8(o) as u16 as u64) << (k * 16);
            high |= (_mm_movemask_epi8(v) as u16 as u64) << (k * 16);
        }
        Block {
            commas,
            other,
            high,
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn block_raw(block: &[u8]) -> Block {
    block_portable(block)
}

/// AVX-512 (F, BW and VBMI2: Intel Ice Lake and AMD Zen 4 onwards) versions of the hot steps,
/// chosen once per splitter by [`available`].
#[cfg(target_arch = "x86_64")]
mod wide {
    use super::Block;
    use std::arch::x86_64::*;

    /// 0, 1, ..., 63: the offsets in a block.
    const OFFSETS: [u8; 64] = {
        let mut o = [0u8; 64];
        let mut i = 0;
        while i < 64 {
            o[i] = i as u8;
            i += 1;
        }
        o
    };

    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vbmi2")
            && std::arch::is_x86_feature_detected!("popcnt")
    }

    /// [`super::block_raw`] with one 64-byte compare per class. Callers make sure the CPU has
    /// the features ([`available`]).
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    pub(super) unsafe fn block_raw(block: &[u8]) -> Block {
        assert!(block.len() >= 64);
        let v = _mm512_loadu_si512(block.as_ptr() as *const _);
        let quote = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'"' as i8));
        let nl = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'\n' as i8));
        Block {
            commas: _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b',' as i8)),
            other: quote | nl,
            high: _mm512_movepi8_mask(v),
        }
    }

    /// [`super::push_fields`] without a loop over the commas: the comma positions are
    /// compressed into bytes in one instruction, widened, paired with the field starts (each
    /// the previous comma plus one) and stored sixteen fields at a time. Callers make sure the
    /// CPU has the features ([`available`]).
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,popcnt")]
    #[inline]
    pub(super) unsafe fn push_fields(
        fields: &mut Vec<(u32, u32)>,
        base: usize,
        commas: u64,
        fstart: &mut usize,
    ) {
        if commas == 0 {
            return;
        }
        let count = commas.count_ones() as usize;
        fields.reserve(64);
        // Byte i of `positions` is the offset in the block of the i-th comma.
        let iota = _mm512_loadu_si512(OFFSETS.as_ptr() as *const _);
        let positions = _mm512_maskz_compress_epi8(commas, iota);
        let base_v = _mm512_set1_epi32(base as i32);
        let one = _mm512_set1_epi32(1);
        // Pairs (start, end) of lanes 0-7 and 8-15: lane j of `starts` or 16 + j of `ends`.
        let first_half = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
        let second_half =
            _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
        // Rounds of sixteen write at most 64 pairs past the end, inside the reserved room.
        let out = fields.as_mut_ptr().add(fields.len()) as *mut u32;
        let mut prev_start = _mm512_set1_epi32(*fstart as i32);
        let mut done = 0;
        let mut bytes = _mm512_castsi512_si128(positions);
        loop {
            let ends = _mm512_add_epi32(_mm512_cvtepu8_epi32(bytes), base_v);
            let next = _mm512_add_epi32(ends, one);
            // Lane 0: the start carried in; lane j: the end of field j - 1, plus one.
            let starts = _mm512_alignr_epi32(next, prev_start, 15);
            _mm512_storeu_si512(
                out.add(2 * done) as *mut _,
                _mm512_permutex2var_epi32(starts, first_half, ends),
            );
            _mm512_storeu_si512(
                out.add(2 * done + 16) as *mut _,
                _mm512_permutex2var_epi32(starts, second_half, ends),
            );
            done += 16;
            if done >= count {
                break;
            }
            prev_start = _mm512_permutexvar_epi32(_mm512_set1_epi32(15), next);
            bytes = match done {
                16 => _mm512_extracti32x4_epi32(positions, 1),
                32 => _mm512_extracti32x4_epi32(positions, 2),
                _ => _mm512_extracti32x4_epi32(positions, 3),
            };
        }
        fields.set_len(fields.len() + count);
        *fstart = base + 64 - commas.leading_zeros() as usize;
    }
}

/// Without AVX-512 the scalar steps run.
#[cfg(not(target_arch = "x86_64"))]
mod wide {
    pub(super) fn available() -> bool {
        false
    }
}

#[cfg(any(test, not(target_arch = "x86_64")))]
fn block_portable(block: &[u8]) -> Block {
    let mut out = Block {
        commas: 0,
        other: 0,
        high: 0,
    };
    for (i, &b) in block[..64].iter().enumerate() {
        if b == b',' {
            out.commas |= 1 << i;
        }
        if matches!(b, b'"' | b'\n') {
            out.other |= 1 << i;
        }
        if b >= 0x80 {
            out.high |= 1 << i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `input` read `chunk` bytes at a time, with the scalar steps and, where the CPU
    /// has them, the AVX-512 ones, which must agree.
    fn split(input: &[u8], chunk: usize) -> Result<Vec<Vec<String>>, String> {
        let scalar = split_with(input, chunk, false);
        if wide::available() {
            assert_eq!(
                split_with(input, chunk, true),
                scalar,
                "AVX-512 and scalar differ"
            );
        }
        scalar
    }

    fn split_with(input: &[u8], chunk: usize, wide: bool) -> Result<Vec<Vec<String>>, String> {
        struct Chunked<'a>(&'a [u8], usize);
        impl Read for Chunked<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut s = Splitter::new(Chunked(input, chunk));
        s.wide = wide;
        s.cap = 8; // force many refills and growth
        s.buf = vec![0; 8 + PAD];
        let mut out = Vec::new();
        loop {
            match s.next_record().map_err(|e| e.to_string())? {
                Ok(Split::Record) => {
                    let valid = (0..s.len()).all(|i| std::str::from_utf8(s.field(i)).is_ok());
                    assert_eq!(s.is_utf8(), valid);
                    out.push(
                        (0..s.len())
                            .map(|i| String::from_utf8_lossy(s.field(i)).into_owned())
                            .collect(),
                    )
                }
                Ok(Split::End) => return Ok(out),
                Err(Malformed(m)) => return Err(m),
            }
        }
    }

    #[test]
    fn splits_like_rfc4180() {
        let input = b"a,b,c\n1,\"x, \"\"y\"\"\",\n\n\"multi\nline\",2,3\r\n4,5,\"\"\nlast,\"q\",z";
        for chunk in [1, 2, 3, 7, 64, 1000] {
            let got = split(input, chunk).unwrap();
            assert_eq!(
                got,
                vec![
                    vec!["a", "b", "c"],
                    vec!["1", "x, \"y\"", ""],
                    vec!["multi\nline", "2", "3"],
                    vec!["4", "5", ""],
                    vec!["last", "q", "z"],
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn runs_of_empty_fields_across_blocks() {
        // Up to 64 commas in a block, with the fields before and after them of every width.
        for lead in 0..70 {
            for run in [15, 16, 17, 31, 32, 33, 63, 64, 65, 130] {
                let input = format!("{},{}x,\"q,\"\n", "a".repeat(lead), ",".repeat(run));
                let got = split(input.as_bytes(), 1 << 16).unwrap();
                let mut want = vec!["a".repeat(lead)];
                want.extend(std::iter::repeat_n(String::new(), run));
                want.extend(["x".to_owned(), "q,".to_owned()]);
                assert_eq!(got, vec![want], "lead {lead}, run {run}");
            }
        }
    }

    #[test]
    fn a_record_that_never_ends_is_an_error_not_a_growing_buffer() {
        for input in [
            format!("a,b\n{}", "x".repeat(5000)),
            format!("a,b\n\"{}\n", "x,\n".repeat(2000)),
        ] {
            let mut s = Splitter::new(input.as_bytes());
            s.cap = 64;
            s.buf = vec![0; 64 + PAD];
            s.max_record = 1 << 10;
            assert!(matches!(s.next_record(), Ok(Ok(Split::Record))));
            match s.next_record() {
                Ok(Err(Malformed(m))) => assert!(m.contains("never closed"), "{m}"),
                _ => panic!("no error for a record past the limit"),
            }
            assert!(
                s.buf.len() <= 2 * (1 << 10) + PAD,
                "buffer grew to {}",
                s.buf.len()
            );
        }
        // Just under the limit is fine.
        let input = format!("a,b\n{},y\n", "x".repeat(900));
        let mut s = Splitter::new(input.as_bytes());
        s.max_record = 1 << 10;
        assert!(matches!(s.next_record(), Ok(Ok(Split::Record))));
        assert!(matches!(s.next_record(), Ok(Ok(Split::Record))));
        assert_eq!(s.field(1), b"y");
    }

    #[test]
    fn long_fields_and_records() {
        let long = "é".repeat(5000);
        let input = format!("{long},\"{long}\"\n{long},x\n");
        let got = split(input.as_bytes(), 4096).unwrap();
        assert_eq!(got[0], vec![long.clone(), long.clone()]);
        assert_eq!(got[1], vec![long, "x".to_owned()]);
    }

    /// Byte-at-a-time statement of the grammar the splitter implements.
    fn reference(b: &[u8]) -> Result<Vec<Vec<String>>, ()> {
        let text = |f: &[u8]| String::from_utf8_lossy(f).into_owned();
        let (n, mut p, mut out) = (b.len(), 0, Vec::new());
        while p < n {
            if b[p] == b'\n' {
                p += 1;
                continue;
            }
            if b[p] == b'\r' && p + 1 < n && b[p + 1] == b'\n' {
                p += 2;
                continue;
            }
            let mut rec = Vec::new();
            loop {
                if p < n && b[p] == b'"' {
                    let (mut f, mut q) = (Vec::new(), p + 1);
                    loop {
                        match (b.get(q), b.get(q + 1)) {
                            (None, _) => return Err(()),
                            (Some(b'"'), Some(b'"')) => {
                                f.push(b'"');
                                q += 2;
                            }
                            (Some(b'"'), _) => break,
                            (Some(&c), _) => {
                                f.push(c);
                                q += 1;
                            }
                        }
                    }
                    rec.push(text(&f));
                    p = q + 1;
                    match (b.get(p), b.get(p + 1)) {
                        (None, _) => break,
                        (Some(b','), _) => p += 1,
                        (Some(b'\n'), _) => {
                            p += 1;
                            break;
                        }
                        (Some(b'\r'), Some(b'\n')) => {
                            p += 2;
                            break;
                        }
                        _ => return Err(()),
                    }
                } else {
                    let s = p;
                    while p < n && b[p] != b',' && b[p] != b'\n' {
                        p += 1;
                    }
                    if p >= n {
                        rec.push(text(&b[s..]));
                        break;
                    }
                    if b[p] == b',' {
                        rec.push(text(&b[s..p]));
                        p += 1;
                        continue;
                    }
                    let e = if p > s && b[p - 1] == b'\r' { p - 1 } else { p };
                    rec.push(text(&b[s..e]));
                    p += 1;
                    break;
                }
            }
            out.push(rec);
        }
        Ok(out)
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_reference(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    &b"a"[..], b"bc", b"0.5", b",", b",", b"\"", b"\"\"", b"\n", b"\r\n", b"\r",
                    "é".as_bytes(), b"\xc3", b"\xff", b"\"x,y\"",
                    b"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
                ]),
                0..120,
            ),
            chunk in 1usize..200,
        ) {
            let input = parts.concat();
            let got = split(&input, chunk).map_err(|_| ());
            proptest::prop_assert_eq!(got, reference(&input));
        }
    }

    #[test]
    fn simd_masks_match_the_portable_ones() {
        let mut block = [0u8; 64];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            for b in block.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly structural and boundary bytes.
                *b = [b',', b'"', b'\n', b'\r', b'a', 0x7f, 0x80, 0xff][(x % 8) as usize]
                    .wrapping_add((x >> 60) as u8 & 1);
            }
            assert_eq!(block_raw(&block), block_portable(&block));
            #[cfg(target_arch = "x86_64")]
            if wide::available() {
                // SAFETY: the CPU has the features.
                assert_eq!(unsafe { wide::block_raw(&block) }, block_portable(&block));
            }
        }
    }

    #[test]
    fn utf8_is_checked_per_record() {
        let mut s = Splitter::new(&b"a,\xc3\xa9\nb,\xff\n"[..]);
        assert!(matches!(s.next_record(), Ok(Ok(Split::Record))));
        assert!(s.is_utf8());
        assert!(matches!(s.next_record(), Ok(Ok(Split::Record))));
        assert!(!s.is_utf8());
        assert_eq!(s.field(0), b"b");
        // A bad byte inside a quoted field that leaves its block (`split` checks the flag).
        let long = format!("a,\"{}\"\"\u{e9}\"\"\"", "z".repeat(71)).into_bytes();
        for tail in [&b""[..], b"\n", b"\r\n", b",x\n"] {
            let mut bad = long.clone();
            bad.retain(|&b| b != 0xa9); // leaves a lone 0xc3
            for input in [&long, &bad] {
                let input = [&input[..], tail].concat();
                assert_eq!(split(&input, 1000).unwrap().len(), 1);
            }
        }
    }

    #[test]
    fn malformed_quotes() {
        assert!(split(b"a,\"open\n", 3).is_err());
        assert!(split(b"\"a\"b,c\n", 3).is_err());
        assert_eq!(split(b"a\"b,c\n", 3).unwrap(), vec![vec!["a\"b", "c"]]);
    }
}
