//! Who waits on a socket: the wakers a socket calls when it can receive,
//! or send, again.

use std::task::Waker;

/// The wakers waiting on one socket for one thing (to receive, or to
/// send), woken together. Several may wait at once (a thread blocked in a
/// read, a poller watching the socket, a task), and each must be woken: a
/// registration never pushes out another's, as Linux's wait queues hold
/// every sleeper. The same waker registered twice is kept once. Woken, the
/// set empties: a waiter that still waits registers again.
#[derive(Debug, Default)]
pub struct WakerSet {
    /// The first, nearly always the only one: kept inline. `None` only
    /// when `more` is empty too.
    first: Option<Waker>,
    /// The others, boxed: one word in every connection while none waits,
    /// where a bare `Vec` would take three.
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<Waker>>>,
}

impl WakerSet {
    /// Adds `waker`, unless it is already in.
    pub fn register(&mut self, waker: &Waker) {
        match &self.first {
            None => self.first = Some(waker.clone()),
            Some(w) if w.will_wake(waker) => {}
            Some(_) => {
                let more = self.more.get_or_insert_with(Box::default);
                if !more.iter().any(|w| w.will_wake(waker)) {
                    more.push(waker.clone());
                }
            }
        }
    }

    /// Takes every waker out, to be woken later (once a lock is released:
    /// a waker may run code).
    #[inline]
    pub fn take(&mut self) -> WakerSet {
        WakerSet { first: self.first.take(), more: self.more.take() }
    }

    /// Wakes them all.
    #[inline]
    pub fn wake(self) {
        if let Some(w) = self.first {
            w.wake();
        }
        for w in self.more.into_iter().flat_map(|more| *more) {
            w.wake();
        }
    }

    /// Wakes and forgets them all, in place.
    #[inline]
    pub fn wake_all(&mut self) {
        self.take().wake();
    }

    /// How many wakers wait.
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.as_ref().map_or(0, |more| more.len())
    }

    /// Whether none waits (one load: asked on every segment taken in).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let c = Arc::new(Counter(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn every_waiter_is_woken_once_and_forgotten() {
        let (a, wa) = counter();
        let (b, wb) = counter();
        let (c, wc) = counter();
        let mut set = WakerSet::default();
        assert!(set.is_empty());
        set.register(&wa);
        set.register(&wb);
        set.register(&wa);
        set.register(&wc);
        set.register(&wb);
        assert_eq!(set.len(), 3, "a waker registered twice is kept once");
        let taken = set.take();
        assert!(set.is_empty(), "taken out");
        taken.wake();
        for x in [&a, &b, &c] {
            assert_eq!(x.0.load(Ordering::SeqCst), 1);
        }
        // Forgotten once woken: nothing more until they register again.
        set.wake_all();
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
        set.register(&wb);
        set.wake_all();
        assert_eq!((a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)), (1, 2));
    }
}
