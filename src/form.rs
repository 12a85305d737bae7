//! Decoding `application/x-www-form-urlencoded` bodies into Twilio's parameters.
//!
//! No HTTP types. The decoder lays the decoded pairs out in the order Twilio signs them, so
//! the buffer handed to handlers is also, byte for byte, the parameter half of the string to
//! sign: verifying a request decodes its body once, copies nothing more and sorts small
//! integers, not strings.

use std::fmt;

use wide::u8x16;

use crate::signature::CanonicalParams;

/// Decoded form fields, in the order they appear in the body.
///
/// `+` decodes to a space and `%XX` to its byte; a `%` not followed by two hex digits is kept
/// as it is (as browsers and `form_urlencoded` do). Bytes that are not UTF-8 after decoding
/// become U+FFFD, as in axum's `Form`.
///
/// ```
/// use tower_twilio::FormParams;
/// let params = FormParams::parse(b"From=%2B14158675309&Body=Hello+there&Digits=1&Digits=2");
/// assert_eq!(params.get("From"), Some("+14158675309"));
/// assert_eq!(params.get("Body"), Some("Hello there"));
/// assert_eq!(params.get_all("Digits").collect::<Vec<_>>(), ["1", "2"]);
/// assert_eq!(params.len(), 4);
/// ```
#[derive(Clone, Default)]
pub struct FormParams {
    /// Every decoded key followed by its value, pair after pair, in Twilio's order: by key,
    /// then by value.
    text: String,
    /// The fields in body order, as offsets into `text`.
    fields: Vec<Field>,
    /// Whether a `(key, value)` pair occurs twice: Twilio signs it once, so the canonical
    /// string is then `text` without the repeats rather than `text` itself.
    repeats: bool,
}

/// One field: its key is `text[key..value]`, its value `text[value..end]`.
///
/// While a body is being split, the same offsets point into the body instead: `value` is
/// then the key's end (the first `=`, or `end` when there is none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Field {
    key: usize,
    value: usize,
    end: usize,
}

impl FormParams {
    /// Decodes a form body.
    pub fn parse(body: &[u8]) -> Self {
        Self::parse_with_progress(body, |_| {}).0
    }

    /// Decodes a form body, showing `progress` the decoded text each time it has grown by a
    /// block of 64 bytes or more, while that text is the start of the
    /// [canonical](FormParams::canonical) string (a MAC can then absorb those blocks while
    /// the rest is decoded).
    ///
    /// The flag is whether everything `progress` was shown is the start of the canonical
    /// string; when it is not, `progress` saw a false start and its work must be redone.
    pub(crate) fn parse_with_progress(body: &[u8], progress: impl FnMut(&[u8])) -> (Self, bool) {
        match Self::parse_plain_keys(body, progress) {
            Some(params) => (params, true),
            None => (Self::parse_any(body), false),
        }
    }

