#![no_main]
// A whole Windows event log file (binary EVTX, as Sysmon writes it) in, events out.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pullwatch_fuzz::evtx(data));
