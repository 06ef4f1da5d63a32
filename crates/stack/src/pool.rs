//! Packet buffers recycled between sends: a driver hands each received
//! buffer back with [`crate::Stack::recycle`], and the next packet the stack
//! builds reuses it instead of going to the allocator (one malloc and one
//! free per packet were a measurable share of a bulk transfer).

/// Most buffers kept; beyond this they are freed.
const MAX_BUFFERS: usize = 1024;
/// Largest buffer kept (a full-size IPv4 datagram).
const MAX_CAPACITY: usize = 65536;

#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    free: Vec<Vec<u8>>,
}

impl BufferPool {
    /// A zeroed buffer of `len` bytes.
    pub fn take(&mut self, len: usize) -> Vec<u8> {
        let mut b = self.free.pop().unwrap_or_default();
        b.clear();
        b.resize(len, 0);
        b
    }

    /// A buffer of `len` bytes holding whatever an earlier packet left
    /// (zeros past that), for a caller that overwrites every byte: a
    /// full-size packet is then built without first zeroing 1500 bytes.
    #[inline]
    pub fn take_to_overwrite(&mut self, len: usize) -> Vec<u8> {
        let mut b = self.free.pop().unwrap_or_default();
        b.resize(len, 0);
        b
    }

    #[inline]
    pub fn give(&mut self, b: Vec<u8>) {
        if self.free.len() < MAX_BUFFERS && b.capacity() <= MAX_CAPACITY && b.capacity() > 0 {
            self.free.push(b);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_and_bounds() {
        let mut p = BufferPool::default();
        let mut b = p.take(100);
        assert_eq!(b, vec![0; 100]);
        b[3] = 7;
        let cap = b.capacity();
        p.give(b);
        let again = p.take(50);
        assert_eq!(again, vec![0; 50], "reused buffers come back zeroed");
        assert_eq!(again.capacity(), cap);
        p.give(again);
        let mut b = p.take_to_overwrite(60);
        assert_eq!((b.len(), b.capacity()), (60, cap), "reused, not reallocated");
        b[55] = 9;
        p.give(b);
        assert_eq!(p.take_to_overwrite(70)[55..], [9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for _ in 0..2000 {
            p.give(vec![0; 10]);
        }
        assert_eq!(p.len(), MAX_BUFFERS);
        p.give(Vec::with_capacity(1 << 20));
        assert_eq!(p.len(), MAX_BUFFERS);
    }
}
