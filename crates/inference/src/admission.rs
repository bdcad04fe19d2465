//! Bounded admission, the same for every engine: at most `max_in_flight` generations run or
//! wait at once; one more is refused at once with `busy` rather than queued without end. A
//! generation holds its [`Permit`] until its last event is ready, so the next one can start
//! as soon as the caller hears of the end.

use std::sync::Arc;

use frontdesk_core::{Error, Result};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use frontdesk_core::generate::DEFAULT_MAX_IN_FLIGHT;

/// A generation's place among those admitted; dropping it frees the place.
pub(crate) type Permit = OwnedSemaphorePermit;

/// The places of one engine.
#[derive(Debug)]
pub(crate) struct Admission {
    places: Arc<Semaphore>,
    capacity: usize,
}

impl Admission {
    /// Room for `capacity` generations at once (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { places: Arc::new(Semaphore::new(capacity)), capacity }
    }

    /// A place for one more generation, or `busy` when every place is taken.
    pub(crate) fn admit(&self) -> Result<Permit> {
        Arc::clone(&self.places)
            .try_acquire_owned()
            .map_err(|_| Error::Busy("every generation slot is taken".into()))
    }

    /// Generations admitted and not finished.
    pub(crate) fn in_flight(&self) -> usize {
        self.capacity.saturating_sub(self.places.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_generation_more_than_the_capacity_is_refused_until_a_place_frees() {
        let admission = Admission::new(2);
        let first = admission.admit().expect("room");
        let _second = admission.admit().expect("room");
        assert_eq!(admission.in_flight(), 2);
        assert_eq!(admission.admit().expect_err("full").code(), frontdesk_core::ErrorCode::Busy);
        drop(first);
        assert_eq!(admission.in_flight(), 1);
        assert!(admission.admit().is_ok());
    }
}