    /// The fast path, for bodies whose keys have no escapes (Twilio's never do) and decode
    /// to UTF-8: keys are sorted as they stand in the body, and the values are then decoded
    /// straight into their sorted places. `None` sends the body to [`parse_any`].
    ///
    /// [`parse_any`]: FormParams::parse_any
    fn parse_plain_keys(body: &[u8], mut progress: impl FnMut(&[u8])) -> Option<Self> {
        let (mut stack, mut heap) = ([Masks::default(); 32], Vec::new());
        // One word more than the body fills, read by `escapes_at` past the last byte.
        let masks = scratch(&mut stack, &mut heap, body.len() / 64 + 2);
        let (non_ascii, escaped_keys) = scan(body, masks);
        if escaped_keys {
            return None;
        }
        // Counting bits of whole words: without `popcnt` each count is a dozen instructions.
        let ampersands: usize = masks
            .iter()
            .map(|m| m.ampersands.count_ones() as usize)
            .sum();
        // The sort keys carry the field's index in their low 16 bits; positions are `u32`.
        if ampersands >= 1 << 16 || body.len() > u32::MAX as usize {
            return None;
        }
        // Segment `k` of the body ends at `ends[k]` (its `&`, or the body's end) and its key
        // at `key_ends[k]`: each segment has one key end, but the last may have none.
        let (mut stack, mut heap) = ([0u32; 64], Vec::new());
        let ends = scratch(&mut stack, &mut heap, ampersands + 1);
        positions(masks, |m| m.ampersands, ends, body.len() as u32);
        let (mut stack, mut heap) = ([0u32; 64], Vec::new());
        let key_ends = scratch(&mut stack, &mut heap, ampersands + 1);
        positions(masks, |m| m.key_ends, key_ends, body.len() as u32);

        let (mut stack, mut heap) = ([0u128; 64], Vec::new());
        let prefixes = scratch(&mut stack, &mut heap, ampersands + 1);
        let mut fields = Vec::with_capacity(ampersands + 1);
        let mut start = 0;
        for (&key_end, &end) in key_ends.iter().zip(ends.iter()) {
            let (key_end, end) = (key_end as usize, end as usize);
            // Empty segments (`&&`) are no field.
            if end > start {
                prefixes[fields.len()] = key_prefix(body, start, key_end) | fields.len() as u128;
                fields.push(Field {
                    key: start,
                    value: key_end,
                    end,
                });
            }
            start = end + 1;
        }
        let prefixes = &prefixes[..fields.len()];
        let (mut stack, mut heap) = ([0u16; 64], Vec::new());
        let ranked = scratch(&mut stack, &mut heap, fields.len());
        let ties = rank(prefixes, ranked);

        // Fixed-width copies may write up to `COPY_WIDTH` bytes past the decoded length.
        // Zeroed after a plain allocation: `vec![0; n]` is a `calloc`, which skips glibc's
        // per-thread cache (137 more instructions a parse, 518 in the layer's request).
        #[allow(clippy::slow_vector_initialization)]
        let mut out = Vec::with_capacity(body.len() + COPY_WIDTH);
        out.resize(body.len() + COPY_WIDTH, 0u8);
        let mut written = 0;
        let mut high = 0;
        // Keys that tie on the prefix are put in order only once all are decoded; until
        // then the text is not the canonical string, and `progress` is not shown it.
        // With ties, a mark no text reaches (cheaper than testing `ties` for every field).
        let mut shown = if ties { usize::MAX - PROGRESS_STEP } else { 0 };
        for &index in ranked.iter() {
            let index = usize::from(index);
            let raw = fields[index];
            let key = written;
            written = copy(body, raw.key, raw.value, &mut out, written);
            let value = written;
            let from = (raw.value + 1).min(raw.end);
            (written, high) = decode(body, masks, from, raw.end, &mut out, (written, high));
            fields[index] = Field {
                key,
                value,
                end: written,
            };
            if written >= shown + PROGRESS_STEP {
                progress(&out[..written]);
                shown = written;
            }
        }
        out.truncate(written);
        let repeats = ties && order_ties(&mut out, &mut fields, ranked, prefixes);

        // Each key and value must be UTF-8 on its own, as `form_urlencoded` decodes them, not
        // only the buffer as a whole: `%C3=%A9` is an `é` split between a key and its value.
        // ASCII text (nothing at or above 0x80 in the body or decoded) is UTF-8 everywhere.
        let text = String::from_utf8(out).ok()?;
        let ascii = !non_ascii && high < 0x80;
        let on_boundaries = ascii
            || fields
                .iter()
                .all(|f| text.is_char_boundary(f.key) && text.is_char_boundary(f.value));
        on_boundaries.then_some(Self {
            text,
            fields,
            repeats,
        })
    }

