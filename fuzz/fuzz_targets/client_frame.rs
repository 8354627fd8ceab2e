//! A client frame, as the server reads it: any bytes either decode to a frame the protocol
//! defines or are refused with a reason (`bad_frame`, `invalid_text`, `invalid_reaction`...),
//! never a panic; a frame that decodes survives a round trip, and what its error would name
//! (`client_id`, `id`) is read from anything.
#![no_main]

use app::protocol::{client_id_of, target_of, ClientMsg, Emoji, Said};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // the WebSocket layer only hands over UTF-8 text frames
    };
    let _ = client_id_of(text);
    let _ = target_of(text);
    if let Ok(frame) = serde_json::from_str::<ClientMsg>(text) {
        let again = serde_json::to_string(&frame).expect("a frame serializes");
        assert_eq!(
            serde_json::from_str::<ClientMsg>(&again).ok(),
            Some(frame.clone())
        );
        match frame {
            ClientMsg::Send { text, .. } | ClientMsg::Edit { text, .. } => {
                let _ = Said::parse(&text);
            }
            ClientMsg::React { emoji, .. } => {
                let _ = Emoji::parse(&emoji);
            }
            _ => {}
        }
    }
});
