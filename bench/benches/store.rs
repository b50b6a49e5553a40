//! What one acknowledgement costs the store (issue 18: "a commit writes what changed, not
//! the whole state"), for accounts that follow few and many channels, on sled:
//!
//! - `save_updates`: what the engine writes now (the common state, the channels that moved);
//! - the whole record, as before: the account's state cloned, serialized and inserted (the
//!   former `save_lazy` after `update_state_lazy`), on a sled database of its own.
//!
//! `cargo bench --manifest-path bench/Cargo.toml --bench store [-- N]`

use fleetgram_engine::store::{
    AccountState, DcState, SessionStore, SledStore, UpdateCommit, UpdateState,
};
use std::time::Instant;

fn account(channels: usize) -> AccountState {
    let mut st = AccountState::new(2);
    for dc in 1..=5 {
        st.dcs.insert(
            dc,
            DcState {
                auth_key: Some(vec![dc as u8; 256]),
                salt: 7,
                time_offset: 0,
                authorized: true,
            },
        );
    }
    st.user_id = Some(1_000_001);
    st.updates = Some(UpdateState::default());
    for c in 0..channels {
        st.channels.insert(1_000 + c as i64, 1);
    }
    st
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let dir = std::env::temp_dir().join(format!("fleetgram-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    println!("update commit per acknowledgement, sled, {n} acks (one channel post each):");
    for channels in [10usize, 1_000] {
        let store = SledStore::open(dir.join(format!("new-{channels}"))).unwrap();
        let mut st = account(channels);
        store.save("a", &st).unwrap();
        let start = Instant::now();
        for i in 0..n {
            let c = UpdateCommit {
                common: Some(UpdateState {
                    pts: i as i32,
                    ..UpdateState::default()
                }),
                channels: vec![((1_000 + i % channels) as i64, Some(i as i32 + 2))],
            }
            .apply(&mut st);
            store.save_updates("a", &c).unwrap();
        }
        let new = start.elapsed() / n as u32;
        assert_eq!(store.load("a").unwrap().as_ref(), Some(&st));

        // As before: the whole state, cloned, serialized and inserted each time.
        let db = sled::open(dir.join(format!("old-{channels}"))).unwrap();
        let tree = db.open_tree("accounts").unwrap();
        let mut st = account(channels);
        let start = Instant::now();
        for i in 0..n {
            st.updates = Some(UpdateState {
                pts: i as i32,
                ..UpdateState::default()
            });
            *st.channels
                .get_mut(&((1_000 + i % channels) as i64))
                .unwrap() = i as i32 + 2;
            let snapshot = st.clone();
            tree.insert("a", serde_json::to_vec(&snapshot).unwrap())
                .unwrap();
        }
        let old = start.elapsed() / n as u32;
        println!(
            "  account in {channels:>5} channels: {:>8.2} us per ack (whole record, as before: {:>8.2} us)",
            new.as_secs_f64() * 1e6,
            old.as_secs_f64() * 1e6
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
