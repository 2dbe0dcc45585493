mod common;

use chat::{ConversationKind, Role, StoreError};
use common::{backends, group, uid};

#[tokio::test]
async fn direct_conversation_is_one_per_pair() {
    for store in &backends().await.stores {
        let (ana, ben) = (uid("ana"), uid("ben"));
        let first = store.create_direct(&ana, &ben).await.unwrap();
        assert_eq!(first.kind, ConversationKind::Direct);
        assert_eq!(store.create_direct(&ana, &ben).await.unwrap().id, first.id);
        assert_eq!(store.create_direct(&ben, &ana).await.unwrap().id, first.id);
        let members = store.members(&first.id).await.unwrap();
        assert_eq!(members.len(), 2);
        assert!(matches!(
            store.create_direct(&ana, &ana).await,
            Err(StoreError::Invalid(_))
        ));
        // Concurrent first contact still yields one conversation.
        let (c, d) = (uid("c"), uid("d"));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (store, c, d) = (store.clone(), c.clone(), d.clone());
                tokio::spawn(async move {
                    if i % 2 == 0 {
                        store.create_direct(&c, &d).await
                    } else {
                        store.create_direct(&d, &c).await
                    }
                })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap().unwrap().id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{}", store.backend());
        let listed = store.conversations_of(&ana).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].conversation.id, first.id);
        assert_eq!(listed[0].role, Role::Member);
    }
}

#[tokio::test]
async fn group_roles_govern_membership() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 2).await;
        let (alice, bob) = (&members[0], &members[1]);
        let outsider = uid("outsider");
        assert_eq!(conv.kind, ConversationKind::Group);
        assert_eq!(conv.title.as_deref(), Some("test group"));
        let roles: Vec<_> = store
            .members(&conv.id)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.identity, m.role))
            .collect();
        assert!(roles.contains(&(owner.clone(), Role::Owner)));
        assert!(roles.contains(&(alice.clone(), Role::Member)));

        // Plain members cannot add or remove others.
        let carl = uid("carl");
        assert!(matches!(
            store.add_member(alice, &conv.id, &carl, Role::Member).await,
            Err(StoreError::Forbidden)
        ));
        assert!(matches!(
            store.remove_member(alice, &conv.id, bob).await,
            Err(StoreError::Forbidden)
        ));
        assert!(matches!(
            store
                .add_member(&outsider, &conv.id, &carl, Role::Member)
                .await,
            Err(StoreError::NotMember)
        ));
        // The owner promotes alice; a moderator adds members but grants no roles and cannot
        // touch the owner.
        let promoted = store
            .add_member(&owner, &conv.id, alice, Role::Moderator)
            .await
            .unwrap();
        assert_eq!(promoted.role, Role::Moderator);
        store
            .add_member(alice, &conv.id, &carl, Role::Member)
            .await
            .unwrap();
        assert!(matches!(
            store
                .add_member(alice, &conv.id, &uid("x"), Role::Owner)
                .await,
            Err(StoreError::Forbidden)
        ));
        assert!(matches!(
            store.remove_member(alice, &conv.id, &owner).await,
            Err(StoreError::Forbidden)
        ));
        store.remove_member(alice, &conv.id, &carl).await.unwrap();
        assert!(store.membership(&conv.id, &carl).await.unwrap().is_none());
        // Anyone may leave.
        store.remove_member(bob, &conv.id, bob).await.unwrap();
        assert!(matches!(
            store.remove_member(bob, &conv.id, bob).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.conversation(&uid("nope")).await,
            Err(StoreError::NotFound)
        ));
        // Direct conversations have fixed members.
        let direct = store.create_direct(&owner, alice).await.unwrap();
        assert!(matches!(
            store
                .add_member(&owner, &direct.id, &carl, Role::Member)
                .await,
            Err(StoreError::Forbidden)
        ));
    }
}

#[tokio::test]
async fn room_conversation_is_created_once_and_joined() {
    for store in &backends().await.stores {
        let room = uid("room");
        let conv = store.room_conversation(&room).await.unwrap();
        assert_eq!(conv.kind, ConversationKind::Room);
        assert_eq!(conv.room_name.as_deref(), Some(room.as_str()));
        assert_eq!(store.room_conversation(&room).await.unwrap().id, conv.id);
        let ana = uid("ana");
        let joined = store
            .join_room_conversation(&room, &ana, None)
            .await
            .unwrap();
        assert_eq!(joined.id, conv.id);
        store
            .join_room_conversation(&room, &ana, None)
            .await
            .unwrap();
        assert_eq!(store.members(&conv.id).await.unwrap().len(), 1);
        assert!(matches!(
            store.room_conversation("").await,
            Err(StoreError::Invalid(_))
        ));
    }
}
