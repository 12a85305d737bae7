//! The string Twilio signs: the URL, then the parameters in Twilio's order.
//!
//! No HTTP types, and nothing else of this crate: [`form`](crate::form) and
//! [`signature`](crate::signature) both build on it.
//!
//! ```text
//! data = URL + for key in sort(keys): for value in sort(unique(values[key])): key + value
//! ```

use std::fmt;

use sha2::{Digest, Sha256};

/// The parameter half of the string Twilio signs.
///
/// Keys in byte order, each key's distinct values in byte order, written `key` `value` with
/// no separators. Sorting is by key first, then by value; never by `key + value`, so `Reason`
/// still comes before `ReasonConferenceEnded`. A pair that repeats is signed once, as the
/// official libraries do.
///
/// The pairs are borrowed: sorting moves references, never strings, and the MAC reads the
/// pieces where they are ([`string_to_sign`](Self::string_to_sign)).
///
/// ```
/// use tower_twilio::canonical::CanonicalParams;
/// let params = CanonicalParams::from_pairs([
///     ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234"), ("CallSid", "CA1"),
/// ]);
/// assert_eq!(params.to_bytes(), b"CallSidCA1Digits1234Digits5678");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CanonicalParams<'a> {
    /// Sorted by key, then value; no pair twice.
    pairs: Vec<(&'a str, &'a str)>,
}

impl CanonicalParams<'static> {
    /// No parameters: GET requests and non-form bodies sign the URL alone.
    pub const fn none() -> Self {
        Self { pairs: Vec::new() }
    }
}

impl<'a> CanonicalParams<'a> {
    /// Sorts and de-duplicates decoded `(key, value)` pairs, given in any order.
    pub fn from_pairs<I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        // Tuples compare by key, then by value; `str` compares by bytes, as Twilio sorts.
        pairs.sort_unstable();
        pairs.dedup();
        Self { pairs }
    }

    /// Pairs already in Twilio's order (as [`FormParams`](crate::FormParams) keeps them),
    /// de-duplicated.
    pub(crate) fn from_sorted<I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        debug_assert!(pairs.is_sorted());
        pairs.dedup();
        Self { pairs }
    }

    /// The string to sign for `url`, in pieces: the URL, then each key and its value.
    ///
    /// ```
    /// use tower_twilio::canonical::CanonicalParams;
    /// let params = CanonicalParams::from_pairs([("To", "+1415"), ("Body", "Hi")]);
    /// let data: Vec<u8> = params.string_to_sign("https://x.test/sms").flatten().copied().collect();
    /// assert_eq!(data, b"https://x.test/smsBodyHiTo+1415");
    /// ```
    pub fn string_to_sign<'s>(&'s self, url: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
        std::iter::once(url.as_bytes()).chain(self.pieces())
    }

    /// SHA-256 of the string to sign for `url`.
    pub fn sha256(&self, url: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        self.string_to_sign(url)
            .for_each(|piece| hasher.update(piece));
        hasher.finalize().into()
    }

    /// Each key and its value, in order, without the URL.
    fn pieces(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.pairs
            .iter()
            .flat_map(|(key, value)| [key.as_bytes(), value.as_bytes()])
    }

    /// The parameter half as one byte string (for tests and diagnostics; the MAC reads the
    /// pieces).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.pieces().flatten().copied().collect()
    }
}

impl fmt::Debug for CanonicalParams<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CanonicalParams")
            .field(&String::from_utf8_lossy(&self.to_bytes()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_by_key_then_value_not_concatenation() {
        let params = CanonicalParams::from_pairs([
            ("ReasonConferenceEnded", "a"),
            ("Reason", "z"),
            ("callSid", "3"),
            ("CallSid", "2"),
            ("CALLSID", "1"),
        ]);
        assert_eq!(
            params.to_bytes(),
            b"CALLSID1CallSid2ReasonzReasonConferenceEndedacallSid3"
        );
    }

    #[test]
    fn keeps_empty_values_and_non_ascii() {
        let params = CanonicalParams::from_pairs([("\u{e9}", "\u{fc}"), ("Empty", ""), ("A", "")]);
        assert_eq!(params.to_bytes(), "AEmpty\u{e9}\u{fc}".as_bytes());
    }

    #[test]
    fn orders_by_bytes_which_is_code_point_order() {
        // U+00E9 (C3 A9) sorts after 'z' (7A), as Python's str sort does.
        let params = CanonicalParams::from_pairs([("\u{e9}", "1"), ("z", "2")]);
        assert_eq!(params.to_bytes(), "z2\u{e9}1".as_bytes());
    }

    #[test]
    fn repeats_are_signed_once_even_beside_empty_pairs() {
        let pairs = [
            ("", ""),
            ("a", ""),
            ("", ""),
            ("a", ""),
            ("b", "1"),
            ("b", "1"),
        ];
        assert_eq!(CanonicalParams::from_pairs(pairs).to_bytes(), b"ab1");
    }

    #[test]
    fn the_string_to_sign_starts_with_the_url() {
        let params = CanonicalParams::from_pairs([("b", "2"), ("a", "1")]);
        let pieces: Vec<&[u8]> = params.string_to_sign("https://x/").collect();
        assert_eq!(pieces, [&b"https://x/"[..], b"a", b"1", b"b", b"2"]);
        let none = CanonicalParams::none();
        let pieces: Vec<&[u8]> = none.string_to_sign("u").collect();
        assert_eq!(pieces, [&b"u"[..]]);
    }

    fn naive_canonical(pairs: &[(String, String)]) -> Vec<u8> {
        let mut pairs: Vec<(&[u8], &[u8])> = pairs
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        pairs
            .iter()
            .flat_map(|(k, v)| [*k, *v])
            .flatten()
            .copied()
            .collect()
    }

    // Keys from a small alphabet with NUL: ties, keys that are prefixes of others, repeats.
    proptest::proptest! {
        #[test]
        fn agrees_with_sorting_the_pairs_as_bytes(
            pairs in proptest::collection::vec(("[ab\\x00\u{e9}]{0,10}", "[ab]{0,2}"), 0..90)
        ) {
            let params = CanonicalParams::from_pairs(
                pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
            proptest::prop_assert_eq!(params.to_bytes(), naive_canonical(&pairs));
        }
    }
}
