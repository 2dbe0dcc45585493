//! Each chat request: check limits, ask the store, tell the audience, reply. Replies to writes
//! go out only after the store committed, so an acknowledged message survives a crash.

use super::convert::{batch_info, conversation_info, message_info, store_error, summary_info};
use super::{ChatDevice, ChatResult, Messaging};
use crate::protocol::chat::{
    MemberChange, MemberInfo, ModerationAction, NewConversationKind, PresenceInfo, PresenceStatus,
};
use crate::protocol::{ClientMessage, ErrorCode, ServerMessage};
use crate::webhooks::WebhookEvent;
use std::time::Instant;

fn rate_limited(what: &str) -> (ErrorCode, String) {
    (
        ErrorCode::RateLimited,
        format!("too many {what}; slow down"),
    )
}

impl Messaging {
    /// Answers one chat request of `device` (other message types are not for this).
    pub async fn handle(&self, device: &ChatDevice, message: ClientMessage) -> ChatResult {
        let me = device.identity.as_str();
        match message {
            ClientMessage::ChatConversations { id } => {
                let list = self.store.conversations_of(me).await.map_err(store_error)?;
                let mut conversations = Vec::with_capacity(list.len());
                for summary in list {
                    let mut info = summary_info(summary);
                    info.members = self.members_of(&info.id).await;
                    conversations.push(info);
                }
                Ok(ServerMessage::ChatConversations {
                    reply_to: id,
                    conversations,
                })
            }
            ClientMessage::ChatCreate {
                id,
                kind,
                with,
                title,
            } => {
                let conversation = match kind {
                    NewConversationKind::Direct => {
                        let [other] = with.as_slice() else {
                            return Err((
                                ErrorCode::InvalidMessage,
                                "a direct conversation has exactly one other person".into(),
                            ));
                        };
                        self.store.create_direct(me, other).await
                    }
                    NewConversationKind::Group => {
                        super::check_group_size(with.len() + 1).map_err(store_error)?;
                        let title = title.unwrap_or_default();
                        self.store.create_group(me, &title, &with).await
                    }
                }
                .map_err(store_error)?;
                for identity in &with {
                    self.tell_members(&conversation.id, identity, MemberChange::Added)
                        .await;
                }
                Ok(ServerMessage::ChatConversation {
                    reply_to: id,
                    conversation: conversation_info(conversation),
                })
            }
            ClientMessage::ChatSend {
                id,
                conversation,
                client_msg_id,
                text,
                attachments,
                reply_to,
            } => {
                if device.sends.check().is_err()
                    || self.sends_per_user.check_key(&device.identity).is_err()
                {
                    return Err(rate_limited("messages"));
                }
                // Held until the fan-out: a later message of this conversation cannot
                // overtake this one on its way to devices.
                let _turn = self.order.turn(&conversation).await;
                let (message, created) = self
                    .store
                    .send(chat::SendMessage {
                        conversation,
                        sender: me.to_owned(),
                        client_msg_id,
                        text,
                        attachments,
                        reply_to,
                    })
                    .await
                    .map_err(store_error)?;
                let message = message_info(message);
                if created {
                    self.webhooks.send(WebhookEvent::MessageCreated {
                        conversation: message.conversation.clone(),
                        message: message.id.clone(),
                        seq: message.seq,
                        sender: message.sender.clone(),
                    });
                    let to = self.audience(&message.conversation).await;
                    let event = ServerMessage::ChatMessage {
                        message: message.clone(),
                    };
                    self.fanout.send(&to, &event, Some(device.id));
                }
                Ok(ServerMessage::ChatAck {
                    reply_to: id,
                    message,
                    duplicate: !created,
                })
            }
            ClientMessage::ChatEdit { id, message, text } => {
                let conversation = self.conversation_of(&message).await?;
                let _turn = self.turn(conversation.as_deref()).await;
                let edited = self.store.edit(me, &message, &text).await;
                self.updated(device, id, edited.map_err(store_error)?).await
            }
            ClientMessage::ChatDelete { id, message } => {
                let conversation = self.conversation_of(&message).await?;
                let _turn = self.turn(conversation.as_deref()).await;
                let grant = match conversation {
                    Some(conversation) => self.moderates(device, &conversation).await,
                    None => false,
                };
                let deleted = self
                    .store
                    .delete(me, &message, grant)
                    .await
                    .map_err(store_error)?;
                for key in &deleted.storage_keys {
                    if let Err(err) = self.files.remove(key).await {
                        tracing::warn!(%err, "could not remove a deleted attachment's file");
                    }
                }
                self.updated(device, id, deleted.message).await
            }
            ClientMessage::ChatReact {
                id,
                message,
                emoji,
                on,
            } => {
                if device.sends.check().is_err() {
                    return Err(rate_limited("reactions"));
                }
                let conversation = self.conversation_of(&message).await?;
                let _turn = self.turn(conversation.as_deref()).await;
                let reacted = self.store.react(me, &message, &emoji, on).await;
                self.updated(device, id, reacted.map_err(store_error)?)
                    .await
            }
            ClientMessage::ChatTyping {
                id,
                conversation,
                typing,
            } => {
                if device.typing.check().is_err() {
                    return Err(rate_limited("typing events"));
                }
                // Typing is only for members; this also proves the conversation exists.
                match self.store.membership(&conversation, me).await {
                    Ok(Some(_)) => {}
                    Ok(None) => return Err(store_error(chat::StoreError::NotMember)),
                    Err(err) => return Err(store_error(err)),
                }
                let news = self.typing.lock().is_ok_and(|mut t| {
                    if typing {
                        t.start(&conversation, me, Instant::now())
                    } else {
                        t.stop(&conversation, me)
                    }
                });
                if news {
                    self.broadcast_typing(&conversation, me, typing, Some(device.id))
                        .await;
                }
                Ok(ServerMessage::Ok { reply_to: id })
            }
            ClientMessage::ChatMark {
                id,
                conversation,
                delivered,
                read,
            } => {
                let receipt = self
                    .store
                    .mark(me, &conversation, delivered, read)
                    .await
                    .map_err(store_error)?;
                let to = self.audience(&conversation).await;
                let event = ServerMessage::ChatReceipt {
                    conversation: receipt.conversation,
                    identity: receipt.identity,
                    delivered_up_to: receipt.delivered_up_to,
                    read_up_to: receipt.read_up_to,
                };
                self.fanout.send(&to, &event, Some(device.id));
                Ok(ServerMessage::Ok { reply_to: id })
            }
            ClientMessage::ChatHistory {
                id,
                conversation,
                before,
                after,
                limit,
            } => {
                let query = chat::HistoryQuery {
                    before_seq: before,
                    after_seq: after,
                    limit: limit.unwrap_or(50),
                };
                let messages = self
                    .store
                    .history(me, &conversation, query)
                    .await
                    .map_err(store_error)?;
                Ok(ServerMessage::ChatHistory {
                    reply_to: id,
                    conversation,
                    messages: messages.into_iter().map(message_info).collect(),
                })
            }
            ClientMessage::ChatSync { id, cursors } => {
                let cursors: Vec<chat::SyncCursor> = cursors
                    .into_iter()
                    .map(|c| chat::SyncCursor {
                        conversation: c.conversation,
                        after_seq: c.after_seq,
                        after_version: c.after_version,
                    })
                    .collect();
                let result = self.store.sync(me, &cursors).await.map_err(store_error)?;
                Ok(ServerMessage::ChatSync {
                    reply_to: id,
                    batches: result.batches.into_iter().map(batch_info).collect(),
                    gone: result.gone,
                })
            }
            ClientMessage::ChatModerate {
                id,
                conversation,
                action,
                target,
            } => {
                let grant = self.moderates(device, &conversation).await;
                let store = &self.store;
                let change = match action {
                    ModerationAction::Mute | ModerationAction::Unmute => {
                        let mute = action == ModerationAction::Mute;
                        store
                            .mute(me, &conversation, &target, mute, grant)
                            .await
                            .map(|_| {
                                if mute {
                                    MemberChange::Muted
                                } else {
                                    MemberChange::Unmuted
                                }
                            })
                    }
                    ModerationAction::Kick => store
                        .kick(me, &conversation, &target, grant)
                        .await
                        .map(|_| MemberChange::Kicked),
                    ModerationAction::Ban => store
                        .ban(me, &conversation, &target, grant)
                        .await
                        .map(|_| MemberChange::Banned),
                    ModerationAction::Unban => store
                        .unban(me, &conversation, &target, grant)
                        .await
                        .map(|_| MemberChange::Unbanned),
                }
                .map_err(store_error)?;
                self.tell_members(&conversation, &target, change).await;
                Ok(ServerMessage::Ok { reply_to: id })
            }
            ClientMessage::PresenceSet { id, status } => {
                let away = match status {
                    PresenceStatus::Online => false,
                    PresenceStatus::Away => true,
                    PresenceStatus::Offline => {
                        return Err((
                            ErrorCode::InvalidMessage,
                            "set online or away; offline is disconnecting".into(),
                        ))
                    }
                };
                self.change_presence(me, |p| p.set_away(me, device.id, away, super::now_ms()))
                    .await;
                Ok(ServerMessage::Ok { reply_to: id })
            }
            ClientMessage::PresenceQuery { id, identities } => {
                if identities.len() > 500 {
                    return Err((
                        ErrorCode::InvalidMessage,
                        "at most 500 identities per query".into(),
                    ));
                }
                // Only about people who share a conversation with the caller (and the caller);
                // anyone else reads as offline, never seen, whether they exist or not.
                let contacts: std::collections::HashSet<String> =
                    self.contacts(me).await.into_iter().collect();
                let mut presence = Vec::with_capacity(identities.len());
                let mut offline = Vec::new();
                for identity in identities {
                    if identity != me && !contacts.contains(&identity) {
                        presence.push(PresenceInfo {
                            identity,
                            status: PresenceStatus::Offline,
                            last_seen_at: None,
                        });
                        continue;
                    }
                    match self.presence_of_connected(&identity) {
                        Some(info) => presence.push(info),
                        None => offline.push(identity),
                    }
                }
                let known = self.store.users(&offline).await.map_err(store_error)?;
                for identity in offline {
                    let last_seen_at = known
                        .iter()
                        .find(|u| u.identity == identity)
                        .map(|u| u.last_seen_at_ms);
                    presence.push(PresenceInfo {
                        identity,
                        status: PresenceStatus::Offline,
                        last_seen_at,
                    });
                }
                Ok(ServerMessage::PresenceState {
                    reply_to: id,
                    presence,
                })
            }
            _ => Err((ErrorCode::Internal, "not a chat request".into())),
        }
    }

