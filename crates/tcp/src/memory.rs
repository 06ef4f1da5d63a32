//! Stack-wide accounting of the memory TCP's buffers grow into (Linux
//! `tcp_mem`). Auto-tuning (send buffer with the congestion window, receive
//! buffer with the delivery rate) grows a connection's buffers only while
//! the growth of all connections sharing a [`MemoryBudget`] stays within
//! its limit. Many busy connections then share a bounded amount of memory,
//! instead of each growing to its own ceiling: buffers far larger than the
//! path needs cost cache misses on every octet copied through them, and
//! their sum can exceed what the process can spare.
//!
//! Only growth beyond a connection's initial buffers is charged; a
//! connection's charge is returned when it is dropped. Once the budget is
//! spent, a connection may still grow up to an equal share of it (limit ÷
//! connections), so that the first connections to grow cannot starve the
//! later ones: the total stays within twice the limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A limit on the octets that buffer auto-tuning may add, shared by the
/// connections of one stack. Cloning shares the budget.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limit: usize,
    used: AtomicUsize,
    /// Connections charging to this budget.
    members: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` octets of buffer growth.
    pub fn new(limit: usize) -> MemoryBudget {
        MemoryBudget { inner: Arc::new(Inner { limit, used: AtomicUsize::new(0), members: AtomicUsize::new(0) }) }
    }

    /// The limit, in octets.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Octets of growth currently charged.
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// Charges `n` more octets to a member that has `own` charged, if they
    /// fit under the limit or within the member's equal share of it.
    fn try_charge(&self, own: usize, n: usize) -> bool {
        let share = self.inner.limit / self.inner.members.load(Ordering::Relaxed).max(1);
        let fair = own.checked_add(n).is_some_and(|o| o <= share);
        self.inner
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                u.checked_add(n).filter(|&total| fair || total <= self.inner.limit)
            })
            .is_ok()
    }

    /// Charges `n` octets whatever the limit (growth that already happened).
    fn force_charge(&self, n: usize) {
        self.inner.used.fetch_add(n, Ordering::Relaxed);
    }

    fn release(&self, n: usize) {
        let _ = self.inner.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| Some(u.saturating_sub(n)));
    }
}

/// What one connection has charged to its budget; returned on drop.
#[derive(Debug, Default)]
pub(crate) struct Charge {
    budget: Option<MemoryBudget>,
    bytes: usize,
}

impl Charge {
    /// Moves this connection's charge to `budget` (growth so far included).
    pub fn attach(&mut self, budget: MemoryBudget) {
        self.detach();
        budget.force_charge(self.bytes);
        budget.inner.members.fetch_add(1, Ordering::Relaxed);
        self.budget = Some(budget);
    }

    /// Asks for `n` more octets of buffer: true if they may be used.
    pub fn grow(&mut self, n: usize) -> bool {
        if self.budget.as_ref().is_some_and(|b| !b.try_charge(self.bytes, n)) {
            return false;
        }
        self.bytes += n;
        true
    }

    /// Takes `n` more octets whatever the budget says (growth a connection
    /// cannot work without).
    pub fn force(&mut self, n: usize) {
        if let Some(b) = &self.budget {
            b.force_charge(n);
        }
        self.bytes += n;
    }

    fn detach(&mut self) {
        if let Some(old) = self.budget.take() {
            old.release(self.bytes);
            old.inner.members.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.detach();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_bounded_shared_fairly_and_returned_on_drop() {
        let budget = MemoryBudget::new(100);
        let mut a = Charge::default();
        a.attach(budget.clone());
        let mut b = Charge::default();
        assert!(b.grow(90), "no budget: unbounded");
        b.attach(budget.clone());
        assert_eq!(budget.used(), 90, "growth before attaching is charged");
        assert!(a.grow(10));
        assert!(a.grow(40), "over the limit, but within an equal share (50)");
        assert!(!a.grow(1), "over the limit and over the share");
        assert!(!b.grow(1));
        b.force(5);
        assert_eq!(budget.used(), 145);
        drop(b);
        assert_eq!(budget.used(), 50);
        assert!(a.grow(50), "alone: the whole limit is its share");
        drop(a);
        assert_eq!(budget.used(), 0);
    }
}
