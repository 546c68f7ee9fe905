#![no_main]
// See petcam::fuzzing::recording for the input layout.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = petcam::fuzzing::recording(data);
});
