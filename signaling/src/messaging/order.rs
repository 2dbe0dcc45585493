//! Per-conversation publish order. A conversation's writes (sends, edits, deletes, reactions,
//! system messages) take turns from the store's commit to the fan-out, so every device receives
//! a conversation's events in the order the store committed them (messages in `seq` order,
//! changes in `version` order), whichever request task finishes first. Conversations do not
//! wait for each other.
//!
//! The store already serializes a conversation's commits (PostgreSQL holds the conversation's
//! row lock from the seq bump to the commit; SQLite has one writer), so taking turns here costs
//! no throughput; it only closes the window between a commit and its fan-out where a later
//! message could overtake an earlier one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

type Lock = Arc<tokio::sync::Mutex<()>>;

/// Turns per conversation; an entry lives only while someone holds or awaits its turn.
#[derive(Default)]
pub(super) struct ConversationOrder {
    locks: Mutex<HashMap<String, Lock>>,
}

/// The right to commit and publish in one conversation until dropped.
pub(super) struct Turn<'a> {
    order: &'a ConversationOrder,
    conversation: String,
    lock: Lock,
    guard: Option<OwnedMutexGuard<()>>,
}

impl ConversationOrder {
    /// Waits for `conversation`'s turn (first come, first served: tokio's mutex is fair).
    pub(super) async fn turn(&self, conversation: &str) -> Turn<'_> {
        let lock = match self.locks.lock() {
            Ok(mut locks) => locks.entry(conversation.to_owned()).or_default().clone(),
            // A poisoned map only loses ordering, never a message.
            Err(_) => Lock::default(),
        };
        let guard = lock.clone().lock_owned().await;
        Turn {
            order: self,
            conversation: conversation.to_owned(),
            lock,
            guard: Some(guard),
        }
    }

    /// Conversations with a turn held or awaited (for tests: entries do not accumulate).
    #[cfg(test)]
    fn active(&self) -> usize {
        self.locks.lock().map(|l| l.len()).unwrap_or(0)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let Ok(mut locks) = self.order.locks.lock() else {
            return;
        };
        // Clones are only made under the map's lock: two references (the map's and ours) mean
        // nobody else holds or awaits this turn.
        if Arc::strong_count(&self.lock) == 2 {
            locks.remove(&self.conversation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_conversations_turns_run_one_at_a_time_in_arrival_order() {
        let order = Arc::new(ConversationOrder::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        let first = order.turn("c1").await;
        let mut waiting = Vec::new();
        for n in 0..5u64 {
            let (order, log) = (order.clone(), log.clone());
            waiting.push(tokio::spawn(async move {
                let _turn = order.turn("c1").await;
                log.lock().unwrap().push(n);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }));
            // Let it queue before the next one arrives.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Another conversation does not wait for c1.
        drop(
            tokio::time::timeout(Duration::from_secs(1), order.turn("c2"))
                .await
                .unwrap(),
        );
        assert!(log.lock().unwrap().is_empty());
        drop(first);
        for task in waiting {
            task.await.unwrap();
        }
        assert_eq!(*log.lock().unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(order.active(), 0, "no entry outlives its turns");
    }
}
