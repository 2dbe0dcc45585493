mod common;

use chat::{CallMedia, InvitationState, InviteeState, StoreError};
use common::{backends, group, uid};

const TTL: i64 = 45_000;

fn ids(list: Vec<chat::Invitation>) -> Vec<String> {
    list.into_iter().map(|i| i.id).collect()
}

fn state_of(invitation: &chat::Invitation, identity: &str) -> InviteeState {
    invitation.invitee(identity).expect("an invitee").state
}

#[tokio::test]
async fn direct_call_is_accepted_by_the_callee() {
    for store in &backends().await.stores {
        let (ana, bo) = (uid("ana"), uid("bo"));
        let conv = store.create_direct(&ana, &bo).await.unwrap();
        let inv = store
            .create_invitation(&ana, &conv.id, CallMedia::Video, &[], TTL)
            .await
            .unwrap();
        assert_eq!(inv.state, InvitationState::Ringing);
        assert_eq!(inv.caller, ana);
        assert_eq!(inv.media, CallMedia::Video);
        assert_eq!(inv.room, format!("call-{}", inv.id));
        assert_eq!(inv.expires_at_ms - inv.created_at_ms, TTL);
        assert_eq!(inv.ringing().collect::<Vec<_>>(), vec![bo.as_str()]);
        assert_eq!(store.invitation(&inv.id).await.unwrap(), inv);

        // The caller is not an invitee.
        let err = store.accept_invitation(&ana, &inv.id).await.unwrap_err();
        assert!(matches!(err, StoreError::Forbidden), "{err:?}");
        let accepted = store.accept_invitation(&bo, &inv.id).await.unwrap();
        assert_eq!(accepted.state, InvitationState::Accepted);
        assert_eq!(accepted.answered_by.as_deref(), Some(bo.as_str()));
        assert_eq!(accepted.ended_at_ms, None);
        assert_eq!(state_of(&accepted, &bo), InviteeState::Accepted);
        // A second device of the same person loses the race.
        let err = store.accept_invitation(&bo, &inv.id).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        let err = store.decline_invitation(&bo, &inv.id).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        let err = store.invitation(&uid("nope")).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
    }
}

#[tokio::test]
async fn group_call_others_keep_ringing_after_the_first_accept() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 3).await;
        let (a, b, c) = (&members[0], &members[1], &members[2]);
        let inv = store
            .create_invitation(
                &owner,
                &conv.id,
                CallMedia::Audio,
                &[a.clone(), b.clone(), a.clone()],
                TTL,
            )
            .await
            .unwrap();
        assert_eq!(
            inv.invitees.len(),
            2,
            "duplicates collapse, {c} not invited"
        );
        let err = store.accept_invitation(c, &inv.id).await.unwrap_err();
        assert!(matches!(err, StoreError::Forbidden), "{err:?}");

        let inv2 = store.accept_invitation(a, &inv.id).await.unwrap();
        assert_eq!(inv2.state, InvitationState::Accepted);
        assert_eq!(state_of(&inv2, b), InviteeState::Ringing);
        let inv3 = store.decline_invitation(b, &inv.id).await.unwrap();
        // Someone accepted: declining does not end it as Declined.
        assert_eq!(inv3.state, InvitationState::Accepted);
        assert_eq!(state_of(&inv3, b), InviteeState::Declined);
        assert_eq!(inv3.answered_by.as_deref(), Some(a.as_str()));

        // A later accept in a group joins, the first answer stays.
        let inv = store
            .create_invitation(&owner, &conv.id, CallMedia::Audio, &[], TTL)
            .await
            .unwrap();
        assert_eq!(inv.invitees.len(), 3, "empty list = every other member");
        store.accept_invitation(a, &inv.id).await.unwrap();
        let later = store.accept_invitation(b, &inv.id).await.unwrap();
        assert_eq!(later.state, InvitationState::Accepted);
        assert_eq!(later.answered_by.as_deref(), Some(a.as_str()));
        assert_eq!(state_of(&later, b), InviteeState::Accepted);
        assert_eq!(state_of(&later, c), InviteeState::Ringing);
    }
}

