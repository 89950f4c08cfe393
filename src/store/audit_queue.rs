//! Group commit of audit events: the events of concurrent requests are written by one
//! multi-row INSERT (one statement, so one commit), and each request is answered only after
//! its own event is stored. Under a burst the database sees one write per wave of requests
//! instead of one per request; alone, a request waits for its own insert, as before.
//!
//! The writer is a task spawned by the first request that finds no write in progress; it
//! drains the queue and ends when the queue is empty, so a request that goes away (a client
//! that hangs up) never strands the others' events. When a grouped insert fails, each waiting
//! request retries its own event alone, so one bad event cannot lose another's, and each
//! request gets the error of its own write.

use std::sync::Mutex;

use tokio::sync::oneshot;

use super::{on_pool, NewAuditEvent, Store, StoreError};

/// At most this many events per statement (10 bound values each, well under both engines'
/// limits on bound parameters).
pub(super) const MAX_BATCH: usize = 256;

pub(super) struct Pending {
    pub event: NewAuditEvent,
    pub at: i64,
    /// `Ok` once stored; the event back when the grouped insert failed.
    pub done: oneshot::Sender<Result<(), NewAuditEvent>>,
}

#[derive(Default)]
struct QueueState {
    pending: Vec<Pending>,
    writing: bool,
}

/// The events waiting for the next grouped insert.
#[derive(Default)]
pub(crate) struct AuditQueue(Mutex<QueueState>);

impl std::fmt::Debug for AuditQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditQueue")
    }
}

/// Resets the queue when its writer ends without emptying it.
struct WriterGuard<'a> {
    queue: &'a AuditQueue,
    finished: bool,
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Ok(mut queue) = self.queue.0.lock() {
            queue.writing = false;
            // Dropping the senders tells each waiting request to write its event alone.
            queue.pending.clear();
        }
    }
}

impl Store {
    /// Stores an event, sharing one insert with the events of concurrent requests; returns
    /// once it is committed (or with the error of writing it).
    pub async fn append_audit_grouped(
        &self,
        event: NewAuditEvent,
        at: i64,
    ) -> Result<(), StoreError> {
        let (done, stored) = oneshot::channel();
        // Kept to write it alone should the writer go away with it.
        let fallback = event.clone();
        let pending = Pending { event, at, done };
        // SQLite: the writer thread of `embedded.rs` (a closed store's queue gives it back).
        let pending = match &self.embedded {
            Some(embedded) => embedded.queue(pending),
            None => Some(pending),
        };
        let start_writer =
            match pending {
                None => false,
                Some(pending) => {
                    let mut queue =
                        self.cache.audit.0.lock().map_err(|_| {
                            StoreError::Invalid("the audit queue is poisoned".into())
                        })?;
                    queue.pending.push(pending);
                    !std::mem::replace(&mut queue.writing, true)
                }
            };
        if start_writer {
            let store = self.clone();
            tokio::spawn(async move { store.write_queued_audit().await });
        }
        match stored.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(event)) => self.append_audit(&event, at).await.map(|_| ()),
            // The writer went away with the event (its worker stopped, or it panicked).
            Err(_) => self.append_audit(&fallback, at).await.map(|_| ()),
        }
    }

    /// Writes the queue in batches until it is empty.
    async fn write_queued_audit(&self) {
        // Should this task end early (dropped with its worker's runtime, or a panic), the
        // guard lets the next request start a writer and sends the waiting events' requests
        // to write them alone; they are never left waiting.
        let mut guard = WriterGuard {
            queue: &self.cache.audit,
            finished: false,
        };
        loop {
            let batch: Vec<Pending> = {
                let Ok(mut queue) = self.cache.audit.0.lock() else {
                    return;
                };
                if queue.pending.is_empty() {
                    queue.writing = false;
                    guard.finished = true;
                    return;
                }
                let n = queue.pending.len().min(MAX_BATCH);
                queue.pending.drain(..n).collect()
            };
            let written = self.insert_audit_batch(&batch).await;
            if let Err(e) = &written {
                tracing::warn!(error = %e, events = batch.len(),
                    "grouped audit insert failed; each event is retried alone");
            }
            for p in batch {
                let answer = match &written {
                    Ok(()) => Ok(()),
                    Err(_) => Err(p.event),
                };
                let _ = p.done.send(answer);
            }
        }
    }

    async fn insert_audit_batch(&self, batch: &[Pending]) -> Result<(), StoreError> {
        let details: Vec<String> = batch.iter().map(|p| p.event.details.to_string()).collect();
        on_pool!(self, |pool| {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO audit_events (at, event_type, actor, subject, role_arn, account_id, \
                 outcome, source_addr, user_agent, details) ",
            );
            insert.push_values(batch.iter().zip(&details), |mut row, (p, details)| {
                let e = &p.event;
                row.push_bind(p.at)
                    .push_bind(&e.event_type)
                    .push_bind(&e.actor)
                    .push_bind(&e.subject)
                    .push_bind(&e.role_arn)
                    .push_bind(&e.account_id)
                    .push_bind(&e.outcome)
                    .push_bind(&e.source_addr)
                    .push_bind(&e.user_agent)
                    .push_bind(details);
            });
            insert.build().execute(pool).await?;
            Ok(())
        })
    }
}
