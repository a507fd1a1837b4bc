#![no_main]
// One file for every decoder target: the target's name is the format it fuzzes.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pullwatch_fuzz::decoder_named(env!("CARGO_BIN_NAME"), data)
});