#[tokio::test]
async fn a_connecting_device_learns_what_rings_for_its_person() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 2).await;
        let (a, b) = (&members[0], &members[1]);
        let inv = store
            .create_invitation(&owner, &conv.id, CallMedia::Audio, &[], TTL)
            .await
            .unwrap();
        let for_owner = ids(store.ringing_invitations_for(&owner).await.unwrap());
        assert_eq!(
            for_owner,
            vec![inv.id.clone()],
            "the caller's other devices"
        );
        assert_eq!(
            ids(store.ringing_invitations_for(a).await.unwrap()),
            vec![inv.id.clone()]
        );
        store.accept_invitation(a, &inv.id).await.unwrap();
        // Accepted: no longer "calling…" for the caller nor ringing for `a`, still for `b`.
        assert!(store
            .ringing_invitations_for(&owner)
            .await
            .unwrap()
            .is_empty());
        assert!(store.ringing_invitations_for(a).await.unwrap().is_empty());
        assert_eq!(
            ids(store.ringing_invitations_for(b).await.unwrap()),
            vec![inv.id.clone()]
        );
        store.decline_invitation(b, &inv.id).await.unwrap();
        assert!(store.ringing_invitations_for(b).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn everyone_declining_or_busy_ends_it_as_declined() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 2).await;
        let inv = store
            .create_invitation(&owner, &conv.id, CallMedia::Audio, &[], TTL)
            .await
            .unwrap();
        let inv1 = store.mark_invitee_busy(&members[0], &inv.id).await.unwrap();
        assert_eq!(inv1.state, InvitationState::Ringing);
        assert_eq!(state_of(&inv1, &members[0]), InviteeState::Busy);
        let err = store
            .mark_invitee_busy(&members[0], &inv.id)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        let done = store
            .decline_invitation(&members[1], &inv.id)
            .await
            .unwrap();
        assert_eq!(done.state, InvitationState::Declined);
        assert!(done.ended_at_ms.is_some());
        assert_eq!(done.answered_by, None);
        // Ended: nobody can accept any more, the caller cannot cancel.
        let err = store
            .accept_invitation(&members[1], &inv.id)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        let err = store.cancel_invitation(&owner, &inv.id).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
}

#[tokio::test]
async fn only_the_caller_cancels_and_only_while_ringing() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 2).await;
        let inv = store
            .create_invitation(&owner, &conv.id, CallMedia::Video, &[], TTL)
            .await
            .unwrap();
        let err = store
            .cancel_invitation(&members[0], &inv.id)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Forbidden), "{err:?}");
        store
            .decline_invitation(&members[0], &inv.id)
            .await
            .unwrap();
        let cancelled = store.cancel_invitation(&owner, &inv.id).await.unwrap();
        assert_eq!(cancelled.state, InvitationState::Cancelled);
        assert!(cancelled.ended_at_ms.is_some());
        assert_eq!(state_of(&cancelled, &members[0]), InviteeState::Declined);
        assert_eq!(state_of(&cancelled, &members[1]), InviteeState::Cancelled);
        let err = store
            .accept_invitation(&members[1], &inv.id)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

        let inv = store
            .create_invitation(&owner, &conv.id, CallMedia::Video, &[], TTL)
            .await
            .unwrap();
        store.accept_invitation(&members[1], &inv.id).await.unwrap();
        let err = store.cancel_invitation(&owner, &inv.id).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
}

