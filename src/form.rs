//! Decoding `application/x-www-form-urlencoded` bodies into Twilio's parameters.
//!
//! No HTTP types. A body is decoded once, into one string; the key resolver, the MAC and
//! the handler all read that decoding.

use std::fmt;

use percent_encoding::percent_decode;

use crate::canonical::CanonicalParams;

/// Decoded form fields, in the order they appear in the body.
///
/// Decoded as `form_urlencoded` (the WHATWG URL standard) decodes: fields split on `&`
/// (empty ones skipped), key and value on the first `=`, `+` is a space and `%XX` its byte
/// (by `percent-encoding`); a `%` not followed by two hex digits is kept as it is. Bytes
/// that are not UTF-8 after decoding become U+FFFD, key by key and value by value, as in
/// axum's `Form`.
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
    /// Every decoded key followed by its value, field after field, in body order.
    text: String,
    /// The fields, as offsets into `text`.
    fields: Vec<Field>,
    /// The same fields in Twilio's order: by key, then by value. Sorted once, when parsed,
    /// for everything that needs the signed order.
    sorted: Vec<Field>,
}

/// One field: its key is `text[key..value]`, its value `text[value..end]`.
#[derive(Clone, Copy, Debug)]
struct Field {
    key: usize,
    value: usize,
    end: usize,
}

impl FormParams {
    /// Decodes a form body.
    pub fn parse(body: &[u8]) -> Self {
        // Decoding never lengthens the text: one allocation holds all of it.
        let mut decoded = Vec::with_capacity(body.len());
        let mut fields = Vec::with_capacity(memchr::memchr_iter(b'&', body).count() + 1);
        let mut start = 0;
        for end in memchr::memchr_iter(b'&', body).chain([body.len()]) {
            let field = &body[start..end];
            start = end + 1;
            if field.is_empty() {
                continue;
            }
            let (key, value) = match memchr::memchr(b'=', field) {
                Some(eq) => (&field[..eq], &field[eq + 1..]),
                None => (field, &[][..]),
            };
            let key_start = decoded.len();
            decode_into(&mut decoded, key);
            let value_start = decoded.len();
            decode_into(&mut decoded, value);
            fields.push(Field {
                key: key_start,
                value: value_start,
                end: decoded.len(),
            });
        }
        // One UTF-8 check for the whole text. Each key and value must be UTF-8 on its own
        // too (`%C3=%A9` splits an `é` between a key and its value): otherwise, and for
        // text that is not UTF-8 at all, decode again replacing piece by piece.
        match String::from_utf8(decoded) {
            Ok(text)
                if fields
                    .iter()
                    .all(|f| text.is_char_boundary(f.key) && text.is_char_boundary(f.value)) =>
            {
                Self::sorted(text, fields)
            }
            _ => Self::parse_lossy(body),
        }
    }

    /// [`parse`](Self::parse) for bodies that do not decode to UTF-8 on every boundary:
    /// `form_urlencoded` replaces invalid bytes key by key and value by value.
    fn parse_lossy(body: &[u8]) -> Self {
        let mut text = String::with_capacity(body.len());
        let mut fields = Vec::new();
        for (key, value) in form_urlencoded::parse(body) {
            let key_start = text.len();
            text.push_str(&key);
            let value_start = text.len();
            text.push_str(&value);
            fields.push(Field {
                key: key_start,
                value: value_start,
                end: text.len(),
            });
        }
        Self::sorted(text, fields)
    }

    fn sorted(text: String, fields: Vec<Field>) -> Self {
        let mut sorted = fields.clone();
        let bytes = text.as_bytes();
        // By key, then by value, comparing bytes, as Twilio sorts.
        sorted.sort_unstable_by(|a, b| {
            let key = |f: &Field| &bytes[f.key..f.value];
            let value = |f: &Field| &bytes[f.value..f.end];
            key(a).cmp(key(b)).then_with(|| value(a).cmp(value(b)))
        });
        Self {
            text,
            fields,
            sorted,
        }
    }

    fn pair(&self, f: &Field) -> (&str, &str) {
        (&self.text[f.key..f.value], &self.text[f.value..f.end])
    }

