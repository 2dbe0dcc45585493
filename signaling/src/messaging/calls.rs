//! Calls from conversations: an invitation rings every device of every invitee until someone
//! accepts, everyone declines, the caller cancels or it times out; a busy invitee (in another
//! call) is reported as such. Invitations live in the store, so a restart ends what rang
//! through it as missed instead of leaving phones ringing. Every outcome is also a system
//! message in the conversation, so history and sync carry calls like any message.

use super::convert::{invitation_info, message_info, store_error};
use super::{now_ms, ChatDevice, ChatResult, Messaging};
use crate::auth::{Grants, TokenAuthority};
use crate::protocol::chat::{CallMedia, InvitationInfo};
use crate::protocol::{ErrorCode, ServerMessage};
use crate::webhooks::WebhookEvent;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// How long a call room token is valid: enough to join; the session outlives it.
const ROOM_TOKEN_TTL: Duration = Duration::from_secs(3600);

fn media(media: CallMedia) -> chat::CallMedia {
    match media {
        CallMedia::Audio => chat::CallMedia::Audio,
        CallMedia::Video => chat::CallMedia::Video,
    }
}

fn minutes(duration_ms: i64) -> String {
    let minutes = (duration_ms + 30_000) / 60_000;
    if minutes < 1 {
        "Call, under a minute".to_owned()
    } else {
        format!("Call, {minutes} min")
    }
}

impl Messaging {
    /// Someone's session entered (`+1`) or left (`-1`) a room: "in a call" decides busy.
    /// Other nodes hear when someone's first session here enters a room or their last leaves.
    pub fn track_in_call(&self, identity: &str, entered: bool) {
        let flipped = {
            let Ok(mut in_call) = self.in_call.lock() else {
                return;
            };
            let count = in_call.entry(identity.to_owned()).or_insert(0);
            if entered {
                *count += 1;
                *count == 1
            } else {
                *count = count.saturating_sub(1);
                let last = *count == 0;
                if last {
                    in_call.remove(identity);
                }
                last
            }
        };
        if flipped {
            self.fanout.in_call_changed(identity, entered);
        }
    }

    /// In a call here, or on another node of the cluster.
    fn is_in_call(&self, identity: &str) -> bool {
        let here = self
            .in_call
            .lock()
            .is_ok_and(|in_call| in_call.contains_key(identity));
        here || self
            .remote_presence
            .as_ref()
            .is_some_and(|r| r.lock().is_ok_and(|r| r.in_call(identity)))
    }

