#![no_main]
// See petcam::fuzzing::image_file for the input layout.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = petcam::fuzzing::image_file(data);
});
