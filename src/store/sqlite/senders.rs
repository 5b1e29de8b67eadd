//! SQLite implementation of [`SenderStore`] (skeleton).

use super::SqliteStore;
use crate::store::senders::{PhoneNumber, PoolSender, SenderStore, Service};
use crate::store::StoreResult;
use async_trait::async_trait;

#[async_trait]
impl SenderStore for SqliteStore {
    async fn service(&self, _account_sid: &str, _sid: &str) -> StoreResult<Option<Service>> {
        Ok(None)
    }
    async fn pool(&self, _service_sid: &str) -> StoreResult<Vec<PoolSender>> {
        Ok(Vec::new())
    }
    async fn phone_number_by_address(&self, _account_sid: &str, _address: &str) -> StoreResult<Option<PhoneNumber>> {
        Ok(None)
    }
    async fn service_of_sender(&self, _account_sid: &str, _address: &str) -> StoreResult<Option<Service>> {
        Ok(None)
    }
    async fn owns_sender(&self, _account_sid: &str, _address: &str) -> StoreResult<bool> {
        Ok(false)
    }
}
