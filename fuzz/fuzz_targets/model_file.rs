#![no_main]
// See petcam::fuzzing::model_file for the input layout.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = petcam::fuzzing::model_file(data);
});
