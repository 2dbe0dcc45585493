//! Uploads that never make it into a message (the person closed the tab before sending) are
//! deleted once they are older than the configured time to live, rows and files both. Files
//! that no row names (a crash between writing the file and recording it) go the same way.

use super::Messaging;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Rows removed per statement, so one sweep never holds the writer's turn for long.
const BATCH: u32 = 500;
/// A file no row names is a stray only once it is at least this old.
const STRAY_MIN_AGE: Duration = Duration::from_secs(60);

impl Messaging {
    /// Sweeps every quarter of `ttl` (between 1 s and 15 min) until shutdown.
    pub fn spawn_upload_sweeper(
        self: &Arc<Self>,
        ttl: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let weak = Arc::downgrade(self);
        let every = (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(900));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Files written before this were checked by an earlier sweep.
            let mut checked_before = None;
            while let Some(messaging) = super::next_sweep(&mut tick, &mut shutdown, &weak).await {
                let removed = messaging.sweep_uploads(ttl, &mut checked_before).await;
                if removed > 0 {
                    tracing::info!(files = removed, "removed uploads never sent");
                }
            }
        });
    }

    /// One sweep; returns how many files it removed. Stray files are looked for among those
    /// written since `checked_before` (all, the first time), which it then moves on.
    async fn sweep_uploads(&self, ttl: Duration, checked_before: &mut Option<SystemTime>) -> usize {
        let cutoff_ms =
            super::now_ms().saturating_sub(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let mut removed = 0;
        loop {
            let keys = match self.store.remove_unsent_uploads(cutoff_ms, BATCH).await {
                Ok(keys) => keys,
                Err(err) => {
                    tracing::warn!(%err, "could not sweep unsent uploads");
                    return removed;
                }
            };
            for key in &keys {
                if matches!(self.files.remove(key).await, Ok(true)) {
                    removed += 1;
                }
            }
            if keys.len() < BATCH as usize {
                break;
            }
        }
        // Stray files: checked only when older than the time to live and a minute, so an upload
        // whose row is being written right now is never taken for one.
        let stray_cutoff = SystemTime::now()
            .checked_sub(ttl.max(STRAY_MIN_AGE))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let candidates = match self
            .files
            .files_written_between(*checked_before, stray_cutoff)
            .await
        {
            Ok(keys) => keys,
            Err(err) => {
                tracing::warn!(%err, "could not list attachment files");
                return removed;
            }
        };
        let known = match self.store.known_storage_keys(&candidates).await {
            Ok(known) => known,
            Err(err) => {
                tracing::warn!(%err, "could not check attachment files");
                return removed;
            }
        };
        *checked_before = Some(stray_cutoff);
        for key in candidates.iter().filter(|key| !known.contains(*key)) {
            if matches!(self.files.remove(key).await, Ok(true)) {
                removed += 1;
            }
        }
        removed
    }
}