#[tokio::test]
async fn expiry_makes_missed_calls_once() {
    // The sweep is global and other tests (and test servers) share the PostgreSQL database:
    // sweep only at the real time, so nobody else's live invitation is touched, and on
    // PostgreSQL tolerate another sweeper having ended ours first.
    const SHORT: i64 = 1;
    for store in &backends().await.stores {
        let private = store.backend() == "sqlite";
        let (conv, owner, members) = group(store, 2).await;
        let ringing = store
            .create_invitation(&owner, &conv.id, CallMedia::Audio, &[], SHORT)
            .await
            .unwrap();
        let answered = store
            .create_invitation(&owner, &conv.id, CallMedia::Audio, &[], SHORT)
            .await
            .unwrap();
        // Accepting is not clock-bound: until the sweep, an invitation rings.
        store
            .accept_invitation(&members[0], &answered.id)
            .await
            .unwrap();
        let later = store
            .create_invitation(&owner, &conv.id, CallMedia::Audio, &[], 10 * TTL)
            .await
            .unwrap();
        let listed = ids(store.ringing_invitations().await.unwrap());
        assert!(listed.contains(&later.id));
        assert!(!listed.contains(&answered.id), "accepted is not ringing");
        assert!(!private || listed.contains(&ringing.id));

        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!(now >= ringing.expires_at_ms.max(answered.expires_at_ms));
        let swept = store.expire_invitations(now).await.unwrap();
        let mine: Vec<_> = swept.iter().filter(|i| i.conversation == conv.id).collect();
        assert!(mine.len() <= 1, "only the unanswered one: {mine:?}");
        assert!(!private || mine.len() == 1);
        if let Some(missed) = mine.first() {
            assert_eq!(missed.id, ringing.id);
        }
        let missed = store.invitation(&ringing.id).await.unwrap();
        assert_eq!(missed.state, InvitationState::Missed);
        assert_eq!(missed.ended_at_ms, Some(ringing.expires_at_ms));
        assert!(missed
            .invitees
            .iter()
            .all(|i| i.state == InviteeState::Missed));
        let again = store.expire_invitations(now).await.unwrap();
        assert!(
            again.iter().all(|i| i.conversation != conv.id),
            "idempotent"
        );

        let answered = store.invitation(&answered.id).await.unwrap();
        assert_eq!(answered.state, InvitationState::Accepted);
        assert_eq!(state_of(&answered, &members[1]), InviteeState::Missed);
        let err = store
            .accept_invitation(&members[1], &answered.id)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

        let listed = ids(store.ringing_invitations().await.unwrap());
        assert!(listed.contains(&later.id) && !listed.contains(&ringing.id));
        assert_eq!(
            store.invitation(&later.id).await.unwrap().state,
            InvitationState::Ringing
        );
    }
}

#[tokio::test]
async fn concurrent_accepts_have_one_winner_in_a_direct_call() {
    for store in &backends().await.stores {
        let (ana, bo) = (uid("ana"), uid("bo"));
        let conv = store.create_direct(&ana, &bo).await.unwrap();
        let inv = store
            .create_invitation(&ana, &conv.id, CallMedia::Audio, &[], TTL)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (store, bo, id) = (store.clone(), bo.clone(), inv.id.clone());
                tokio::spawn(async move {
                    if i % 2 == 0 {
                        store.accept_invitation(&bo, &id).await
                    } else {
                        store.decline_invitation(&bo, &id).await
                    }
                })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => wins += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(wins, 1, "{}", store.backend());
    }
}

#[tokio::test]
async fn invitations_check_their_input() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 1).await;
        let outsider = uid("out");
        let cases: Vec<(&str, Vec<String>, i64)> = vec![
            (&owner, vec![outsider.clone()], TTL),
            (&owner, vec![owner.clone()], TTL),
            (&owner, vec![], 0),
            (&owner, vec![], -5),
        ];
        for (caller, invitees, ttl) in cases {
            let err = store
                .create_invitation(caller, &conv.id, CallMedia::Audio, &invitees, ttl)
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
        }
        let err = store
            .create_invitation(&outsider, &conv.id, CallMedia::Audio, &[], TTL)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotMember), "{err:?}");
        let err = store
            .create_invitation(&owner, &uid("conv"), CallMedia::Audio, &[], TTL)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
        // Alone in the conversation: nobody to ring.
        store
            .remove_member(&members[0], &conv.id, &members[0])
            .await
            .unwrap();
        let err = store
            .create_invitation(&owner, &conv.id, CallMedia::Audio, &[], i64::MAX)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    }
}