    /// Any body: escaped keys, invalid UTF-8 (replaced field by field), 65,537 fields or more.
    fn parse_any(body: &[u8]) -> Self {
        let pairs: Vec<_> = form_urlencoded::parse(body).collect();
        Self::from_decoded(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
    }

    /// Lays out pairs that are already decoded, given in body order.
    pub(crate) fn from_decoded<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        // Stable: equal pairs keep body order, as on the fast path.
        order.sort_by_key(|&i| pairs[i]);
        let mut text = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len()).sum());
        let mut fields = vec![Field::default(); pairs.len()];
        let mut repeats = false;
        for (rank, &i) in order.iter().enumerate() {
            let (key, value) = pairs[i];
            repeats |= rank > 0 && pairs[order[rank - 1]] == pairs[i];
            let start = text.len();
            text.push_str(key);
            fields[i] = Field {
                key: start,
                value: text.len(),
                end: text.len() + value.len(),
            };
            text.push_str(value);
        }
        Self {
            text,
            fields,
            repeats,
        }
    }

    /// The first value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Every value of `key`, in body order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter().filter(move |(k, _)| *k == key).map(|(_, v)| v)
    }

    /// All `(key, value)` pairs in body order, repeated keys included.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.fields
            .iter()
            .map(|f| (&self.text[f.key..f.value], &self.text[f.value..f.end]))
    }

    /// Number of fields (a repeated key counts once per occurrence).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the body had no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The parameter half of the string Twilio signed: borrowed from the decoded text, which
    /// is already in that order, unless a pair repeats.
    pub fn canonical(&self) -> CanonicalParams<'_> {
        if !self.repeats {
            return CanonicalParams::borrowed(self.text.as_bytes());
        }
        let mut in_text_order: Vec<&Field> = self.fields.iter().collect();
        // An empty pair starts where the next one does, and comes first.
        in_text_order.sort_unstable_by_key(|f| (f.key, f.end));
        let mut bytes = Vec::with_capacity(self.text.len());
        let mut last: Option<(&str, &str)> = None;
        for f in in_text_order {
            let pair = (&self.text[f.key..f.value], &self.text[f.value..f.end]);
            if last != Some(pair) {
                bytes.extend_from_slice(&self.text.as_bytes()[f.key..f.end]);
                last = Some(pair);
            }
        }
        CanonicalParams::owned(bytes)
    }
}

/// Equal when the same pairs come in the same order, however the bodies spelled them.
impl PartialEq for FormParams {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for FormParams {}

impl fmt::Debug for FormParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// `len` elements of working memory: on the stack when they fit (Twilio's bodies always
/// do), else on the heap.
fn scratch<'a, T: Copy + Default, const N: usize>(
    stack: &'a mut [T; N],
    heap: &'a mut Vec<T>,
    len: usize,
) -> &'a mut [T] {
    if len <= N {
        &mut stack[..len]
    } else {
        heap.resize(len, T::default());
        heap
    }
}

/// Bytes of the key compared as one integer; the low two bytes of the `u128` hold the
/// field's index.
const PREFIX_LEN: usize = 14;

/// How much the decoded text grows between two calls of `progress`: a block of SHA-1 and
/// SHA-256, the most a MAC can take at once.
const PROGRESS_STEP: usize = 64;

/// Bytes a fixed-width copy moves at once.
const COPY_WIDTH: usize = 16;

/// The sixteen bytes of `bytes` from `at` on, zero-padded past the end (zero is no special
/// byte, and sorts before every other).
fn load(bytes: &[u8], at: usize) -> [u8; 16] {
    match bytes.get(at..at + 16) {
        Some(block) => block.try_into().expect("sixteen bytes"),
        None => {
            let mut block = [0; 16];
            let tail = bytes.get(at..).unwrap_or_default();
            block[..tail.len()].copy_from_slice(tail);
            block
        }
    }
}

