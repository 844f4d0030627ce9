//! Per-shard counting: which shard a thread is, a single-writer [`Counter`] and the
//! cache-line-padded [`PerShard`] array every counter lives in (see the module docs of
//! [`crate::metrics`]).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Declares the calling thread to be shard `i`: it alone writes slot `i` of every
/// [`PerShard`]. Called once at the start of each shard thread.
pub fn enter_shard(i: usize) {
    SHARD.with(|s| s.set(i));
}

pub(crate) fn shard_index() -> usize {
    SHARD.with(Cell::get)
}

/// A monotonically increasing count with a single writer (see the module docs).
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the slot's own shard calls this, so load-then-store loses nothing.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Current value.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Keeps each shard's slot on its own cache lines (128 bytes: adjacent-line prefetch).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// One `T` per shard thread.
#[derive(Debug)]
pub struct PerShard<T> {
    slots: Box<[Padded<T>]>,
}

impl<T: Default> PerShard<T> {
    /// `n` zeroed slots.
    pub fn new(n: usize) -> PerShard<T> {
        PerShard {
            slots: (0..n).map(|_| Padded::default()).collect(),
        }
    }
}

impl<T> PerShard<T> {
    /// The calling shard's slot; `None` on threads that are not shards (they never count).
    #[inline]
    pub fn mine(&self) -> Option<&T> {
        self.slots.get(shard_index()).map(|p| &p.0)
    }

    /// Every slot (for summing on scrape).
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|p| &p.0)
    }

    /// Sum of `f` over every slot.
    pub fn sum(&self, f: impl Fn(&T) -> u64) -> u64 {
        self.iter().map(f).fold(0u64, u64::wrapping_add)
    }
}
