//! Message identifiers (<https://core.telegram.org/mtproto/description#message-identifier-msg-id>):
//! roughly `unixtime * 2^32`, strictly increasing per sender; client ids are divisible by 4,
//! server ids are 1 mod 4 for responses and 3 mod 4 otherwise.

/// Which residue mod 4 generated ids get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    /// Client messages: 0 mod 4.
    Client,
    /// Server responses: 1 mod 4.
    Response,
    /// Other server messages: 3 mod 4.
    ServerOther,
}

/// A monotonic msg_id generator with a correctable clock offset.
#[derive(Debug, Clone, Default)]
pub struct MsgIdGen {
    last: i64,
    offset_ms: i64,
}

impl MsgIdGen {
    /// A generator with no offset.
    pub fn new() -> Self {
        Self::default()
    }

    /// The offset added to the local clock, milliseconds.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    /// Sets the clock offset (from the handshake's `server_time - now`, seconds).
    pub fn set_offset_secs(&mut self, secs: i32) {
        self.offset_ms = secs as i64 * 1000;
    }

    /// Corrects the offset from a server msg_id received at local time `now_ms`
    /// (after `bad_msg_notification` 16/17).
    ///
    /// Ids keep rising even when the correction moves the clock back (the spec wants them
    /// strictly increasing within a session): until the corrected clock passes the last id
    /// issued, each new id is the last one plus 4. See [`MsgIdGen::ahead_ms`].
    pub fn correct_from(&mut self, server_msg_id: i64, now_ms: i64) {
        let server_ms =
            (server_msg_id >> 32) * 1000 + (((server_msg_id & 0xffff_ffff) * 1000) >> 32);
        self.offset_ms = server_ms - now_ms;
    }

    /// How far (ms) the last id issued is ahead of the corrected clock at `now_ms`: after a
    /// large correction backwards, ids stay ahead of what the server accepts until the clock
    /// catches up, and a session should start afresh (new session id, ids from the clock).
    pub fn ahead_ms(&self, now_ms: i64) -> i64 {
        let last_ms = (self.last >> 32) * 1000 + (((self.last & 0xffff_ffff) * 1000) >> 32);
        last_ms - (now_ms + self.offset_ms)
    }

    /// Forgets the ids issued (a new session: ids start from the clock again).
    pub fn restart(&mut self) {
        self.last = 0;
    }

    fn raw(ms: i64) -> i64 {
        let secs = ms.div_euclid(1000);
        let frac = ms.rem_euclid(1000);
        (secs << 32) | ((frac << 32) / 1000)
    }

    /// The next id at local time `now_ms`.
    pub fn next(&mut self, now_ms: i64, parity: Parity) -> i64 {
        let want = match parity {
            Parity::Client => 0,
            Parity::Response => 1,
            Parity::ServerOther => 3,
        };
        let mut id = (Self::raw(now_ms + self.offset_ms) & !3) | want;
        if id <= self.last {
            id = ((self.last + 4) & !3) | want;
        }
        self.last = id;
        id
    }
}

/// The Unix time (seconds) a msg_id claims.
pub fn secs_of(msg_id: i64) -> i64 {
    msg_id >> 32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_with_parity() {
        let mut g = MsgIdGen::new();
        let mut last = 0;
        for i in 0..1000 {
            let id = g.next(1_700_000_000_000 + i / 10, Parity::Client);
            assert!(id > last && id % 4 == 0);
            last = id;
        }
        assert_eq!(secs_of(last), 1_700_000_000);
        let mut s = MsgIdGen::new();
        assert_eq!(s.next(1_700_000_000_000, Parity::Response) % 4, 1);
        assert_eq!(s.next(1_700_000_000_000, Parity::ServerOther) % 4, 3);
    }

    #[test]
    fn ids_never_go_back_after_a_correction_backwards() {
        let mut g = MsgIdGen::new();
        let before = g.next(1_700_000_100_000, Parity::Client);
        // The server is 100 s behind us.
        let server = MsgIdGen::new().next(1_700_000_000_000, Parity::Response);
        g.correct_from(server, 1_700_000_100_000);
        let after = g.next(1_700_000_100_001, Parity::Client);
        assert!(after > before, "{after:x} <= {before:x}");
        assert!(g.ahead_ms(1_700_000_100_001) > 99_000);
        g.restart();
        assert_eq!(
            secs_of(g.next(1_700_000_100_001, Parity::Client)),
            1_700_000_000
        );
    }

    #[test]
    fn offset_correction() {
        let mut g = MsgIdGen::new();
        let server = MsgIdGen::new().next(1_700_000_100_000, Parity::Response);
        g.correct_from(server, 1_700_000_000_000);
        assert!((g.offset_ms() - 100_000).abs() < 2);
        let id = g.next(1_700_000_000_000, Parity::Client);
        assert_eq!(secs_of(id), 1_700_000_100);
    }
}
