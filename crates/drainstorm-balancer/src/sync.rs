//! Concurrency primitives, swapped for loom's under `cfg(loom)`.
//!
//! Every atomic the balancers share goes through this module, so that
//! `RUSTFLAGS="--cfg loom" cargo test --test loom` explores every
//! interleaving of the memory orderings we chose (crossbeam-epoch uses the
//! same device in its `primitive` module).
//!
//! Under loom, the snapshot cell that is an [`arc_swap::ArcSwap`] in normal
//! builds becomes a loom mutex around an `Arc`: arc-swap is not loom-aware and
//! is tested by its authors; what loom checks here is *our* protocol around
//! it (the generation counter, the cached snapshots, the in-flight counters).

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering, fence};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering, fence};

use std::sync::Arc;

/// A cell holding the current snapshot, replaced atomically as a whole.
pub(crate) struct SnapshotCell<T> {
    #[cfg(not(loom))]
    inner: arc_swap::ArcSwap<T>,
    #[cfg(loom)]
    inner: loom::sync::Mutex<Arc<T>>,
}

impl<T> SnapshotCell<T> {
    pub(crate) fn new(value: Arc<T>) -> Self {
        Self {
            #[cfg(not(loom))]
            inner: arc_swap::ArcSwap::new(value),
            #[cfg(loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    /// Returns the current snapshot (a reference-counted clone).
    pub(crate) fn load_full(&self) -> Arc<T> {
        #[cfg(not(loom))]
        {
            self.inner.load_full()
        }
        #[cfg(loom)]
        {
            Arc::clone(&self.inner.lock().unwrap())
        }
    }

    /// Calls `f` with the current snapshot without touching its reference
    /// count where the implementation allows it (arc-swap's debt list).
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        #[cfg(not(loom))]
        {
            f(&self.inner.load())
        }
        #[cfg(loom)]
        {
            let current = Arc::clone(&self.inner.lock().unwrap());
            f(&current)
        }
    }

    /// Replaces the current snapshot.
    pub(crate) fn store(&self, value: Arc<T>) {
        #[cfg(not(loom))]
        {
            self.inner.store(value)
        }
        #[cfg(loom)]
        {
            *self.inner.lock().unwrap() = value;
        }
    }
}

/// The lock that serialises updates (never taken on a pick path): the
/// standard mutex, a poisoned one taken as it is (an update that panicked
/// left the previous snapshot published, which stays valid).
#[cfg(not(loom))]
pub(crate) struct UpdateLock<T>(std::sync::Mutex<T>);

#[cfg(not(loom))]
impl<T> UpdateLock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(std::sync::Mutex::new(value))
    }
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The lock that serialises updates (never taken on a pick path).
#[cfg(loom)]
pub(crate) struct UpdateLock<T>(loom::sync::Mutex<T>);

#[cfg(loom)]
impl<T> UpdateLock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(loom::sync::Mutex::new(value))
    }
    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap()
    }
}
