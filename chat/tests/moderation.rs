mod common;

use chat::{AuditAction, Role, StoreError};
use common::{backends, group, msg, send, uid};

#[tokio::test]
async fn muted_members_cannot_send() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 2).await;
        let (alice, bob) = (&members[0], &members[1]);
        let m = send(store, &conv, alice, "before").await;
        // Plain members cannot mute.
        assert!(matches!(
            store.mute(bob, &conv.id, alice, true, false).await,
            Err(StoreError::Forbidden)
        ));
        let muted = store
            .mute(&owner, &conv.id, alice, true, false)
            .await
            .unwrap();
        assert!(muted.muted);
        assert!(matches!(
            store.send(msg(&conv, alice, "let me talk")).await,
            Err(StoreError::Muted)
        ));
        assert!(matches!(
            store.edit(alice, &m.id, "x").await,
            Err(StoreError::Muted)
        ));
        store
            .mute(&owner, &conv.id, alice, false, false)
            .await
            .unwrap();
        send(store, &conv, alice, "after").await;
    }
}

#[tokio::test]
async fn kicked_can_return_banned_cannot() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 2).await;
        let (alice, bob) = (&members[0], &members[1]);
        store
            .add_member(&owner, &conv.id, bob, Role::Moderator)
            .await
            .unwrap();
        // Moderators do not moderate owners, nor does anyone moderate themselves.
        assert!(matches!(
            store.kick(bob, &conv.id, &owner, false).await,
            Err(StoreError::Forbidden)
        ));
        assert!(matches!(
            store.kick(bob, &conv.id, bob, false).await,
            Err(StoreError::Invalid(_))
        ));
        store.kick(bob, &conv.id, alice, false).await.unwrap();
        assert!(matches!(
            store.send(msg(&conv, alice, "hi")).await,
            Err(StoreError::NotMember)
        ));
        store
            .add_member(&owner, &conv.id, alice, Role::Member)
            .await
            .unwrap();
        store.ban(bob, &conv.id, alice, false).await.unwrap();
        assert!(matches!(
            store
                .add_member(&owner, &conv.id, alice, Role::Member)
                .await,
            Err(StoreError::Banned)
        ));
        assert!(matches!(
            store.send(msg(&conv, alice, "hi")).await,
            Err(StoreError::Banned)
        ));
        store.unban(&owner, &conv.id, alice, false).await.unwrap();
        store
            .add_member(&owner, &conv.id, alice, Role::Member)
            .await
            .unwrap();

        // Rooms: the moderate grant is what moderates; a banned person cannot rejoin.
        let room = uid("room");
        let room_conv = store
            .join_room_conversation(&room, alice, None)
            .await
            .unwrap();
        store
            .join_room_conversation(&room, bob, None)
            .await
            .unwrap();
        assert!(matches!(
            store.ban(bob, &room_conv.id, alice, false).await,
            Err(StoreError::Forbidden)
        ));
        store.ban(bob, &room_conv.id, alice, true).await.unwrap();
        assert!(matches!(
            store.join_room_conversation(&room, alice, None).await,
            Err(StoreError::Banned)
        ));

        let log = store.audit_log(&owner, &conv.id, false).await.unwrap();
        let actions: Vec<_> = log
            .iter()
            .map(|e| (e.action, e.actor.as_str(), e.target_identity.as_deref()))
            .collect();
        assert_eq!(
            actions,
            vec![
                (AuditAction::SetRole, owner.as_str(), Some(bob.as_str())),
                (AuditAction::Kick, bob.as_str(), Some(alice.as_str())),
                (AuditAction::Ban, bob.as_str(), Some(alice.as_str())),
                (AuditAction::Unban, owner.as_str(), Some(alice.as_str())),
            ]
        );
        assert!(log.iter().all(|e| e.conversation == conv.id && e.at_ms > 0));
        assert!(matches!(
            store.audit_log(alice, &conv.id, false).await,
            Err(StoreError::Forbidden)
        ));
        let room_log = store
            .audit_log(&uid("admin"), &room_conv.id, true)
            .await
            .unwrap();
        assert_eq!(room_log.len(), 1);
        assert_eq!(room_log[0].action, AuditAction::Ban);
    }
}