/// Where the bytes that matter are, in 64 bytes of a body: bit `i` stands for byte `i`.
#[derive(Clone, Copy, Default)]
struct Masks {
    /// `&`.
    ampersands: u64,
    /// `&` and `=`.
    structural: u64,
    /// `%` and `+`, the bytes that do not decode to themselves.
    escapes: u64,
    /// The first `&` or `=` of each segment between two `&`: where its key ends.
    key_ends: u64,
}

/// Fills `masks` (one per 64 bytes of `body`); returns whether a byte is 0x80 or above,
/// and whether a key has an escape.
///
/// Sixteen bytes a compare: whole blocks are read without bounds checks, the last one from
/// a zero-padded copy (zero is no special byte).
// Inlined into both instances of the decoder (with and without a MAC), as it is into one.
#[inline(always)]
fn scan(body: &[u8], masks: &mut [Masks]) -> (bool, bool) {
    let mut high = 0;
    let mut block_masks = |block: &[u8; 64]| {
        let mut m = Masks::default();
        for (i, part) in block.chunks_exact(16).enumerate() {
            let part = u8x16::new(part.try_into().expect("sixteen bytes"));
            let ampersand = u64::from(byte_mask(part, b'&'));
            let equals = u64::from(byte_mask(part, b'='));
            let escapes = u64::from(byte_mask(part, b'%') | byte_mask(part, b'+'));
            m.ampersands |= ampersand << (16 * i);
            m.structural |= (ampersand | equals) << (16 * i);
            m.escapes |= escapes << (16 * i);
            high |= part.to_bitmask();
        }
        m
    };
    let mut chunks = body.chunks_exact(64);
    for (slot, chunk) in masks.iter_mut().zip(chunks.by_ref()) {
        *slot = block_masks(chunk.try_into().expect("64 bytes"));
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut block = [0; 64];
        block[..tail.len()].copy_from_slice(tail);
        masks[body.len() / 64] = block_masks(&block);
    }
    let escaped_keys = mark_key_ends(masks);
    (high != 0, escaped_keys)
}

/// Sets `key_ends` in every word: the first `&` or `=` at or after the start of each
/// segment (the body's start and each byte after a `&`). Returns whether a key has an
/// escape (`%` or `+`).
///
/// Adding a segment's start bit to the mask of ordinary bytes carries through them and
/// stops on the first structural byte: one addition finds every key end in 64 bytes, the
/// bits it clears are the keys' bytes, and the carry goes on to the next word.
fn mark_key_ends(masks: &mut [Masks]) -> bool {
    let (mut starts_in, mut carry, mut escaped_keys) = (1, false, 0);
    for m in masks {
        let ordinary = !m.structural;
        let starts = m.ampersands << 1 | starts_in;
        let (sum, over) = ordinary.overflowing_add(starts);
        let (sum, over_too) = sum.overflowing_add(u64::from(carry));
        m.key_ends = sum & m.structural;
        escaped_keys |= ordinary & !sum & m.escapes;
        (starts_in, carry) = (m.ampersands >> 63, over | over_too);
    }
    escaped_keys != 0
}

/// Bit `i` is set where byte `i` of `block` is `byte`.
fn byte_mask(block: u8x16, byte: u8) -> u32 {
    block.simd_eq(u8x16::splat(byte)).to_bitmask()
}

/// Writes the positions of the bits `bits` picks out of `masks`, in order, to the start of
/// `out`, and `fill` to the rest of it. `out` must have room for them all.
///
/// The loop only stores and counts: nothing carries from one bit to the next but the count.
fn positions(masks: &[Masks], bits: impl Fn(&Masks) -> u64, out: &mut [u32], fill: u32) {
    let mut count = 0;
    for (word, m) in (0u32..).zip(masks) {
        let mut set = bits(m);
        while set != 0 {
            out[count] = 64 * word + set.trailing_zeros();
            count += 1;
            set &= set - 1;
        }
    }
    out[count..].fill(fill);
}

