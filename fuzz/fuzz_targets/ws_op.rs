//! One WebSocket text frame, decoded as a client op; the properties are `parley_proto::fuzzing`'s.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    if let Err(violation) = parley_proto::fuzzing::check_ws_op(input) {
        panic!("{violation}");
    }
});
