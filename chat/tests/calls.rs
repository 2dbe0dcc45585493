mod common;

use chat::{CallMedia, HistoryQuery, InvitationState, StoreError, SyncCursor};
use common::{backends, group, send, uid};

#[tokio::test]
async fn a_call_records_participants_and_duration() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 2).await;
        let inv = store
            .create_invitation(&owner, &conv.id, CallMedia::Video, &[], 45_000)
            .await
            .unwrap();
        let room = inv.room.clone();
        assert_eq!(store.open_call(&room).await.unwrap(), None);
        let err = store.call_joined(&room, &owner).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");

        let call = store
            .start_call(&conv.id, &room, Some(&inv.id), CallMedia::Video, &owner)
            .await
            .unwrap();
        assert!(call.is_open());
        assert_eq!(call.participants, vec![owner.clone()]);
        assert_eq!(call.invitation.as_deref(), Some(inv.id.as_str()));
        // A second start while open returns the open call.
        let again = store
            .start_call(&conv.id, &room, None, CallMedia::Audio, &members[0])
            .await
            .unwrap();
        assert_eq!(again, call);

        store.call_joined(&room, &members[0]).await.unwrap();
        store.call_joined(&room, &members[0]).await.unwrap();
        store.call_joined(&room, &members[1]).await.unwrap();
        let open = store.open_call(&room).await.unwrap().unwrap();
        assert_eq!(open.participants.len(), 3, "set semantics");
        assert_eq!(open.participants[0], owner, "starter first");

        let ended = store
            .end_call(&room, call.started_at_ms + 12 * 60_000)
            .await
            .unwrap();
        assert_eq!(ended.duration_ms, Some(12 * 60_000));
        assert_eq!(ended.ended_at_ms, Some(call.started_at_ms + 12 * 60_000));
        assert_eq!(ended.participants, open.participants);
        assert_eq!(store.open_call(&room).await.unwrap(), None);
        let err = store.end_call(&room, 0).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");

        // The room can host a new call; a clock going backwards gives 0, not negative.
        let next = store
            .start_call(&conv.id, &room, None, CallMedia::Audio, &members[1])
            .await
            .unwrap();
        assert_ne!(next.id, call.id);
        let ended_next = store.end_call(&room, 0).await.unwrap();
        assert_eq!(ended_next.duration_ms, Some(0));

        let history = store
            .call_history(&members[0], Some(&conv.id), 0)
            .await
            .unwrap();
        let ids: Vec<&str> = history.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), 2);
        assert!(
            history[0].started_at_ms >= history[1].started_at_ms,
            "newest first"
        );
        assert_eq!(store.calls(Some(&conv.id), 1).await.unwrap().len(), 1);
        let all = store.calls(None, 0).await.unwrap();
        assert!(!all.is_empty());
    }
}

#[tokio::test]
async fn concurrent_starts_open_one_call() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 7).await;
        let room = uid("room");
        let mut people = members.clone();
        people.push(owner);
        let tasks: Vec<_> = people
            .into_iter()
            .map(|who| {
                let (store, conv, room) = (store.clone(), conv.id.clone(), room.clone());
                tokio::spawn(async move {
                    let call = store
                        .start_call(&conv, &room, None, CallMedia::Audio, &who)
                        .await
                        .unwrap();
                    store.call_joined(&room, &who).await.unwrap();
                    call.id
                })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{}", store.backend());
        let open = store.open_call(&room).await.unwrap().unwrap();
        assert_eq!(open.participants.len(), 8);
    }
}

#[tokio::test]
async fn call_history_is_for_members() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 1).await;
        let (other, other_owner, _) = group(store, 1).await;
        let room = uid("room");
        store
            .start_call(&conv.id, &room, None, CallMedia::Audio, &owner)
            .await
            .unwrap();
        store
            .start_call(
                &other.id,
                &uid("room"),
                None,
                CallMedia::Audio,
                &other_owner,
            )
            .await
            .unwrap();
        let err = store
            .call_history(&other_owner, Some(&conv.id), 10)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotMember), "{err:?}");
        let err = store
            .call_history(&owner, Some(&uid("conv")), 10)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
        let mine = store.call_history(&members[0], None, 10).await.unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].conversation, conv.id);
        // Unknown conversations and invitations are refused when starting.
        let err = store
            .start_call(&uid("conv"), &uid("room"), None, CallMedia::Audio, &owner)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
        let err = store
            .start_call(
                &conv.id,
                &uid("room"),
                Some("nope"),
                CallMedia::Audio,
                &owner,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    }
}

