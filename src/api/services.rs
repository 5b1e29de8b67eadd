//! Messaging v1 Services and their sender pools (skeleton: being written).

use super::SharedState;
use axum::Router;

/// The routes of this resource.
pub fn routes() -> Router<SharedState> {
    Router::new()
}