    /// A conversation's members with names and receipts (for conversation lists).
    async fn members_of(&self, conversation: &str) -> Vec<MemberInfo> {
        let Ok(receipts) = self.store.receipts(conversation).await else {
            return Vec::new();
        };
        let identities: Vec<String> = receipts.iter().map(|r| r.identity.clone()).collect();
        let names = self.store.users(&identities).await.unwrap_or_default();
        receipts
            .into_iter()
            .map(|r| MemberInfo {
                name: names
                    .iter()
                    .find(|u| u.identity == r.identity)
                    .map(|u| u.display_name.clone()),
                identity: r.identity,
                delivered_up_to: r.delivered_up_to,
                read_up_to: r.read_up_to,
            })
            .collect()
    }

    /// The conversation a message belongs to (`None`: no such message; the store's own call
    /// then answers `not_found`).
    async fn conversation_of(&self, message: &str) -> Result<Option<String>, (ErrorCode, String)> {
        self.store
            .conversation_of_message(message)
            .await
            .map_err(store_error)
    }

    /// The turn of `conversation`, if it exists (see [`super::order`]).
    async fn turn(&self, conversation: Option<&str>) -> Option<super::order::Turn<'_>> {
        match conversation {
            Some(conversation) => Some(self.order.turn(conversation).await),
            None => None,
        }
    }

    /// A message changed: everyone in its conversation sees its new state.
    async fn updated(&self, device: &ChatDevice, id: String, message: chat::Message) -> ChatResult {
        let message = message_info(message);
        let audience = self.audience(&message.conversation).await;
        let to = audience.seeing(message.seq);
        let event = ServerMessage::ChatMessageUpdated {
            message: message.clone(),
        };
        self.fanout.send(&to, &event, Some(device.id));
        Ok(ServerMessage::ChatAck {
            reply_to: id,
            message,
            duplicate: false,
        })
    }

    /// Membership changed: the members, and the person concerned (who may have just left).
    pub(crate) async fn tell_members(
        &self,
        conversation: &str,
        identity: &str,
        change: MemberChange,
    ) {
        self.forget_audience(conversation);
        let mut to = self.audience(conversation).await.to_vec();
        if !to.iter().any(|m| m == identity) {
            to.push(identity.to_owned());
        }
        let event = ServerMessage::ChatMember {
            conversation: conversation.to_owned(),
            identity: identity.to_owned(),
            change,
        };
        self.fanout.send(&to, &event, None);
    }
}
