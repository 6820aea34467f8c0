//! A policy that can be replaced while requests are being served.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use cors_engine::Engine;

use crate::answers::Prepared;

/// An [`Engine`] that can be swapped atomically while layers built from it keep serving.
///
/// Clones share the same slot: [`SharedEngine::replace`] on one clone is seen by every
/// [`CorsLayer`](crate::CorsLayer) built with [`CorsLayer::from_shared`](crate::CorsLayer::from_shared).
/// Each request is decided entirely by one engine, the one current when the request arrived,
/// so a response never mixes two policies.
///
/// ```
/// // Everything a reloading service needs comes from cors-hyper alone.
/// use cors_hyper::{CorsLayer, Engine, OriginGroup, Policy, SharedEngine};
///
/// let first = Policy::builder().group(OriginGroup::new(["https://app.example.com"])).build()?;
/// let shared = SharedEngine::new(Engine::new(first));
/// let layer = CorsLayer::from_shared(shared.clone());
///
/// // Later, say on SIGHUP: every request from now on is decided by the new policy.
/// let previous = shared.replace(Engine::new(Policy::public()));
/// assert!(layer.engine().policy().is_public_resource());
/// # drop(previous);
/// # Ok::<(), cors_hyper::BuildError>(())
/// ```
#[derive(Clone)]
pub struct SharedEngine {
    /// The engine, with the answers layers keep for it (replaced with it).
    slot: Arc<RwLock<Arc<Prepared>>>,
}

impl SharedEngine {
    /// A slot holding `engine`.
    #[must_use]
    pub fn new(engine: impl Into<Arc<Engine>>) -> Self {
        Self { slot: Arc::new(RwLock::new(Arc::new(Prepared::new(engine.into())))) }
    }

    /// The engine current now (a reference-count increment, no copy of the policy).
    #[must_use]
    pub fn load(&self) -> Arc<Engine> {
        Arc::clone(self.slot.read().unwrap_or_else(PoisonError::into_inner).engine())
    }

    /// Swaps in `engine` for every request that arrives from now on, and returns the previous one.
    ///
    /// Requests already decided keep the headers their engine decided.
    pub fn replace(&self, engine: impl Into<Arc<Engine>>) -> Arc<Engine> {
        // Prepared before the lock is taken, so that requests wait for nothing but the swap.
        let prepared = Arc::new(Prepared::new(engine.into()));
        let mut slot = self.slot.write().unwrap_or_else(PoisonError::into_inner);
        let previous = std::mem::replace(&mut *slot, prepared);
        drop(slot);
        Arc::clone(previous.engine())
    }

    /// Runs `f` with the current engine, and the answers kept for it, while holding the read lock
    /// (no reference count touched).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Prepared) -> R) -> R {
        f(&self.slot.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl fmt::Debug for SharedEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedEngine").finish_non_exhaustive()
    }
}