/// The escapes among the bytes `from..from + len` (at most 64 of them): bit `i` for byte
/// `from + i`. Two words shifted into one, with no loop and no branch.
fn escapes_at(masks: &[Masks], from: usize, len: usize) -> u64 {
    let (word, shift) = (from / 64, from % 64);
    let low = masks[word].escapes >> shift;
    // Shifted in two steps so that a shift of 64 (when `shift` is 0) is two valid ones.
    let high = (masks[word + 1].escapes << 1) << (63 - shift);
    let bits = low | high;
    if len >= 64 {
        bits
    } else {
        bits & !(u64::MAX << len)
    }
}

/// The first [`PREFIX_LEN`] bytes of the key `body[start..end]` as a big-endian integer,
/// zero-padded (so integer order is byte order up to ties), with the low 16 bits clear.
fn key_prefix(body: &[u8], start: usize, end: usize) -> u128 {
    u128::from_be_bytes(load(body, start)) & KEPT[(end - start).min(PREFIX_LEN)]
}

/// Writes to `ranked` the field indices in the order of their keys' [prefixes]
/// (`prefixes[i]` is field `i`'s, with `i` in the low 16 bits).
///
/// Sorting 64-bit integers takes half the time of sorting 128-bit ones. Up to 64 fields,
/// the prefixes are sorted on their first seven bytes with the index in the eighth, then
/// each run that shares those seven bytes (`CalledCity`, `CalledCountry`) on all of them.
///
/// Returns whether two keys tie on their prefixes ([`same_prefix`]).
///
/// [prefixes]: key_prefix
// Inlined into both instances of the decoder (with and without a MAC), as it is into one.
#[inline(always)]
fn rank(prefixes: &[u128], ranked: &mut [u16]) -> bool {
    let ties_in = |sorted: &[u128]| sorted.windows(2).any(|w| same_prefix(w[0], w[1]));
    let mut short = [0u64; 64];
    let Some(short) = short.get_mut(..prefixes.len()) else {
        let mut sorted = prefixes.to_vec();
        sorted.sort_unstable();
        for (rank, &key) in ranked.iter_mut().zip(&sorted) {
            *rank = key as u16;
        }
        return ties_in(&sorted);
    };
    for (short, &prefix) in short.iter_mut().zip(prefixes) {
        *short = (prefix >> 64) as u64 & !0xff | u64::from(prefix as u8);
    }
    short.sort_unstable();
    let mut ties = false;
    for run in short.chunk_by_mut(|a, b| (a ^ b) >> 8 == 0) {
        if run.len() > 1 {
            let prefix = |short: &u64| prefixes[usize::from(*short as u8)];
            run.sort_unstable_by_key(prefix);
            // Only keys that share seven bytes can share fourteen.
            ties |= run
                .windows(2)
                .any(|w| same_prefix(prefix(&w[0]), prefix(&w[1])));
        }
    }
    for (rank, &short) in ranked.iter_mut().zip(short.iter()) {
        *rank = u16::from(short as u8);
    }
    ties
}

/// Whether two keys of [`key_prefix`] tie: equal but for the index in their low 16 bits.
fn same_prefix(a: u128, b: u128) -> bool {
    (a ^ b) >> 16 == 0
}

/// `KEPT[n]` keeps the first `n` bytes of a big-endian `u128` (a load, where a shift by a
/// variable amount is a dozen instructions on a `u128`).
const KEPT: [u128; PREFIX_LEN + 1] = {
    let mut table = [0u128; PREFIX_LEN + 1];
    let mut n = 1;
    while n <= PREFIX_LEN {
        table[n] = !(u128::MAX >> (8 * n));
        n += 1;
    }
    table
};

/// Copies `body[from..to]` to `out[at..]` and returns the end of the copy in `out`.
///
/// Short runs are copied as one fixed-width block (two instructions, where a copy of the
/// exact length is a call to `memcpy`); the bytes past the run land where the next write
/// goes, or in the slack at the end of `out`.
fn copy(body: &[u8], from: usize, to: usize, out: &mut [u8], at: usize) -> usize {
    let len = to - from;
    match body.get(from..from + COPY_WIDTH) {
        Some(block) if len <= COPY_WIDTH => out[at..at + COPY_WIDTH].copy_from_slice(block),
        _ => out[at..at + len].copy_from_slice(&body[from..to]),
    }
    at + len
}

