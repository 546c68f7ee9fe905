//! Writes the V4L2 bindings for one target: `v4l2-bindings-regen OUT.rs [CLANG_ARG...]`, the clang
//! arguments naming the target triple and its headers. The builder call is otherwise the upstream
//! v4l2-sys-mit 0.3.0 build script's.
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: v4l2-bindings-regen OUT.rs [CLANG_ARG...]");
        return ExitCode::from(2);
    };
    let header = concat!(env!("CARGO_MANIFEST_DIR"), "/../wrapper.h");
    let bindings = bindgen::Builder::default().header(header).clang_args(args).generate();
    match bindings.map_err(|e| e.to_string()).and_then(|b| b.write_to_file(&out).map_err(|e| e.to_string())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("v4l2-bindings-regen: {out}: {e}");
            ExitCode::FAILURE
        }
    }
}
