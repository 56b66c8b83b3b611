//! The kiosk store as the controller's `CheckInRepository`.

use chrono::{DateTime, Utc};

use super::controller::{CheckInRepository, ControllerError};
use crate::domain::forms_session::FormSet;
use crate::domain::{Appointment, AppointmentId, DomainEvent, KioskId, LookupQuery};
use crate::store::{Store, StoreError};

/// The store, and the kiosk id every recorded step carries.
pub struct StoreRepository {
    /// The encrypted kiosk store.
    pub store: Store,
    /// This kiosk's id, from enrollment.
    pub kiosk_id: KioskId,
}

fn storage(err: StoreError) -> ControllerError {
    match err {
        StoreError::Query(e) => ControllerError::Lookup(e),
        other => ControllerError::Storage(other.to_string()),
    }
}

impl CheckInRepository for StoreRepository {
    fn appointment(&self, id: &AppointmentId) -> Result<Option<Appointment>, ControllerError> {
        self.store.appointment_by_id(id).map_err(storage)
    }

    fn lookup(
        &self,
        query: &LookupQuery,
        prefix_len: usize,
    ) -> Result<Vec<Appointment>, ControllerError> {
        self.store.lookup(query, prefix_len).map_err(storage)
    }

    fn record(
        &mut self,
        events: &[DomainEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<uuid::Uuid>, ControllerError> {
        self.store
            .record_step(&self.kiosk_id, events, now)
            .map_err(storage)
    }

    fn forms_for(&self, appointment: &AppointmentId) -> Result<FormSet, ControllerError> {
        self.store.forms_for(appointment).map_err(storage)
    }
}