/// Decodes the value `body[from..to]` into `out[at..]`. Takes and returns the end of the
/// output so far and the OR of the bytes decoded from escapes (to tell whether any is
/// non-ASCII).
// Inlined into both instances of the decoder (with and without a MAC), as it is into one.
#[inline(always)]
fn decode(
    body: &[u8],
    masks: &[Masks],
    from: usize,
    to: usize,
    out: &mut [u8],
    (mut at, mut high): (usize, u8),
) -> (usize, u8) {
    let mut copied = from;
    for base in (from..to).step_by(64) {
        let mut found = escapes_at(masks, base, to - base);
        while found != 0 {
            let pos = base + found.trailing_zeros() as usize;
            found &= found - 1;
            at = copy(body, copied, pos, out, at);
            // `+` is a space; `%XX` a byte, when both digits are in the value. Hex digits are
            // never escapes, so no escape found later lies inside one already decoded.
            let digit = |i: usize| {
                if i < to {
                    HEX[usize::from(body[i])]
                } else {
                    255
                }
            };
            let (hi, lo) = (digit(pos + 1), digit(pos + 2));
            let plus = body[pos] == b'+';
            let escape = !plus & (hi | lo < 16);
            let byte = if plus {
                b' '
            } else if escape {
                hi << 4 | lo
            } else {
                b'%'
            };
            out[at] = byte;
            high |= byte;
            at += 1;
            copied = pos + 1 + 2 * usize::from(escape);
        }
    }
    (copy(body, copied, to, out, at), high)
}