    /// The first value of `key` in the order Twilio signs (values sorted), if present.
    ///
    /// Not the first in the body: whoever holds a signed request may reorder its fields
    /// without breaking the signature, but not change which value sorts first.
    ///
    /// ```
    /// use tower_twilio::FormParams;
    /// let params = FormParams::parse(b"Digits=5&Digits=1");
    /// assert_eq!(params.get("Digits"), Some("1"));
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        let (found, value) = self.pair(self.sorted.get(self.first_sorted(key))?);
        (found == key).then_some(value)
    }

    /// Where `key`'s first pair is, or would be, in the sorted fields.
    fn first_sorted(&self, key: &str) -> usize {
        self.sorted
            .partition_point(|f| &self.text[f.key..f.value] < key)
    }

    /// Every value of `key`, in the order Twilio signs them (sorted).
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.sorted[self.first_sorted(key)..]
            .iter()
            .map(|f| self.pair(f))
            .take_while(move |(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// Whether every key is unique and made of the characters of Twilio's parameter names:
    /// ASCII letters, digits, `_` and `-` (`CallSid`, `MediaUrl0`, `SipHeader_X-Custom`).
    pub(crate) fn has_twilio_keys_only(&self) -> bool {
        let keys = || self.sorted.iter().map(|f| &self.text[f.key..f.value]);
        let names = keys().all(|key| {
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
        // Sorted: a repeated key is next to itself.
        names && keys().zip(keys().skip(1)).all(|(a, b)| a != b)
    }

    /// All `(key, value)` pairs in body order, repeated keys included.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.fields.iter().map(|f| self.pair(f))
    }

    /// Number of fields (a repeated key counts once per occurrence).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the body had no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The parameter half of the string Twilio signed: these pairs in Twilio's order,
    /// de-duplicated, borrowed from this decoding.
    ///
    /// ```
    /// use tower_twilio::FormParams;
    /// let params = FormParams::parse(b"To=%2B1415&Body=Hi&To=%2B1415");
    /// assert_eq!(params.canonical().to_bytes(), b"BodyHiTo+1415");
    /// ```
    pub fn canonical(&self) -> CanonicalParams<'_> {
        CanonicalParams::from_sorted(self.sorted.iter().map(|f| self.pair(f)))
    }
}

/// Appends the decoding of one key or value: `+` is a space, `%XX` its byte.
fn decode_into(out: &mut Vec<u8>, raw: &[u8]) {
    if memchr::memchr2(b'+', b'%', raw).is_none() {
        out.extend_from_slice(raw);
        return;
    }
    // `+` is a space before percent-decoding, so `%2B` stays a `+`; no `%XX` spans a `+`.
    for (i, part) in raw.split(|&b| b == b'+').enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend(percent_decode(part));
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

#[cfg(test)]
mod tests {
    use super::*;

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
            b"a=%+41&b=%2+",
            b"k=0123456789abcdef%41&j=0123456789abcdef0123456789+%2",
            // A UTF-8 character split between a key and its value: each half is replaced.
            b"%C3=%A9",
            b"\xc3=\xa9&\xff",
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
    fn repeated_keys_come_in_the_signed_order_not_the_body_order() {
        let params = FormParams::parse(b"a=2&b=1&a=1");
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get_all("a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(
            params.iter().map(|(_, v)| v).collect::<Vec<_>>(),
            ["2", "1", "1"]
        );
        assert_eq!(params.get("missing"), None);
        assert_eq!(params.get(""), None);
        assert_eq!(params.canonical().to_bytes(), b"a1a2b1");
        // Keys that are prefixes of others are found exactly.
        let params = FormParams::parse(b"Reason=x&ReasonCode=y&Re=z");
        assert_eq!(params.get("Reason"), Some("x"));
        assert_eq!(params.get("Re"), Some("z"));
        assert_eq!(params.get("Reaso"), None);
    }

    #[test]
    fn twilio_keys_only_refuses_repeats_and_foreign_characters() {
        for good in [
            &b"CallSid=CA1&From=%2B1&MediaUrl0=x&SipHeader_X-Custom=y"[..],
            b"A=",
        ] {
            assert!(FormParams::parse(good).has_twilio_keys_only(), "{good:?}");
        }
        for bad in [
            &b"From=1&From=2"[..],
            b"From=1&From=1",
            b"=x",
            b"From+=1",
            b"From%2B15550000001=",
            b"Body.x=1",
            b"%C3%A9=1",
        ] {
            assert!(!FormParams::parse(bad).has_twilio_keys_only(), "{bad:?}");
        }
    }

    #[test]
    fn twilio_bodies_decode_to_the_canonical_string() {
        let body = b"To=%2B15005550006&Body=Hello+there&AccountSid=AC1";
        assert_eq!(
            FormParams::parse(body).canonical().to_bytes(),
            b"AccountSidAC1BodyHello thereTo+15005550006"
        );
    }

    #[test]
    fn keys_that_share_a_long_prefix_are_ordered_by_their_bytes() {
        // Shared bytes; a NUL that pads like the end of a key; a repeated pair.
        let body = b"RecordingStatusZ=1&RecordingStatusA=2&ab\x00=3&ab=4&ab=4&ab=%34";
        assert_eq!(
            FormParams::parse(body).canonical().to_bytes(),
            b"RecordingStatusA2RecordingStatusZ1ab4ab\x003"
        );
        assert_eq!(pairs(body), reference(body));
    }

    #[test]
    fn repeats_are_signed_once_even_beside_empty_pairs() {
        let params = FormParams::parse(b"=&a=&=&a=&b=1&b=1");
        assert_eq!(params.len(), 6);
        assert_eq!(params.canonical().to_bytes(), b"ab1");
    }

    #[test]
    fn long_bodies() {
        let body: String = (0..3000)
            .map(|i| format!("k{:05}=%2B{i}&", 3000 - i))
            .collect();
        let params = FormParams::parse(body.as_bytes());
        assert_eq!(params.len(), 3000);
        assert_eq!(params.get("k00001"), Some("+2999"));
        assert_eq!(pairs(body.as_bytes()), reference(body.as_bytes()));
        assert!(params
            .canonical()
            .to_bytes()
            .starts_with(b"k00001+2999k00002+2998"));
    }

    proptest::proptest! {
        // Bodies dense in the bytes that matter to the format.
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
        fn canonical_agrees_with_sorting_the_pairs(
            body in "([abA%+=\\x00]{0,18}(=([xy=+]|%[0-7]?[0-9a-f]?|%C3%A9){0,20})?&){0,80}"
        ) {
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
            proptest::prop_assert_eq!(params.canonical().to_bytes(), expected);
        }
    }
}
