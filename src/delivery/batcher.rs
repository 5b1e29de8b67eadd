//! Groups the status changes that become due together into one store call.

use crate::callbacks::Callbacks;
use crate::store::{Applied, CallbackRow, Store, Transition};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// A change waiting for its batch, with where its result goes.
type Pending = (Transition, oneshot::Sender<anyhow::Result<Applied>>);

/// Collects the status changes that become due together into one store call: under load the
/// writer then commits hundreds of them as one job instead of one job each.
pub(super) struct Batcher {
    tx: mpsc::UnboundedSender<Pending>,
}

impl Batcher {
    /// Most transitions per store call.
    const MAX: usize = 512;

    /// Applies changes in batches; the callbacks of applied changes are queued in commit order
    /// before anyone hears back, so one message's callbacks can never overtake each other.
    pub(super) fn start(store: Arc<dyn Store>, callbacks: Callbacks) -> Batcher {
        let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
        tokio::spawn(async move {
            let mut batch: Vec<Pending> = Vec::with_capacity(Self::MAX);
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < Self::MAX {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                let (transitions, replies): (Vec<Transition>, Vec<_>) = batch.drain(..).unzip();
                match store.apply_transitions(transitions.clone()).await {
                    Ok(applied) => {
                        for ((t, reply), a) in transitions.into_iter().zip(replies).zip(applied) {
                            if a.applied {
                                crate::metrics::status_changed(t.to);
                            }
                            if let (Some(id), Some(request)) = (a.callback_id, t.callback) {
                                callbacks.enqueue(CallbackRow {
                                    id,
                                    key: t.key,
                                    request,
                                    attempts: 0,
                                    created_at: t.at_ms,
                                });
                            }
                            let _ = reply.send(Ok(a));
                        }
                    }
                    Err(e) => {
                        for reply in replies {
                            let _ = reply.send(Err(anyhow::anyhow!("{e:#}")));
                        }
                    }
                }
            }
        });
        Batcher { tx }
    }

    /// Applies one change as part of the next batch.
    pub(super) async fn apply(&self, t: Transition) -> anyhow::Result<Applied> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((t, tx)).map_err(|_| anyhow::anyhow!("transition batcher stopped"))?;
        rx.await.map_err(|_| anyhow::anyhow!("transition batcher dropped a change"))?
    }
}
