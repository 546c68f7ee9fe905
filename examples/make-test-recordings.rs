//! Writes the test recordings (see `tests/util/recordings.rs`) for a look by hand:
//! `cargo run --example make-test-recordings -- [OUT]` (default `target/test-recordings`).

#[allow(dead_code)]
#[path = "../tests/util/recordings.rs"]
mod recordings;

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "target/test-recordings".into());
    let Some(shared) = recordings::shared_root() else {
        eprintln!("make-test-recordings: ../shared/datasets not found next to the project");
        std::process::exit(2);
    };
    for m in recordings::make_all(&shared, std::path::Path::new(&out)) {
        println!("{}  expected: {}", m.dir.display(), m.expected);
    }
}
