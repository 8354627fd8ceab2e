//! The query string of `GET /ws`: any bytes give a room and a resume point or a reason for a
//! `400`, never a panic; what parses names a valid room.
#![no_main]

use app::protocol::{parse_socket_query, RoomName};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Ok((room, after)) = parse_socket_query(&raw) {
        assert_eq!(RoomName::parse(room.as_str()).as_ref(), Ok(&room));
        if let Some(after) = after {
            assert_eq!(after.to_string().parse().ok(), Some(after));
        }
    }
});
