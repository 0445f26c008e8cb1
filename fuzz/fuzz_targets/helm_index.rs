#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| updatebot_fuzz::entries::helm_index(data));
