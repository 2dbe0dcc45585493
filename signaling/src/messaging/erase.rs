//! Erasing a person on request (a patient asks for their data to be deleted): the store turns
//! their messages into anonymous tombstones and forgets everything else it holds about them
//! (see `chat::Store::delete_user` for what stays and why); this side removes their files from
//! disk, forgets cached audiences they were part of, and stops any ringing their erasure ended.
//! Clients that already show their messages see the tombstones on their next `chat_sync`:
//! every touched message got a new version.

use super::Messaging;

impl Messaging {
    pub async fn erase_person(&self, identity: &str) -> Result<chat::Erasure, chat::StoreError> {
        // Read before the memberships go: these audiences include the person.
        let conversations = self.store.conversations_of(identity).await?;
        let erasure = self.store.delete_user(identity).await?;
        for summary in &conversations {
            self.forget_audience(&summary.conversation.id);
        }
        for key in &erasure.storage_keys {
            // The row is gone either way; a file left behind is found by the upload sweep.
            if let Err(err) = self.files.remove(key).await {
                tracing::warn!(%err, "could not remove an erased person's attachment");
            }
        }
        self.stop_ringing(&erasure.invitations_ended).await;
        Ok(erasure)
    }
}
