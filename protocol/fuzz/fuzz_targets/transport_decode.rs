//! Every framing, both roles, detection and obfuscated2 accept on arbitrary bytes.
#![no_main]
use fleetgram_protocol::transport::{detect::detect, obfuscated::server_accept, Framer, Kind, Role};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for kind in [Kind::Abridged, Kind::Intermediate, Kind::PaddedIntermediate, Kind::Full] {
        for role in [Role::Client, Role::Server] {
            let mut f = Framer::new(kind, role).with_max_frame(1 << 16);
            let mut buf = data;
            while let Ok(Some(d)) = f.decode(buf) {
                assert!(d.consumed > 0 && d.consumed <= buf.len());
                buf = &buf[d.consumed..];
            }
        }
    }
    let _ = detect(data);
    if let Some(h) = data.get(..64) {
        let _ = server_accept(h.try_into().unwrap(), None);
    }
});
