#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pullwatch_fuzz::prefilter(data));
