//! A minimal MTProto client for the local DC's tests, built directly on `fleetgram-protocol`
//! (the engine's client is tested separately).

pub mod accounts;

use fleetgram_protocol::crypto::rsa::RsaPublicKey;
use fleetgram_protocol::handshake::{self, Outcome, Params};
use fleetgram_protocol::session::client::{Event, Session};
use fleetgram_protocol::session::{plain, RpcError};
use fleetgram_protocol::transport::obfuscated::{client_header, Decryptor, Encryptor};
use fleetgram_protocol::transport::{ErrorCode, Frame, Framer, Kind, Role};
use rand::RngCore;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

pub struct Wire {
    stream: TcpStream,
    framer: Framer,
    enc: Option<Encryptor>,
    dec: Option<Decryptor>,
    buf: Vec<u8>,
    /// Quick-ack tokens received, in order.
    pub quick_acks: Vec<u32>,
}

impl Wire {
    pub async fn connect(addr: SocketAddr, kind: Kind, obfuscated: bool) -> Wire {
        let stream = TcpStream::connect(addr).await.unwrap();
        Self::over(stream, kind, obfuscated).await
    }

    /// A plain connection whose receive buffer is small (a client that stops reading
    /// fills it quickly).
    #[allow(dead_code)] // used by some test binaries only
    pub async fn connect_small(addr: SocketAddr, kind: Kind) -> Wire {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        Self::over(stream, kind, false).await
    }

    async fn over(mut stream: TcpStream, kind: Kind, obfuscated: bool) -> Wire {
        let (enc, dec) = if obfuscated {
            let (header, obf) = client_header(kind, None, None, &mut |b: &mut [u8]| {
                rand::thread_rng().fill_bytes(b)
            });
            stream.write_all(&header).await.unwrap();
            let (e, d) = obf.split();
            (Some(e), Some(d))
        } else {
            stream.write_all(kind.plain_prefix()).await.unwrap();
            (None, None)
        };
        Wire {
            stream,
            framer: Framer::new(kind, Role::Client),
            enc,
            dec,
            buf: Vec::new(),
            quick_acks: Vec::new(),
        }
    }

    #[allow(dead_code)] // used by some test binaries only
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    pub async fn send(&mut self, payload: &[u8]) {
        self.send_framed(payload, false).await;
    }

    /// Sends a payload, asking for a quick ack if `quick_ack`.
    pub async fn send_framed(&mut self, payload: &[u8], quick_ack: bool) {
        let mut out = Vec::new();
        self.framer.encode(payload, quick_ack, &random(3), &mut out);
        if let Some(e) = &mut self.enc {
            e.apply(&mut out);
        }
        self.stream.write_all(&out).await.unwrap();
    }

    /// Sends a payload; `false` if the connection is closed.
    #[allow(dead_code)] // used by some test binaries only
    pub async fn try_send(&mut self, payload: &[u8]) -> bool {
        let mut out = Vec::new();
        self.framer.encode(payload, false, &[], &mut out);
        if let Some(e) = &mut self.enc {
            e.apply(&mut out);
        }
        self.stream.write_all(&out).await.is_ok()
    }

    /// Reads (and discards) until the server closes the connection.
    #[allow(dead_code)] // used by some test binaries only
    pub async fn drain_to_eof(&mut self) {
        let mut chunk = vec![0u8; 1 << 16];
        while let Ok(n) = self.stream.read(&mut chunk).await {
            if n == 0 {
                break;
            }
        }
    }

    /// The next payload; `Err(code)` for a transport error; `Err(None)` when the server closed.
    pub async fn recv(&mut self) -> Result<Vec<u8>, Option<ErrorCode>> {
        loop {
            if let Some(d) = self.framer.decode(&self.buf).expect("valid frames") {
                let frame = d.frame;
                let out = match frame {
                    Frame::Payload { range, .. } => Ok(self.buf[range].to_vec()),
                    Frame::Error(code) => Err(Some(code)),
                    Frame::QuickAck(t) => {
                        self.quick_acks.push(t);
                        self.buf.drain(..d.consumed);
                        continue;
                    }
                };
                self.buf.drain(..d.consumed);
                return out;
            }
            let mut chunk = vec![0u8; 65536];
            let n =
                match tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
                    .await
                {
                    Ok(Ok(n)) => n,
                    Ok(Err(_)) => 0,
                    Err(_) => panic!("timed out waiting for the server"),
                };
            if n == 0 {
                return Err(None);
            }
            let mut data = chunk[..n].to_vec();
            if let Some(d) = &mut self.dec {
                d.apply(&mut data);
            }
            self.buf.extend_from_slice(&data);
        }
    }
}

