//! Raw V4L2 kernel bindings, the API of crates.io's `v4l2-sys-mit` 0.3.0, without bindgen at build
//! time.
//!
//! Each file in `src/bindings/` is bindgen 0.65.1's output for `wrapper.h` (`<linux/videodev2.h>`)
//! on one target, made by `scripts/regen-v4l2-bindings.sh` from Debian 12's kernel headers (6.1):
//! the same builder call as the upstream crate's build script, with the target's clang triple and
//! sysroot. The layout tests bindgen writes beside every struct run with this crate's tests
//! (`cargo test -p v4l2-sys-mit`, and under qemu for the ARM targets in CI), so a file used on a
//! target whose struct layout differs fails there instead of corrupting ioctl arguments.
#![allow(clippy::all)]
#![allow(deref_nullptr)]
#![allow(non_camel_case_types)]
#![allow(non_snake_case)]
#![allow(non_upper_case_globals)]
#![allow(unknown_lints)]
#![allow(unnecessary_transmutes)]

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
include!("bindings/x86_64-linux.rs");

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
include!("bindings/aarch64-linux.rs");

#[cfg(all(target_os = "linux", target_arch = "arm"))]
include!("bindings/armv7-linux.rs");

#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "arm"))))]
compile_error!("v4l2-sys-mit (petcam's copy) has bindings for x86_64, aarch64 and armv7 Linux only: add the target to scripts/regen-v4l2-bindings.sh");
