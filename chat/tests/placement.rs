//! Room placement over several server nodes: a claim is a compare-and-set on one row per room,
//! kept by lease renewal; a lapsed lease may be taken over. Time is an input.

mod common;

use common::{backends, uid};

#[tokio::test]
#[rustfmt::skip]
async fn a_room_is_held_by_one_node_until_its_lease_lapses() {
    for store in &backends().await.stores {
        let room = uid("room");
        let (n1, n2) = (uid("n1"), uid("n2"));
        // (who claims, now, lease until, holder afterwards)
        let rows: &[(&str, i64, i64, &str)] = &[
            (&n1, 1_000, 11_000, &n1), // free: taken
            (&n2, 2_000, 12_000, &n1), // held and running: refused
            (&n1, 3_000, 13_000, &n1), // the holder claims again: renewed
            (&n2, 13_000, 23_000, &n1), // at the last millisecond of the lease: still held
            (&n2, 13_001, 23_001, &n2), // lapsed: taken over
            (&n1, 14_000, 24_000, &n2), // the old holder cannot take it back
        ];
        for (i, (node, now, until, holder)) in rows.iter().enumerate() {
            let got = store.claim_room(&room, node, *now, *until).await.unwrap();
            assert_eq!(&got, holder, "{} row {i}", store.backend());
        }
        assert_eq!(store.room_holder(&room, 20_000).await.unwrap().as_deref(), Some(n2.as_str()));
        assert_eq!(store.room_holder(&room, 30_000).await.unwrap(), None, "lapsed");
    }
}

#[tokio::test]
async fn renewal_keeps_only_the_holders_rooms_and_release_frees_them() {
    for store in &backends().await.stores {
        let (a, b, c) = (uid("a"), uid("b"), uid("c"));
        let (n1, n2) = (uid("n1"), uid("n2"));
        for room in [&a, &b] {
            store.claim_room(room, &n1, 0, 10).await.unwrap();
        }
        store.claim_room(&c, &n2, 0, 10).await.unwrap();
        let open = vec![a.clone(), b.clone(), c.clone()];
        // n1 renews what it has open; c is n2's and stays as it was.
        let mut renewed = store.renew_rooms(&n1, &open, 100).await.unwrap();
        renewed.sort();
        let mut mine = vec![a.clone(), b.clone()];
        mine.sort();
        assert_eq!(renewed, mine);
        assert_eq!(store.room_holder(&a, 50).await.unwrap(), Some(n1.clone()));
        assert_eq!(store.room_holder(&c, 50).await.unwrap(), None);
        // Released by its holder only.
        assert!(!store.release_room(&a, &n2).await.unwrap());
        assert!(store.release_room(&a, &n1).await.unwrap());
        assert_eq!(store.claim_room(&a, &n2, 50, 60).await.unwrap(), n2);
        // A node seen gone loses every claim at once.
        assert_eq!(store.release_node_rooms(&n1).await.unwrap(), 1);
        assert_eq!(store.claim_room(&b, &n2, 50, 60).await.unwrap(), n2);
        assert!(store.claim_room(&"x".repeat(300), &n1, 0, 1).await.is_err());
    }
}
