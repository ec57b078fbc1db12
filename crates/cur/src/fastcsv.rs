//! A CSV record splitter specialised for cost reports.
//!
//! The `csv` crate tokenizes at roughly the speed zlib inflates, which would halve ingest
//! throughput; this splitter finds the structural bytes (`,` `"` `\r` `\n`) 64 bytes at a time
//! with SSE2 (scalar elsewhere) and only records field boundaries. RFC 4180 quoting is
//! supported (quoted fields with `,`, newlines and doubled quotes), which is all CUR and FOCUS
//! files use. Empty lines are skipped.

use std::io::{self, Read};

const PAD: usize = 64;
const INITIAL: usize = 1 << 20;

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
    /// Physical line number of the current record's start (1-based).
    pub(crate) line: u64,
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
            line: 0,
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

    /// Position of the next structural byte at or after `pos`, or `self.end`.
    #[inline]
    fn next_special(&mut self, pos: usize) -> usize {
        if pos < self.scan_base || pos >= self.scan_base.wrapping_add(64) {
            self.scan_base = pos & !63;
            self.scan_mask = block_mask(&self.buf, self.scan_base, self.end);
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
            self.scan_mask = block_mask(&self.buf, self.scan_base, self.end);
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
        let start = self.pos;
        let end = self.end;
        if start >= end {
            return None;
        }
        self.fields.clear();
        self.unescaped.clear();
        let mut lines = 1u64;
        let mut p = start;
        // Empty line.
        if self.buf[p] == b'\n' {
            self.pos = p + 1;
            self.line += 1;
            return Some(Ok(false));
        }
        if self.buf[p] == b'\r' && p + 1 < end && self.buf[p + 1] == b'\n' {
            self.pos = p + 2;
            self.line += 1;
            return Some(Ok(false));
        }
        loop {
            // One field starting at p.
            if p < end && self.buf[p] == b'"' {
                let content = p + 1;
                let mut q = content;
                let mut escaped = false;
                loop {
                    let s = self.next_special(q);
                    if s >= end {
                        if at_eof {
                            return Some(Err(Malformed("unterminated quoted field".into())));
                        }
                        return None;
                    }
                    match self.buf[s] {
                        b'"' => {
                            if s + 1 < end && self.buf[s + 1] == b'"' {
                                escaped = true;
                                q = s + 2;
                            } else if s + 1 >= end && !at_eof {
                                return None;
                            } else {
                                // Closing quote.
                                if escaped {
                                    let from = self.unescaped.len();
                                    let mut i = content;
                                    while i < s {
                                        let b = self.buf[i];
                                        self.unescaped.push(b);
                                        i += if b == b'"' { 2 } else { 1 };
                                    }
                                    self.fields.push((
                                        from as u32 | IN_SCRATCH,
                                        self.unescaped.len() as u32,
                                    ));
                                } else {
                                    self.fields.push((content as u32, s as u32));
                                }
                                p = s + 1;
                                break;
                            }
                        }
                        b'\n' => {
                            lines += 1;
                            q = s + 1;
                        }
                        _ => q = s + 1,
                    }
                }
                // After a closing quote: delimiter, line end or end of input.
                if p >= end {
                    if at_eof {
                        return Some(self.done(end, lines));
                    }
                    return None;
                }
                match self.buf[p] {
                    b',' => {
                        p += 1;
                        continue;
                    }
                    b'\n' => return Some(self.done(p + 1, lines)),
                    b'\r' if p + 1 < end && self.buf[p + 1] == b'\n' => {
                        return Some(self.done(p + 2, lines))
                    }
                    b'\r' if p + 1 >= end && !at_eof => return None,
                    _ => {
                        return Some(Err(Malformed(
                            "unexpected character after closing quote".into(),
                        )))
                    }
                }
            }
            // Unquoted field: up to the next `,` or line end (a `"` inside is literal).
            let mut q = p;
            loop {
                let s = self.next_special(q);
                if s >= end {
                    if at_eof {
                        self.fields.push((p as u32, end as u32));
                        return Some(self.done(end, lines));
                    }
                    return None;
                }
                match self.buf[s] {
                    b',' => {
                        self.fields.push((p as u32, s as u32));
                        p = s + 1;
                        break;
                    }
                    b'\n' => {
                        let e = if s > p && self.buf[s - 1] == b'\r' {
                            s - 1
                        } else {
                            s
                        };
                        self.fields.push((p as u32, e as u32));
                        return Some(self.done(s + 1, lines));
                    }
                    _ => q = s + 1,
                }
            }
        }
    }

    fn done(&mut self, next: usize, lines: u64) -> Result<bool, Malformed> {
        self.pos = next;
        self.line += lines;
        Ok(true)
    }
}

/// Bit i set when `buf[base + i]` is `,` `"` `\r` or `\n` (only below `end`).
#[inline]
fn block_mask(buf: &[u8], base: usize, end: usize) -> u64 {
    let m = block_mask_raw(&buf[base..base + 64]);
    let valid = end - base;
    if valid >= 64 {
        m
    } else {
        m & ((1u64 << valid) - 1)
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn block_mask_raw(block: &[u8]) -> u64 {
    use std::arch::x86_64::*;
    debug_assert!(block.len() >= 64);
    // SAFETY: SSE2 is part of the x86_64 baseline; `block` has at least 64 bytes and the loads
    // are unaligned loads.
    unsafe {
        let comma = _mm_set1_epi8(b',' as i8);
        let quote = _mm_set1_epi8(b'"' as i8);
        let nl = _mm_set1_epi8(b'\n' as i8);
        let cr = _mm_set1_epi8(b'\r' as i8);
        let mut out = 0u64;
        for k in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(k * 16) as *const __m128i);
            let hit = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, quote)),
                _mm_or_si128(_mm_cmpeq_epi8(v, nl), _mm_cmpeq_epi8(v, cr)),
            );
            out |= (_mm_movemask_epi8(hit) as u16 as u64) << (k * 16);
        }
        out
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn block_mask_raw(block: &[u8]) -> u64 {
    let mut out = 0u64;
    for (i, &b) in block[..64].iter().enumerate() {
        if matches!(b, b',' | b'"' | b'\n' | b'\r') {
            out |= 1 << i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8], chunk: usize) -> Result<Vec<Vec<String>>, String> {
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
        s.cap = 8; // force many refills and growth
        s.buf = vec![0; 8 + PAD];
        let mut out = Vec::new();
        loop {
            match s.next_record().map_err(|e| e.to_string())? {
                Ok(Split::Record) => out.push(
                    (0..s.len())
                        .map(|i| String::from_utf8_lossy(s.field(i)).into_owned())
                        .collect(),
                ),
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
    fn long_fields_and_records() {
        let long = "é".repeat(5000);
        let input = format!("{long},\"{long}\"\n{long},x\n");
        let got = split(input.as_bytes(), 4096).unwrap();
        assert_eq!(got[0], vec![long.clone(), long.clone()]);
        assert_eq!(got[1], vec![long, "x".to_owned()]);
    }

    #[test]
    fn malformed_quotes() {
        assert!(split(b"a,\"open\n", 3).is_err());
        assert!(split(b"\"a\"b,c\n", 3).is_err());
        assert_eq!(split(b"a\"b,c\n", 3).unwrap(), vec![vec!["a\"b", "c"]]);
    }
}