/// The value of each hex digit; 255 for other bytes.
const HEX: [u8; 256] = {
    let mut table = [255u8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Puts the pairs whose keys tie on the integer prefix in order, by key and then value
/// (the prefix sort only ordered them by body position). Returns whether a pair repeats.
///
/// Pairs that tie are next to each other in `out`, so each run is sorted within its own
/// stretch of the buffer. Ties are rare: a repeated key, or keys that share 14 bytes.
fn order_ties(out: &mut [u8], fields: &mut [Field], ranked: &[u16], prefixes: &[u128]) -> bool {
    let mut repeats = false;
    let prefix = |index: &u16| prefixes[usize::from(*index)];
    for run in ranked.chunk_by(|a, b| same_prefix(prefix(a), prefix(b))) {
        if run.len() < 2 {
            continue;
        }
        let indices: Vec<usize> = run.iter().map(|&index| usize::from(index)).collect();
        let start = fields[indices[0]].key;
        let end = fields[indices[indices.len() - 1]].end;
        let stretch = out[start..end].to_vec();
        let pair = |i: usize| {
            let f = fields[i];
            (
                &stretch[f.key - start..f.value - start],
                &stretch[f.value - start..f.end - start],
            )
        };
        let mut sorted = indices.clone();
        sorted.sort_by_key(|&i| pair(i));
        let mut at = start;
        let mut moved = Vec::with_capacity(sorted.len());
        for (rank, &i) in sorted.iter().enumerate() {
            let (key, value) = pair(i);
            repeats |= rank > 0 && pair(sorted[rank - 1]) == (key, value);
            out[at..at + key.len()].copy_from_slice(key);
            out[at + key.len()..at + key.len() + value.len()].copy_from_slice(value);
            moved.push(Field {
                key: at,
                value: at + key.len(),
                end: at + key.len() + value.len(),
            });
            at += key.len() + value.len();
        }
        for (&i, field) in sorted.iter().zip(moved) {
            fields[i] = field;
        }
    }
    repeats
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path alone.
    fn plain_keys(body: &[u8]) -> Option<FormParams> {
        FormParams::parse_plain_keys(body, |_| {})
    }

    fn pairs(body: &[u8]) -> Vec<(String, String)> {
        FormParams::parse(body)
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn reference(body: &[u8]) -> Vec<(String, String)> {
        form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn agrees_with_form_urlencoded_on_awkward_input() {
        let inputs: &[&[u8]] = &[
            b"",
            b"&",
            b"&&a=1&&",
            b"a",
            b"a=",
            b"=a",
            b"=",
            b"a=b=c",
            b"a=%",
            b"a=%4",
            b"a=%4g",
            b"a=%41%42",
            b"%2B=%2b",
            b"a+b=c+d",
            b"a=%C3%A9",
            b"a=%FF%FE&b=ok",
            b"a=%e9",
            b"k=%00",
            b"Body=It%27s+amazing&From=%2B1415",
            b"a=%4&b=1",
            b"a=%%41%",
            b"k=0123456789abcdef%41&j=0123456789abcdef0123456789+%2",
        ];
        for input in inputs {
            assert_eq!(
                pairs(input),
                reference(input),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn twilio_bodies_take_the_fast_path() {
        let body = b"To=%2B15005550006&Body=Hello+there&AccountSid=AC1";
        let params = plain_keys(body).expect("plain keys");
        assert_eq!(params, FormParams::parse_any(body));
        assert_eq!(
            params.canonical().as_bytes(),
            b"AccountSidAC1BodyHello thereTo+15005550006"
        );
        // Escaped keys and invalid UTF-8 are left to the general path.
        assert!(plain_keys(b"a%20b=1").is_none());
        assert!(plain_keys(b"a+b=1").is_none());
        assert!(plain_keys(b"a=%41&b%41").is_none());
        assert!(plain_keys(b"a=%41&=b&c=+").is_some());
        assert!(plain_keys(b"a=%FF").is_none());
        assert!(plain_keys(b"a=%C3&b=%A9").is_none());
    }

    #[test]
    fn repeated_keys_keep_body_order() {
        let params = FormParams::parse(b"a=2&b=1&a=1");
        assert_eq!(params.get("a"), Some("2"));
        assert_eq!(params.get_all("a").collect::<Vec<_>>(), ["2", "1"]);
        assert_eq!(params.get("missing"), None);
        assert_eq!(params.canonical().as_bytes(), b"a1a2b1");
    }

    #[test]
    fn keys_that_tie_on_the_prefix_are_ordered_by_their_bytes() {
        // Fourteen shared bytes; a NUL that pads like the end of a key; a repeated pair.
        let body = b"RecordingStatusZ=1&RecordingStatusA=2&ab\x00=3&ab=4&ab=4&ab=%34";
        let params = FormParams::parse(body);
        assert!(plain_keys(body).is_some());
        assert_eq!(
            params.canonical().as_bytes(),
            b"RecordingStatusA2RecordingStatusZ1ab4ab\x003"
        );
        assert_eq!(pairs(body), reference(body));
    }

    #[test]
    fn repeats_are_signed_once_even_beside_empty_pairs() {
        // An empty pair starts where the next pair does: the de-duplication must not let it
        // split two copies of that pair (proptest found this).
        let params = FormParams::parse(b"=&a=&=&a=&b=1&b=1");
        assert_eq!(params.len(), 6);
        assert_eq!(params.canonical().as_bytes(), b"ab1");
        let pairs = [("", ""), ("a", ""), ("", ""), ("a", "")];
        assert_eq!(CanonicalParams::from_pairs(pairs).as_bytes(), b"a");
    }

    #[test]
    fn long_bodies_use_the_heap_buffers() {
        // Over 64 fields and over 2 KiB: the sort keys and the masks leave the stack.
        let body: String = (0..3000)
            .map(|i| format!("k{:05}=%2B{i}&", 3000 - i))
            .collect();
        let params = plain_keys(body.as_bytes()).expect("plain keys");
        assert_eq!(params.len(), 3000);
        assert_eq!(params.get("k00001"), Some("+2999"));
        assert_eq!(pairs(body.as_bytes()), reference(body.as_bytes()));
        assert!(params
            .canonical()
            .as_bytes()
            .starts_with(b"k00001+2999k00002+2998"));
    }

    #[test]
    fn keys_longer_than_a_word_end_where_they_should() {
        // The key-end search carries across 64-byte words; the escape check spans them.
        let long = "K".repeat(150);
        for body in [
            format!("{long}=1&a=2"),
            format!("{long}&a=2"),
            format!("a=1&{long}"),
            format!("a=1&{long}=x=y&&{long}"),
            format!("{}={}", "k".repeat(63), "v".repeat(70)),
            format!("{}&{}=", "k".repeat(64), "j".repeat(128)),
        ] {
            let fast = plain_keys(body.as_bytes()).expect("plain keys");
            assert_eq!(fast, FormParams::parse_any(body.as_bytes()), "{body}");
            assert_eq!(pairs(body.as_bytes()), reference(body.as_bytes()), "{body}");
        }
        // An escape 100 bytes into a key sends the body to the general path.
        let escaped = format!("{}%41{}=1", "k".repeat(100), "k".repeat(40));
        assert!(plain_keys(escaped.as_bytes()).is_none());
        assert_eq!(pairs(escaped.as_bytes()), reference(escaped.as_bytes()));
    }

    // The block decoder and the prefix sort are checked against the obvious versions on
    // bodies dense in special bytes, at every alignment and with runs longer than a block.
    proptest::proptest! {
        #[test]
        fn agrees_with_form_urlencoded_on_any_body(
            body in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(b"&=+%".to_vec()),
                    proptest::sample::select(b"0123456789abcdefABCDEFGg".to_vec()),
                    proptest::prelude::any::<u8>(),
                ],
                0..100,
            )
        ) {
            proptest::prop_assert_eq!(pairs(&body), reference(&body));
        }

        #[test]
        fn fast_path_agrees_with_form_urlencoded(
            body in "([a-cA\\x00]{0,18}(=([xy=+]|%[0-7]?[0-9a-f]?|%C3%A9){0,20})?&){0,80}"
        ) {
            let fast = plain_keys(body.as_bytes());
            proptest::prop_assert!(fast.is_some());
            proptest::prop_assert_eq!(pairs(body.as_bytes()), reference(body.as_bytes()));
        }

        #[test]
        fn canonical_agrees_with_sorting_the_pairs(
            body in "([ab%+=\\x00]{0,16}(=[ab=+]{0,3})?&){0,80}"
        ) {
            assert_canonical_is_sorted(&body)?;
        }

        #[test]
        fn fast_path_canonical_agrees_with_sorting_the_pairs(
            // Plain keys from few letters: ties on 7 and on 14 bytes are common, and the
            // field count crosses the 64 that the short sort takes.
            body in "([abA\\x00]{0,18}(=[xy+]{0,3}|=%41)?&){0,90}"
        ) {
            proptest::prop_assert!(plain_keys(body.as_bytes()).is_some());
            assert_canonical_is_sorted(&body)?;
        }
    }

    /// The canonical string of `body` is its pairs sorted, each repeat once, concatenated.
    fn assert_canonical_is_sorted(body: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let params = FormParams::parse(body.as_bytes());
        let mut pairs: Vec<(&str, &str)> = params.iter().collect();
        pairs.sort_unstable();
        pairs.dedup();
        let expected: Vec<u8> = pairs
            .iter()
            .flat_map(|&(k, v)| [k.as_bytes(), v.as_bytes()])
            .flatten()
            .copied()
            .collect();
        let canonical = params.canonical();
        proptest::prop_assert_eq!(canonical.as_bytes(), &expected[..]);
        Ok(())
    }
}
