//! Feeds arbitrary bytes to the frame decoder, whole and in pieces. It must never panic or
//! allocate beyond the frame limit, and anything it accepts must re-encode to a frame that
//! decodes to the same message.
//!
//! Run with (see docs/testing.md): `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run frame_decoder`
#![no_main]

use gm_proto::{FrameCodec, FrameReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let codec = FrameCodec::new(64 * 1024);
    if let Ok(Some((msg, used))) = codec.decode(data) {
        assert!(used <= data.len());
        let mut again = Vec::new();
        codec.encode(&msg, &mut again).expect("a decoded message re-encodes");
        let (back, _) = codec.decode(&again).unwrap().unwrap();
        assert_eq!(back, msg);
    }
    let _ = FrameCodec::peek_hello_version(data);

    // The same bytes as a stream, split at a point taken from the input.
    let split = data.first().map_or(0, |b| *b as usize % (data.len() + 1));
    let mut reader = FrameReader::new(codec);
    for piece in [&data[..split], &data[split..]] {
        reader.push(piece);
        loop {
            match reader.next_message() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        assert!(reader.buffered() <= data.len());
    }
});
