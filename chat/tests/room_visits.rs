//! A room's conversation belongs to the visit: a member sees it from their join only, and
//! stops being a member when they leave. Telehealth reuses rooms ("dr-smith"), so one patient
//! must never read the previous patient's messages, files or name.

mod common;

use chat::{HistoryQuery, StoreError, SyncCursor};
use common::{backends, msg, uid};

#[tokio::test]
async fn a_later_visitor_sees_nothing_of_an_earlier_visit() {
    for store in &backends().await.stores {
        let room = uid("dr-smith");
        let (doctor, patient_a, patient_b) = (uid("doctor"), uid("patient-a"), uid("patient-b"));
        let conv = store
            .join_room_conversation(&room, &doctor, None)
            .await
            .unwrap();
        store
            .join_room_conversation(&room, &patient_a, None)
            .await
            .unwrap();
        let upload = store
            .create_attachment(
                &patient_a,
                &conv.id,
                "result.png",
                "image/png",
                10,
                &uid("key"),
            )
            .await
            .unwrap();
        let mut with_file = msg(&conv, &patient_a, "my test result");
        with_file.attachments = vec![upload.id.clone()];
        let (secret, _) = store.send(with_file).await.unwrap();
        assert_eq!(
            store
                .leave_room_conversation(&room, &patient_a)
                .await
                .unwrap(),
            Some((conv.id.clone(), 0)),
            "A's visit began before the first message"
        );
        // The doctor stays in the room between patients; patient B joins the same conversation.
        let joined = store
            .join_room_conversation(&room, &patient_b, None)
            .await
            .unwrap();
        assert_eq!(joined.id, conv.id);
        let everything = HistoryQuery::default();
        let history = store
            .history(&patient_b, &conv.id, everything)
            .await
            .unwrap();
        assert!(history.is_empty(), "{}: {history:?}", store.backend());
        let after = HistoryQuery {
            after_seq: Some(0),
            ..Default::default()
        };
        assert!(store
            .history(&patient_b, &conv.id, after)
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            store.message(&patient_b, &secret.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.attachment(&patient_b, &upload.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(store
            .search(&patient_b, "result", None, 10)
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            store.react(&patient_b, &secret.id, "👍", true).await,
            Err(StoreError::NotFound)
        ));
        let mut reply = msg(&conv, &patient_b, "re");
        reply.reply_to = Some(secret.id.clone());
        assert!(matches!(
            store.send(reply).await,
            Err(StoreError::Invalid(_))
        ));
        let cursor = SyncCursor {
            conversation: conv.id.clone(),
            after_seq: 0,
            after_version: Some(0),
        };
        let synced = store.sync(&patient_b, &[cursor]).await.unwrap();
        assert!(
            synced
                .batches
                .iter()
                .all(|b| b.messages.is_empty() && b.changed.is_empty()),
            "{synced:?}"
        );
        assert!(store
            .sync(&patient_b, &[])
            .await
            .unwrap()
            .batches
            .is_empty());
        let members: Vec<String> = store
            .members(&conv.id)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.identity)
            .collect();
        assert!(
            !members.contains(&patient_a),
            "patient A's name is gone: {members:?}"
        );
        // The doctor, there all along, still has it; what B says from now on, B sees.
        assert_eq!(
            store
                .history(&doctor, &conv.id, everything)
                .await
                .unwrap()
                .len(),
            1
        );
        store
            .send(msg(&conv, &patient_b, "hello doctor"))
            .await
            .unwrap();
        let seen = store
            .history(&patient_b, &conv.id, everything)
            .await
            .unwrap();
        assert_eq!(
            seen.iter().map(|m| m.text.as_deref()).collect::<Vec<_>>(),
            [Some("hello doctor")]
        );
        // Patient A, gone, reads nothing of it any more: not even with another token later.
        assert!(matches!(
            store.history(&patient_a, &conv.id, everything).await,
            Err(StoreError::NotMember)
        ));
        assert!(store
            .conversations_of(&patient_a)
            .await
            .unwrap()
            .iter()
            .all(|c| c.conversation.id != conv.id));
        assert!(store
            .search(&patient_a, "doctor", None, 10)
            .await
            .unwrap()
            .is_empty());
        // A reconnect continues the visit where it began, with what was said meanwhile...
        let (_, began) = store
            .leave_room_conversation(&room, &patient_b)
            .await
            .unwrap()
            .unwrap();
        store
            .send(msg(&conv, &doctor, "while you were reconnecting"))
            .await
            .unwrap();
        store
            .join_room_conversation(&room, &patient_b, Some(began))
            .await
            .unwrap();
        let resumed = store
            .history(&patient_b, &conv.id, HistoryQuery::default())
            .await
            .unwrap();
        let texts: Vec<_> = resumed.iter().map(|m| m.text.as_deref()).collect();
        assert_eq!(
            texts,
            [Some("hello doctor"), Some("while you were reconnecting")]
        );
        // ...while a returning visitor starts a new one.
        store
            .join_room_conversation(&room, &patient_a, None)
            .await
            .unwrap();
        let again = store
            .history(&patient_a, &conv.id, HistoryQuery::default())
            .await
            .unwrap();
        assert!(again.is_empty(), "{again:?}");
        // At start nobody is in a room: visits a crash left open end (one test, since this
        // touches every room of the database).
        a_node_starting_ends_only_its_own_visits(store).await;
        assert!(store.end_room_visits().await.unwrap() >= 3);
        let gone = store
            .history(&doctor, &conv.id, HistoryQuery::default())
            .await;
        assert!(matches!(gone, Err(StoreError::NotMember)), "{gone:?}");
        assert_eq!(
            store.leave_room_conversation(&room, &doctor).await.unwrap(),
            None
        );
    }
}

/// Several nodes share the store: one starting ends only the room visits it began, since
/// the others' rooms are live. (Run inside the test that ends every visit, before it does:
/// run beside it, that test would end these too.)
async fn a_node_starting_ends_only_its_own_visits(store: &chat::Store) {
    {
        let room = uid("ward");
        let (ana, ben) = (uid("ana"), uid("ben"));
        let here = store.clone().with_node(&uid("n1"));
        let there = store.clone().with_node(&uid("n2"));
        let conv = here
            .join_room_conversation(&room, &ana, None)
            .await
            .unwrap();
        there
            .join_room_conversation(&room, &ben, None)
            .await
            .unwrap();
        assert_eq!(here.end_room_visits().await.unwrap(), 1);
        let gone = here.history(&ana, &conv.id, HistoryQuery::default()).await;
        assert!(matches!(gone, Err(StoreError::NotMember)), "{gone:?}");
        there
            .history(&ben, &conv.id, HistoryQuery::default())
            .await
            .expect("the other node's visit goes on");
    }
}