    /// Everyone in a call room on this node (for a node that just joined the cluster).
    pub fn local_in_call(&self) -> Vec<String> {
        self.in_call
            .lock()
            .map(|in_call| in_call.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn room_token(
        &self,
        tokens: &TokenAuthority,
        device: &ChatDevice,
        room: &str,
    ) -> Result<String, (ErrorCode, String)> {
        // A participant's grants, for this room only.
        let grants = Grants::participant();
        tokens
            .mint(&device.identity, &device.name, room, grants, ROOM_TOKEN_TTL)
            .map_err(|_| (ErrorCode::Internal, "could not mint a room token".into()))
    }

    /// Everyone an invitation concerns: the caller and every invitee.
    fn involved(invitation: &chat::Invitation) -> Vec<String> {
        std::iter::once(invitation.caller.clone())
            .chain(invitation.invitees.iter().map(|i| i.identity.clone()))
            .filter(|identity| !identity.is_empty())
            .collect()
    }

    /// The invitation as clients see it, with everyone's display name.
    async fn invitation_view(&self, invitation: &chat::Invitation) -> InvitationInfo {
        let mut info = invitation_info(invitation);
        if let Ok(users) = self.store.users(&Self::involved(invitation)).await {
            info.names = users
                .into_iter()
                .map(|u| (u.identity, u.display_name))
                .collect();
        }
        info
    }

    async fn announce(&self, invitation: &chat::Invitation) {
        let event = ServerMessage::CallUpdate {
            invitation: self.invitation_view(invitation).await,
        };
        self.fanout.send(&Self::involved(invitation), &event, None);
    }

    /// A system message about a call, delivered like any new message.
    async fn record(
        &self,
        conversation: &str,
        about: &str,
        key: &str,
        text: &str,
        body: serde_json::Value,
    ) {
        let _turn = self.order.turn(conversation).await;
        let posted = self
            .store
            .post_system_message(conversation, about, key, text, &body.to_string())
            .await;
        match posted {
            Ok((message, true)) => {
                let message = message_info(message);
                let to = self.audience(conversation).await;
                self.fanout
                    .send(&to, &ServerMessage::ChatMessage { message }, None);
            }
            Ok((_, false)) => {}
            Err(err) => tracing::warn!(%err, "could not record a call in its conversation"),
        }
    }

    /// What ended an invitation without a call, as a system message.
    async fn record_ending(&self, invitation: &chat::Invitation) {
        let (event, text) = match invitation.state {
            chat::InvitationState::Missed => ("missed", "Missed call"),
            chat::InvitationState::Declined => ("declined", "Call declined"),
            chat::InvitationState::Cancelled => ("cancelled", "Call cancelled"),
            _ => return,
        };
        let body = json!({
            "type": "call",
            "event": event,
            "invitation": invitation.id,
            "media": invitation.media.as_str(),
            "caller": invitation.caller,
        });
        let key = format!("call-{event}:{}", invitation.id);
        self.record(
            &invitation.conversation,
            &invitation.caller,
            &key,
            text,
            body,
        )
        .await;
        if invitation.state == chat::InvitationState::Missed {
            self.webhooks.send(WebhookEvent::CallMissed {
                conversation: invitation.conversation.clone(),
                invitation: invitation.id.clone(),
                caller: invitation.caller.clone(),
            });
        }
    }

    pub async fn invite(
        self: &Arc<Self>,
        id: String,
        device: &ChatDevice,
        tokens: &TokenAuthority,
        ring_for: Duration,
        (conversation, call_media, invitees): (String, CallMedia, Vec<String>),
    ) -> ChatResult {
        let mut invitation = self
            .store
            .create_invitation(
                &device.identity,
                &conversation,
                media(call_media),
                &invitees,
                ring_for.as_millis() as i64,
            )
            .await
            .map_err(store_error)?;
        let token = self.room_token(tokens, device, &invitation.room)?;
        let busy: Vec<String> = invitation
            .ringing()
            .filter(|identity| self.is_in_call(identity))
            .map(str::to_owned)
            .collect();
        for identity in busy {
            if let Ok(updated) = self
                .store
                .mark_invitee_busy(&identity, &invitation.id)
                .await
            {
                invitation = updated;
            }
        }
        let ringing: Vec<String> = invitation.ringing().map(str::to_owned).collect();
        let event = ServerMessage::CallRinging {
            invitation: self.invitation_view(&invitation).await,
        };
        self.fanout.send(&ringing, &event, None);
        // The caller's other devices show "calling…"; everyone sees who is busy.
        self.announce(&invitation).await;
        if invitation.state == chat::InvitationState::Ringing {
            self.arm_expiry(invitation.expires_at_ms);
        } else {
            self.record_ending(&invitation).await;
        }
        tracing::info!(invitation = %invitation.id, "call invitation ringing");
        Ok(ServerMessage::CallInvitation {
            reply_to: id,
            room: invitation.room.clone(),
            invitation: self.invitation_view(&invitation).await,
            token,
        })
    }

    pub async fn accept(
        &self,
        reply_to: String,
        device: &ChatDevice,
        tokens: &TokenAuthority,
        id: &str,
    ) -> ChatResult {
        let invitation = self
            .store
            .accept_invitation(&device.identity, id)
            .await
            .map_err(store_error)?;
        let token = self.room_token(tokens, device, &invitation.room)?;
        let call = self
            .store
            .start_call(
                &invitation.conversation,
                &invitation.room,
                Some(&invitation.id),
                invitation.media,
                &invitation.caller,
            )
            .await
            .map_err(store_error)?;
        let key = format!("call-started:{}", call.id);
        let body = json!({
            "type": "call",
            "event": "started",
            "call": call.id,
            "invitation": invitation.id,
            "media": invitation.media.as_str(),
            "caller": invitation.caller,
        });
        self.record(
            &invitation.conversation,
            &invitation.caller,
            &key,
            "Call started",
            body,
        )
        .await;
        let elsewhere = ServerMessage::CallAnsweredElsewhere {
            invitation: self.invitation_view(&invitation).await,
        };
        self.fanout.send(
            std::slice::from_ref(&device.identity),
            &elsewhere,
            Some(device.id),
        );
        self.announce(&invitation).await;
        Ok(ServerMessage::CallInvitation {
            reply_to,
            room: invitation.room.clone(),
            invitation: self.invitation_view(&invitation).await,
            token,
        })
    }

    pub async fn decline(&self, reply_to: String, device: &ChatDevice, id: &str) -> ChatResult {
        let invitation = self
            .store
            .decline_invitation(&device.identity, id)
            .await
            .map_err(store_error)?;
        // Recorded before anyone is told, so history already shows it when they look.
        self.record_ending(&invitation).await;
        self.announce(&invitation).await;
        Ok(ServerMessage::Ok { reply_to })
    }

    pub async fn cancel(&self, reply_to: String, device: &ChatDevice, id: &str) -> ChatResult {
        let invitation = self
            .store
            .cancel_invitation(&device.identity, id)
            .await
            .map_err(store_error)?;
        // Recorded before anyone is told, so history already shows it when they look.
        self.record_ending(&invitation).await;
        self.announce(&invitation).await;
        Ok(ServerMessage::Ok { reply_to })
    }

    /// Invitations that ended because their caller, or their last invitee still ringing, was
    /// erased: every device involved stops ringing. Nothing new is written about an erased
    /// person, so no system message.
    pub(super) async fn stop_ringing(&self, invitations: &[String]) {
        for id in invitations {
            match self.store.invitation(id).await {
                Ok(invitation) => self.announce(&invitation).await,
                Err(err) => tracing::warn!(%err, "could not load an invitation ended by erasure"),
            }
        }
    }

    /// A device connected while a call rings for its person (or while they are calling): it
    /// rings (or shows "calling…") too.
    pub(super) async fn ring_new_device(&self, identity: &str, device: crate::fanout::DeviceId) {
        let Ok(ringing) = self.store.ringing_invitations_for(identity).await else {
            return;
        };
        for invitation in ringing {
            let info = self.invitation_view(&invitation).await;
            let event = if invitation.caller == identity {
                ServerMessage::CallUpdate { invitation: info }
            } else {
                ServerMessage::CallRinging { invitation: info }
            };
            self.fanout.send_to_device(identity, device, &event);
        }
    }

    /// On one of several nodes: sweeps for invitations past their deadline every `every`, so
    /// a ring timeout fires even when the node that armed it is gone, and once (the store marks
    /// each one missed in a single statement, whichever node gets there first).
    pub fn spawn_invitation_sweeper(
        self: &Arc<Self>,
        every: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            while let Some(messaging) = super::next_sweep(&mut tick, &mut shutdown, &weak).await {
                messaging.expire_due().await;
            }
        });
    }

