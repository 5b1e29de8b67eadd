//! Groups the status changes that become due together into one store call.

use crate::callbacks::Callbacks;
use crate::store::{Applied, CallbackRow, Store, Transition};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// What a change's caller hears: the result, or the error with the change handed back (so a
/// retry needs no copy of it made up front).
pub(super) type Outcome = Result<Applied, (anyhow::Error, Transition)>;

/// A change waiting for its batch, with where its result goes.
type Pending = (Transition, oneshot::Sender<Outcome>);

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
                // The store takes the batch; this copy queues the callbacks after the commit, or
                // goes back to the callers when the store call fails.
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
                        for (t, reply) in transitions.into_iter().zip(replies) {
                            let _ = reply.send(Err((anyhow::anyhow!("{e:#}"), t)));
                        }
                    }
                }
            }
        });
        Batcher { tx }
    }

    /// Applies one change as part of the next batch; on failure the change comes back with the
    /// error when it can (`None` when the batcher itself is gone).
    pub(super) async fn apply(&self, t: Transition) -> Result<Applied, (anyhow::Error, Option<Transition>)> {
        let (tx, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError((t, _))) = self.tx.send((t, tx)) {
            return Err((anyhow::anyhow!("transition batcher stopped"), Some(t)));
        }
        match rx.await {
            Ok(Ok(applied)) => Ok(applied),
            Ok(Err((e, t))) => Err((e, Some(t))),
            Err(_) => Err((anyhow::anyhow!("transition batcher dropped a change"), None)),
        }
    }
}
