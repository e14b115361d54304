//! One REST request body of the type the first byte picks; the properties are `parley_proto::fuzzing`'s.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    if let Err(violation) = parley_proto::fuzzing::check_rest_body(input) {
        panic!("{violation}");
    }
});
