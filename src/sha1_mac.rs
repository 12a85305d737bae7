//! HMAC-SHA1 on `sha1`'s compression function, fed whole blocks straight from the caller's
//! buffer.
//!
//! Why not `hmac`: its buffered API copies every byte into a block buffer and costs about
//! 80 ns of bookkeeping per MAC of a 750-byte message (a sixth of the whole HMAC), and it can
//! only be fed once the message is complete. Here the form decoder hands over each 64 bytes
//! of the canonical string as soon as it has written them, so the compression of one block
//! runs while the next is being decoded. The tests check it against `hmac` byte for byte.

use sha1::block_api::compress;
use sha1::{Digest, Sha1};
use zeroize::Zeroize;

const BLOCK: usize = 64;

/// SHA-1's initial state (FIPS 180-4, 5.3.1).
const H0: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];

/// A secret's HMAC-SHA1 key schedule: the states after the inner and the outer padded key
/// block. As secret as the secret itself (either MACs anything), so zeroized on drop.
#[derive(Clone)]
pub(crate) struct Sha1Key {
    inner: [u32; 5],
    outer: [u32; 5],
}

impl Sha1Key {
    pub(crate) fn new(secret: &[u8]) -> Self {
        // RFC 2104: a key longer than a block is hashed first; a shorter one zero-padded.
        let mut key = [0u8; BLOCK];
        if secret.len() > BLOCK {
            let mut digest = Sha1::digest(secret);
            key[..digest.len()].copy_from_slice(&digest);
            digest.zeroize();
        } else {
            key[..secret.len()].copy_from_slice(secret);
        }
        let mut pads = [key.map(|b| b ^ 0x36), key.map(|b| b ^ 0x5c)];
        let (mut inner, mut outer) = (H0, H0);
        compress(&mut inner, &pads[..1]);
        compress(&mut outer, &pads[1..]);
        key.zeroize();
        pads.zeroize();
        Self { inner, outer }
    }

    /// A MAC in progress, nothing absorbed yet.
    pub(crate) fn start(&self) -> Sha1Mac {
        Sha1Mac {
            state: self.inner,
            outer: self.outer,
            pending: [0; BLOCK],
            pending_len: 0,
            compressed: 0,
        }
    }

    /// The MAC of `parts`, one after the other.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 20] {
        let mut mac = self.start();
        for part in parts {
            mac.update(part);
        }
        mac.finish()
    }
}

impl Drop for Sha1Key {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

/// HMAC-SHA1 of a message given in pieces.
pub(crate) struct Sha1Mac {
    state: [u32; 5],
    outer: [u32; 5],
    /// The start of a block not yet complete: only ever the end of a piece given to
    /// [`update`](Sha1Mac::update), or the head of one given to
    /// [`update_blocks`](Sha1Mac::update_blocks).
    pending: [u8; BLOCK],
    pending_len: usize,
    /// Message bytes compressed so far (after the inner key block).
    compressed: u64,
}

impl Sha1Mac {
    /// Absorbs all of `data`.
    pub(crate) fn update(&mut self, data: &[u8]) {
        let taken = self.update_blocks(data);
        let rest = &data[taken..];
        let start = self.pending_len;
        // `update_blocks` leaves less than a block: either it filled the pending block (and
        // `pending_len` is 0) or it took nothing because `data` could not fill it.
        self.pending[start..start + rest.len()].copy_from_slice(rest);
        self.pending_len += rest.len();
    }

    /// Absorbs the longest head of `data` that completes whole blocks, without copying
    /// them, and returns its length. The rest must be given again, with what follows it.
    pub(crate) fn update_blocks(&mut self, data: &[u8]) -> usize {
        let mut taken = 0;
        if self.pending_len > 0 {
            let need = BLOCK - self.pending_len;
            let Some(head) = data.get(..need) else {
                return 0;
            };
            self.pending[self.pending_len..].copy_from_slice(head);
            compress(&mut self.state, std::slice::from_ref(&self.pending));
            self.pending_len = 0;
            self.compressed += BLOCK as u64;
            taken = need;
        }
        let (blocks, _) = data[taken..].as_chunks::<BLOCK>();
        if !blocks.is_empty() {
            compress(&mut self.state, blocks);
            self.compressed += (BLOCK * blocks.len()) as u64;
            taken += BLOCK * blocks.len();
        }
        taken
    }

    /// The MAC of everything absorbed.
    pub(crate) fn finish(mut self) -> [u8; 20] {
        // SHA-1 padding: 0x80, zeros, then the bit length of the inner message (key block
        // included) in the last 8 bytes.
        let bits = 8 * (BLOCK as u64 + self.compressed + self.pending_len as u64);
        let len = self.pending_len;
        self.pending[len] = 0x80;
        self.pending[len + 1..].fill(0);
        if len + 1 > BLOCK - 8 {
            compress(&mut self.state, std::slice::from_ref(&self.pending));
            self.pending.fill(0);
        }
        self.pending[BLOCK - 8..].copy_from_slice(&bits.to_be_bytes());
        compress(&mut self.state, std::slice::from_ref(&self.pending));

        // Outer hash: the key block, then the 20-byte inner digest, in one block.
        let mut block = [0u8; BLOCK];
        for (bytes, word) in block.chunks_exact_mut(4).zip(self.state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        block[20] = 0x80;
        block[BLOCK - 8..].copy_from_slice(&(8 * (BLOCK as u64 + 20)).to_be_bytes());
        let mut outer = self.outer;
        compress(&mut outer, std::slice::from_ref(&block));
        let mut mac = [0u8; 20];
        for (bytes, word) in mac.chunks_exact_mut(4).zip(outer) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        outer.zeroize();
        mac
    }
}

/// The states are derived from the key and are wiped; the buffered bytes are the message,
/// which the request body holds anyway.
impl Drop for Sha1Mac {
    fn drop(&mut self) {
        self.state.zeroize();
        self.outer.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, KeyInit, Mac};

    use super::*;

    fn reference(secret: &[u8], parts: &[&[u8]]) -> [u8; 20] {
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret).expect("any length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    #[test]
    fn rfc_2202_test_cases() {
        // RFC 2202, section 3: test cases 1, 2 and 6 (a key longer than a block).
        let cases: [(&[u8], &[u8], &str); 3] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b617318655057264e28bc0b6fb378c8ef146be00",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            ),
            (
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "aa4ae5e15272d00e95705637ce8a3b55ed402112",
            ),
        ];
        for (key, data, expected) in cases {
            let mac = Sha1Key::new(key).mac(&[data]);
            let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, expected);
        }
    }

    #[test]
    fn blocks_taken_in_place_give_the_same_mac() {
        let key = Sha1Key::new(b"fake_token");
        let message: Vec<u8> = (0..300u16).map(|i| (i * 7) as u8).collect();
        for head in [0, 1, 54, 63, 64, 65, 130] {
            let (head, rest) = message.split_at(head);
            // Offer the rest in growing prefixes, as the decoder does, then finish it.
            let mut mac = key.start();
            mac.update(head);
            let mut taken = 0;
            for end in (0..=rest.len()).step_by(17) {
                taken += mac.update_blocks(&rest[taken..end]);
            }
            mac.update(&rest[taken..]);
            assert_eq!(mac.finish(), reference(b"fake_token", &[&message]));
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_hmac_crate(
            secret in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..150),
            first in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            second in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            proptest::prop_assert_eq!(
                Sha1Key::new(&secret).mac(&[&first, &second]),
                reference(&secret, &[&first, &second])
            );
        }
    }
}
