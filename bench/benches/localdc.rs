//! Local DC throughput: N connected, authorized sessions (default 1,000); S of them
//! (default 100) send `messages.sendMessage` to random others as fast as answers come back,
//! while every session receives its pushed updates. Prints calls/s and latency percentiles.
//!
//! `cargo bench --manifest-path bench/Cargo.toml --bench localdc [-- SESSIONS SENDERS SECONDS]`

use fleetgram_localdc::{Config, LocalDc};
use fleetgram_protocol::session::client::{Event, Session};
use fleetgram_protocol::transport::{Frame, Framer, Kind, Role};
use fleetgram_tl::{enums, functions, types, Serializable};
use rand::{Rng, RngCore, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

struct Conn {
    stream: TcpStream,
    framer: Framer,
    buf: Vec<u8>,
    session: Session,
}

impl Conn {
    async fn flush(&mut self) {
        let mut out = Vec::new();
        while let Some(p) = self.session.poll_transmit(now_ms(), &[7; 32]) {
            self.framer.encode(&p, false, &[], &mut out);
        }
        if !out.is_empty() {
            self.stream.write_all(&out).await.unwrap();
        }
    }

    /// Reads whatever arrives and feeds the session; false on EOF.
    async fn pump(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return false;
        }
        self.buf.extend_from_slice(&chunk[..n]);
        while let Some(d) = self.framer.decode(&self.buf).unwrap() {
            if let Frame::Payload { range, .. } = d.frame {
                let p = self.buf[range].to_vec();
                let _ = self.session.handle_incoming(&p, now_ms());
            }
            self.buf.drain(..d.consumed);
        }
        true
    }
}

fn send(peer: enums::InputPeer, text: &str) -> Vec<u8> {
    functions::messages::SendMessage {
        no_webpage: false,
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer,
        reply_to: None,
        message: text.into(),
        random_id: rand::thread_rng().gen(),
        reply_markup: None,
        entities: None,
        schedule_date: None,
        schedule_repeat_period: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        allow_paid_stars: None,
        suggested_post: None,
        rich_message: None,
    }
    .to_bytes()
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sessions = *args.first().unwrap_or(&1000);
    let senders = (*args.get(1).unwrap_or(&100)).min(sessions);
    let seconds = *args.get(2).unwrap_or(&10) as u64;
    let dc = LocalDc::start(Config::default()).await.unwrap();
    let addr = dc.info().dcs[0].addr;
    let control = dc.control();
    let users: Vec<i64> = (0..sessions)
        .map(|i| control.create_user(&format!("1999{i:07}"), &format!("U{i}"), "", 1))
        .collect();
    let mut conns = Vec::new();
    let setup = Instant::now();
    for &u in &users {
        let (key, salt) = control.authorize_new_key(u, 1);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        stream.write_all(&[0xef]).await.unwrap();
        let session = Session::new(key, rand::thread_rng().next_u64() as i64, salt, 0);
        conns.push(Conn {
            stream,
            framer: Framer::new(Kind::Abridged, Role::Client),
            buf: Vec::new(),
            session,
        });
    }
    println!(
        "{sessions} sessions connected in {:.2?}; {senders} senders for {seconds} s",
        setup.elapsed()
    );
    // Everyone says hello once so the DC knows which session acts for which user.
    for c in conns.iter_mut() {
        c.session
            .enqueue(functions::updates::GetState {}.to_bytes());
        c.flush().await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let mut latencies_tasks = Vec::new();
    let mut idle_tasks = Vec::new();
    for (i, mut c) in conns.into_iter().enumerate() {
        let stop = stop.clone();
        if i < senders {
            let calls = calls.clone();
            let users = users.clone();
            latencies_tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                // Wait for the getState answer first.
                'hello: loop {
                    while let Some(ev) = c.session.poll_event() {
                        if matches!(ev, Event::Result { .. }) {
                            break 'hello;
                        }
                    }
                    if !c.pump().await {
                        return lat;
                    }
                }
                let mut rng = rand::rngs::StdRng::from_entropy();
                while !stop.load(Ordering::Relaxed) {
                    let to = users[rng.gen_range(0..users.len())];
                    let peer: enums::InputPeer = if to == users[i] {
                        enums::InputPeer::InputPeerSelf
                    } else {
                        types::InputPeerUserFromMessage {
                            peer: enums::InputPeer::InputPeerSelf,
                            msg_id: 0,
                            user_id: to,
                        }
                        .into()
                    };
                    let t = Instant::now();
                    let id = c.session.enqueue(send(peer, "benchmark message"));
                    c.flush().await;
                    'wait: loop {
                        while let Some(ev) = c.session.poll_event() {
                            if let Event::Result { id: got, result } = ev {
                                if got == id {
                                    assert!(result.is_ok(), "{result:?}");
                                    break 'wait;
                                }
                            }
                        }
                        if !c.pump().await {
                            return lat;
                        }
                    }
                    lat.push(t.elapsed());
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                lat
            }));
        } else {
            idle_tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    tokio::select! {
                        alive = c.pump() => if !alive { break },
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                    while c.session.poll_event().is_some() {}
                    if c.session.acks_pending() > 16 {
                        c.flush().await;
                    }
                }
            }));
        }
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await; // warm-up
    let warm = calls.load(Ordering::Relaxed);
    let measured_from = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let done = calls.load(Ordering::Relaxed) - warm;
    let elapsed = measured_from.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<Duration> = Vec::new();
    for t in latencies_tasks {
        all.extend(t.await.unwrap());
    }
    for t in idle_tasks {
        t.abort();
    }
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "messages.sendMessage: {:.0} calls/s over {:.1?} ({} calls); latency p50 {:.2?}, p99 {:.2?}, max {:.2?} (total run {:.1?})",
        done as f64 / elapsed.as_secs_f64(),
        elapsed,
        done,
        pct(0.5),
        pct(0.99),
        all.last().copied().unwrap_or_default(),
        start.elapsed()
    );
    dc.shutdown().await;
}
