//! The store's model and errors as the protocol spells them.

use crate::protocol::chat::{
    AttachmentInfo, CallMedia, ChatMessage, ConversationInfo, ConversationKind, InvitationInfo,
    InviteeInfo, SyncBatch,
};
use crate::protocol::ErrorCode;
use chat::StoreError;

pub fn message_info(message: chat::Message) -> ChatMessage {
    ChatMessage {
        id: message.id,
        conversation: message.conversation,
        seq: message.seq,
        version: message.version,
        sender: message.sender,
        client_msg_id: message.client_msg_id,
        text: message.text,
        attachments: message
            .attachments
            .into_iter()
            .map(attachment_info)
            .collect(),
        reply_to: message.reply_to,
        created_at: message.created_at_ms,
        edited_at: message.edited_at_ms,
        deleted_at: message.deleted_at_ms,
        reactions: message.reactions,
        system: message
            .system
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok()),
    }
}

pub fn attachment_info(attachment: chat::Attachment) -> AttachmentInfo {
    AttachmentInfo {
        url: format!("/api/attachments/{}", attachment.id),
        id: attachment.id,
        filename: attachment.filename,
        content_type: attachment.content_type,
        size: attachment.size,
    }
}

pub fn conversation_info(conversation: chat::Conversation) -> ConversationInfo {
    ConversationInfo {
        id: conversation.id,
        kind: match conversation.kind {
            chat::ConversationKind::Direct => ConversationKind::Direct,
            chat::ConversationKind::Group => ConversationKind::Group,
            chat::ConversationKind::Room => ConversationKind::Room,
        },
        title: conversation.title,
        room: conversation.room_name,
        last_seq: conversation.last_seq,
        last_version: conversation.last_version,
        role: None,
        muted: false,
        delivered_up_to: 0,
        read_up_to: 0,
        members: Vec::new(),
    }
}

pub fn summary_info(summary: chat::ConversationSummary) -> ConversationInfo {
    ConversationInfo {
        role: Some(summary.role.as_str().to_owned()),
        muted: summary.muted,
        delivered_up_to: summary.delivered_up_to,
        read_up_to: summary.read_up_to,
        ..conversation_info(summary.conversation)
    }
}

pub fn batch_info(batch: chat::SyncBatch) -> SyncBatch {
    SyncBatch {
        conversation: batch.conversation,
        messages: batch.messages.into_iter().map(message_info).collect(),
        changed: batch.changed.into_iter().map(message_info).collect(),
        last_seq: batch.last_seq,
        version: batch.version,
        more: batch.more,
    }
}

/// A store outcome as an error reply. Outages say "retry"; internals are logged, not shown.
pub fn store_error(err: StoreError) -> (ErrorCode, String) {
    if err.is_retriable() {
        tracing::warn!(%err, "chat storage unavailable");
        return (
            ErrorCode::Unavailable,
            "storage is unavailable for a moment; retry".into(),
        );
    }
    let code = match &err {
        StoreError::NotFound => ErrorCode::NotFound,
        StoreError::NotMember => ErrorCode::NotMember,
        StoreError::Forbidden => ErrorCode::Forbidden,
        StoreError::Muted => ErrorCode::Muted,
        StoreError::Banned => ErrorCode::Banned,
        StoreError::TooLarge { .. } => ErrorCode::MessageTooLarge,
        StoreError::Invalid(_)
        | StoreError::ContentTypeNotAllowed(_)
        | StoreError::ContentMismatch(_) => ErrorCode::InvalidMessage,
        StoreError::Conflict(_) => ErrorCode::Conflict,
        _ => {
            tracing::error!(%err, "chat storage error");
            return (ErrorCode::Internal, "internal storage error".into());
        }
    };
    (code, err.to_string())
}

pub fn invitation_info(invitation: &chat::Invitation) -> InvitationInfo {
    InvitationInfo {
        id: invitation.id.clone(),
        conversation: invitation.conversation.clone(),
        caller: invitation.caller.clone(),
        media: match invitation.media {
            chat::CallMedia::Audio => CallMedia::Audio,
            chat::CallMedia::Video => CallMedia::Video,
        },
        room: invitation.room.clone(),
        state: invitation.state.as_str().to_owned(),
        invitees: invitation
            .invitees
            .iter()
            .map(|i| InviteeInfo {
                identity: i.identity.clone(),
                state: i.state.as_str().to_owned(),
            })
            .collect(),
        created_at: invitation.created_at_ms,
        expires_at: invitation.expires_at_ms,
        ended_at: invitation.ended_at_ms,
        answered_by: invitation.answered_by.clone(),
        names: Default::default(),
    }
}