    /// Sweeps when this deadline passes: invitations still ringing then are missed.
    fn arm_expiry(self: &Arc<Self>, expires_at_ms: i64) {
        let messaging = Arc::downgrade(self);
        let wait = Duration::from_millis(expires_at_ms.saturating_sub(now_ms()).max(0) as u64);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Some(messaging) = messaging.upgrade() {
                messaging.expire_due().await;
            }
        });
    }

    async fn expire_due(&self) {
        match self.store.expire_invitations(now_ms()).await {
            Ok(missed) => {
                for invitation in missed {
                    tracing::info!(invitation = %invitation.id, "call invitation missed");
                    self.record_ending(&invitation).await;
                    self.announce(&invitation).await;
                }
            }
            Err(err) => tracing::warn!(%err, "could not expire call invitations"),
        }
    }

    /// At start-up: what rang through a restart and expired meanwhile is missed now; what still
    /// rings gets its timer back.
    pub async fn recover_invitations(self: &Arc<Self>) {
        self.expire_due().await;
        match self.store.ringing_invitations().await {
            Ok(ringing) => {
                for invitation in ringing {
                    self.arm_expiry(invitation.expires_at_ms);
                }
            }
            Err(err) => tracing::warn!(%err, "could not re-arm ringing invitations"),
        }
    }

    /// Someone joined a call room: a participant of its call.
    pub async fn call_room_joined(&self, room: &str, identity: &str) {
        if let Ok(Some(_)) = self.store.open_call(room).await {
            if let Err(err) = self.store.call_joined(room, identity).await {
                tracing::warn!(%err, "could not record a call participant");
            }
        }
    }

    /// A room emptied: its call (if it had one) ends, and its conversation says how long.
    pub async fn call_room_empty(&self, room: &str) {
        let Ok(Some(_)) = self.store.open_call(room).await else {
            return;
        };
        let call = match self.store.end_call(room, now_ms()).await {
            Ok(call) => call,
            Err(err) => {
                tracing::warn!(%err, "could not end a call");
                return;
            }
        };
        let duration = call.duration_ms.unwrap_or(0);
        let body = json!({
            "type": "call",
            "event": "ended",
            "call": call.id,
            "media": call.media.as_str(),
            "duration_ms": duration,
            "participants": call.participants,
        });
        let key = format!("call-ended:{}", call.id);
        self.record(
            &call.conversation,
            &call.started_by,
            &key,
            &minutes(duration),
            body,
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::minutes;

    #[test]
    fn durations_read_as_people_say_them() {
        for (ms, text) in [
            (5_000, "Call, under a minute"),
            (45_000, "Call, 1 min"),
            (12 * 60_000 + 10_000, "Call, 12 min"),
        ] {
            assert_eq!(minutes(ms), text);
        }
    }
}
