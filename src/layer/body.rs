use bytes::{Buf, Bytes, BytesMut};

/// The request body collected so far, refusing to grow past a limit.
///
/// A body that arrives in one frame (the common case) is kept as that frame's `Bytes`, with
/// no copy; later frames are appended into one buffer sized from `Content-Length`.
#[derive(Debug, Default)]
pub(crate) struct BodyBuffer {
    first: Bytes,
    rest: BytesMut,
    len: usize,
    capacity_hint: usize,
}

/// The body passed the limit; nothing past it was buffered.
#[derive(Debug)]
pub(crate) struct OverLimit;

impl BodyBuffer {
    pub(crate) fn with_capacity_hint(capacity_hint: usize) -> Self {
        Self {
            capacity_hint,
            ..Self::default()
        }
    }

    pub(crate) fn push(&mut self, mut data: impl Buf, limit: usize) -> Result<(), OverLimit> {
        let n = data.remaining();
        if n == 0 {
            return Ok(());
        }
        if n > limit - self.len {
            return Err(OverLimit);
        }
        self.len += n;
        if self.len == n {
            self.first = data.copy_to_bytes(n);
            return Ok(());
        }
        if self.rest.is_empty() {
            self.rest.reserve(self.capacity_hint.max(self.len));
            self.rest
                .extend_from_slice(&std::mem::take(&mut self.first));
        }
        while data.has_remaining() {
            let chunk = data.chunk();
            self.rest.extend_from_slice(chunk);
            let advanced = chunk.len();
            data.advance(advanced);
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Bytes {
        if self.rest.is_empty() {
            self.first
        } else {
            self.rest.freeze()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_frame_is_not_copied() {
        let data = Bytes::from_static(b"hello");
        let mut buffer = BodyBuffer::default();
        buffer.push(data.clone(), 10).unwrap();
        let out = buffer.finish();
        assert_eq!(out.as_ptr(), data.as_ptr());
    }

    #[test]
    fn frames_are_joined_and_the_limit_is_exact() {
        let mut buffer = BodyBuffer::with_capacity_hint(6);
        buffer.push(Bytes::from_static(b"abc"), 6).unwrap();
        buffer.push(Bytes::new(), 6).unwrap();
        buffer.push(Bytes::from_static(b"def"), 6).unwrap();
        assert!(buffer.push(Bytes::from_static(b"g"), 6).is_err());
        assert_eq!(buffer.finish(), "abcdef");
    }
}