#[tokio::test]
async fn system_messages_take_the_next_seq_once_per_key() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 1).await;
        let reader = &members[0];
        send(store, &conv, &owner, "hi").await;
        let sync_before = store.sync(reader, &[]).await.unwrap();
        let version = sync_before.batches[0].version;
        // The caller was muted: the server still speaks about them.
        store
            .mute(&owner, &conv.id, reader, true, false)
            .await
            .unwrap();
        let key = uid("call-ended");
        let body = format!(r#"{{"type":"call_missed","caller":"{reader}"}}"#);
        let (posted, created) = store
            .post_system_message(&conv.id, reader, &key, "Missed call", &body)
            .await
            .unwrap();
        assert!(created);
        assert_eq!(posted.seq, 2);
        assert_eq!(posted.sender.as_deref(), Some(reader.as_str()));
        assert_eq!(posted.client_msg_id, None);
        assert_eq!(posted.system.as_deref(), Some(body.as_str()));
        assert!(posted.is_system());
        let (again, created) = store
            .post_system_message(&conv.id, reader, &key, "other text", "{}")
            .await
            .unwrap();
        assert!(!created);
        assert_eq!(again, posted);
        let next = send(store, &conv, &owner, "after").await;
        assert_eq!(next.seq, 3);
        // The same key in another conversation is another message.
        let (other, _, _) = group(store, 0).await;
        let (elsewhere, created) = store
            .post_system_message(&other.id, &owner, &key, "Call, 1 min", "{}")
            .await
            .unwrap();
        assert!(created && elsewhere.seq == 1);

        let history = store
            .history(&owner, &conv.id, HistoryQuery::default())
            .await
            .unwrap();
        assert_eq!(history[1], posted);
        assert_eq!(history[0].system, None);
        assert_eq!(store.message(&owner, &posted.id).await.unwrap(), posted);
        let cursor = SyncCursor {
            conversation: conv.id.clone(),
            after_seq: 1,
            after_version: Some(version),
        };
        let sync = store.sync(reader, &[cursor]).await.unwrap();
        assert_eq!(sync.batches[0].messages[0], posted);
        let found = store
            .search(&owner, "missed", Some(&conv.id), 10)
            .await
            .unwrap();
        assert_eq!(found, vec![posted.clone()]);

        // Nobody's own: not editable, deleting takes a moderator.
        let err = store.edit(reader, &posted.id, "x").await.unwrap_err();
        assert!(matches!(err, StoreError::Forbidden), "{err:?}");
        let err = store.delete(reader, &posted.id, false).await.unwrap_err();
        assert!(matches!(err, StoreError::Forbidden), "{err:?}");
        let deleted = store.delete(&owner, &posted.id, false).await.unwrap();
        assert_eq!((deleted.message.text, deleted.message.system), (None, None));
    }
}

#[tokio::test]
async fn system_messages_check_their_input() {
    for store in &backends().await.stores {
        let (conv, owner, _) = group(store, 0).await;
        let long = "k".repeat(chat::MAX_SYSTEM_KEY_BYTES + 1);
        for (about, key, json) in [
            ("", "k", "{}"),
            (owner.as_str(), "", "{}"),
            (owner.as_str(), long.as_str(), "{}"),
            (owner.as_str(), "k", " "),
            (owner.as_str(), "k\0", "{}"),
        ] {
            let result = store
                .post_system_message(&conv.id, about, key, "text", json)
                .await;
            assert!(result.is_err(), "{about:?} {key:?} {json:?}");
        }
        let err = store
            .post_system_message(&uid("conv"), &owner, "k", "text", "{}")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
    }
}

#[tokio::test]
async fn erasure_takes_a_person_out_of_calls() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 2).await;
        let (gone, stays) = (&members[0], &members[1]);
        // A ringing invitation they placed, one ringing only for them, one they answered.
        let placed = store
            .create_invitation(gone, &conv.id, CallMedia::Audio, &[], 45_000)
            .await
            .unwrap();
        let only_them = store
            .create_invitation(
                &owner,
                &conv.id,
                CallMedia::Audio,
                std::slice::from_ref(gone),
                45_000,
            )
            .await
            .unwrap();
        let answered = store
            .create_invitation(&owner, &conv.id, CallMedia::Audio, &[], 45_000)
            .await
            .unwrap();
        store.accept_invitation(gone, &answered.id).await.unwrap();
        let call = store
            .start_call(
                &conv.id,
                &answered.room,
                Some(&answered.id),
                CallMedia::Audio,
                gone,
            )
            .await
            .unwrap();
        store.call_joined(&answered.room, stays).await.unwrap();
        let body = format!(r#"{{"participants":["{gone}","{stays}"],"by":"{gone}"}}"#);
        let (about_them, _) = store
            .post_system_message(&conv.id, gone, &uid("k"), "Call, 1 min", &body)
            .await
            .unwrap();

        let erased = store.delete_user(gone).await.unwrap();
        let mut expected = vec![placed.id.clone(), only_them.id.clone()];
        expected.sort();
        assert_eq!(erased.invitations_ended, expected);
        assert_eq!(erased.messages, 0, "a system message is not theirs");

        let placed = store.invitation(&placed.id).await.unwrap();
        assert_eq!(placed.state, InvitationState::Cancelled);
        assert_eq!(placed.caller, "");
        assert!(placed.invitee(gone).is_none() && placed.invitee(stays).is_some());
        let only_them = store.invitation(&only_them.id).await.unwrap();
        assert_eq!(only_them.state, InvitationState::Declined);
        assert!(only_them.invitees.is_empty());
        let answered = store.invitation(&answered.id).await.unwrap();
        assert_eq!(answered.state, InvitationState::Accepted);
        assert_eq!(answered.answered_by, None);
        let call = store.open_call(&call.room).await.unwrap().unwrap();
        assert_eq!(call.started_by, "");
        assert_eq!(call.participants, vec![stays.clone()]);

        let message = store.message(&owner, &about_them.id).await.unwrap();
        assert_eq!(message.sender, None);
        assert_eq!(message.text.as_deref(), Some("Call, 1 min"));
        let scrubbed = format!(r#"{{"participants":[null,"{stays}"],"by":null}}"#);
        assert_eq!(message.system.as_deref(), Some(scrubbed.as_str()));
        assert!(message.version > about_them.version, "sync sees the change");
    }
}
