#![no_main]
// See petcam::fuzzing::camera_frame for the input layout.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = petcam::fuzzing::camera_frame(data);
});