pub struct Client {
    pub wire: Wire,
    pub session: Session,
    /// Events that arrived while waiting for an answer (updates, notices), in order.
    pub stash: std::collections::VecDeque<Event>,
}

impl Client {
    /// Connects and creates an auth key.
    pub async fn connect(
        addr: SocketAddr,
        dc: i32,
        key: &RsaPublicKey,
        kind: Kind,
        obfuscated: bool,
        temp: Option<i32>,
    ) -> Client {
        let mut wire = Wire::connect(addr, kind, obfuscated).await;
        let (c, session) = Self::handshake(&mut wire, dc, key, temp).await;
        let _ = c;
        Client {
            wire,
            session,
            stash: Default::default(),
        }
    }

    pub async fn handshake(
        wire: &mut Wire,
        dc: i32,
        key: &RsaPublicKey,
        temp: Option<i32>,
    ) -> (handshake::Finished, Session) {
        let mut msg_id = (now_ms() / 1000) << 32;
        let mut hop = async |wire: &mut Wire, body: &[u8]| -> Vec<u8> {
            msg_id += 4;
            wire.send(&plain::wrap(msg_id, body)).await;
            let reply = wire.recv().await.expect("handshake answer");
            plain::unwrap(&reply).unwrap().1.to_vec()
        };
        let (m1, s1) = handshake::step1(&random(16).try_into().unwrap());
        let a1 = hop(wire, &m1).await;
        let (m2, s2) = handshake::step2(
            s1,
            &a1,
            std::slice::from_ref(key),
            Params {
                dc: Some(dc),
                temp_expires_in: temp,
            },
            &random(256),
        )
        .unwrap();
        let a2 = hop(wire, &m2).await;
        let (m3, s3) = handshake::step3(s2, &a2, &random(272), (now_ms() / 1000) as i32).unwrap();
        let a3 = hop(wire, &m3).await;
        let Outcome::Done(done) = handshake::finish(s3, &a3).unwrap() else {
            panic!("dh_gen_retry")
        };
        let session = Session::new(
            done.auth_key.clone(),
            rand::thread_rng().next_u64() as i64,
            done.first_salt,
            done.time_offset,
        );
        (done, session)
    }

    /// Sends a request and waits for its answer (updates and service messages are consumed).
    pub async fn call(&mut self, body: Vec<u8>) -> Result<Vec<u8>, RpcError> {
        let id = self.session.enqueue(body);
        self.wait(id).await
    }

    /// Waits for the answer to a queued request.
    pub async fn wait(
        &mut self,
        id: fleetgram_protocol::session::client::RequestId,
    ) -> Result<Vec<u8>, RpcError> {
        loop {
            while let Some(p) = self.session.poll_transmit(now_ms(), &random(32)) {
                self.wire.send(&p).await;
            }
            while let Some(ev) = self.session.poll_event() {
                match ev {
                    Event::Result { id: got, result } if got == id => return result,
                    Event::Result { .. } => {}
                    other => self.stash.push_back(other),
                }
            }
            let p = self
                .wire
                .recv()
                .await
                .unwrap_or_else(|e| panic!("connection lost: {e:?}"));
            self.session
                .handle_incoming(&p, now_ms())
                .expect("valid message");
        }
    }

    /// Like [`Client::call`], decoding the result.
    pub async fn invoke<R: fleetgram_tl::RemoteCall>(
        &mut self,
        req: &R,
    ) -> Result<R::Return, RpcError> {
        let bytes = self.call(fleetgram_tl::Serializable::to_bytes(req)).await?;
        Ok(<R::Return as fleetgram_tl::Deserializable>::from_bytes(&bytes).expect("valid result"))
    }
}
