//! The Pi install paths agree with each other: the .deb's file list (Cargo.toml
//! `[package.metadata.deb]`), the systemd unit, the postinst and the app's own defaults.

use crate::util::root;

fn deb_metadata() -> toml::Value {
    let manifest: toml::Value = std::fs::read_to_string(root().join("Cargo.toml")).unwrap().parse().unwrap();
    manifest["package"]["metadata"]["deb"].clone()
}

/// (source, destination) of every asset.
fn assets() -> Vec<(String, String)> {
    deb_metadata()["assets"].as_array().unwrap().iter().map(|a| (a[0].as_str().unwrap().to_string(), a[1].as_str().unwrap().to_string())).collect()
}

#[test]
fn deb_ships_files_that_exist_and_the_model_the_app_looks_for() {
    for (src, _) in assets().iter().filter(|(s, _)| !s.starts_with("target/")) {
        assert!(root().join(src).is_file(), "Cargo.toml [package.metadata.deb] names {src}, which does not exist");
    }
    // The app's default model path on the device is /usr/share/petcam/<file>: the int8 model on
    // an aarch64 Pi, the f32 one elsewhere (armv7, x86_64).
    for file in [petcam::config::DEFAULT_MODEL_FILE, petcam::config::INT8_MODEL_FILE] {
        let model = format!("models/{file}");
        assert!(assets().iter().any(|(s, d)| *s == model && d == "usr/share/petcam/"), "the .deb must ship {model} to /usr/share/petcam/");
    }
    assert!(assets().iter().any(|(s, d)| s == "target/release/petcam" && d == "usr/bin/"));
    let conf = deb_metadata()["conf-files"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert!(conf.contains(&"/etc/petcam.toml".to_string()), "user edits to /etc/petcam.toml must survive upgrades");
}

#[test]
fn unit_starts_the_packaged_binary_and_postinst_makes_its_user() {
    let meta = deb_metadata();
    let units = &meta["systemd-units"];
    let dir = root().join(units["unit-scripts"].as_str().unwrap());
    let unit = std::fs::read_to_string(dir.join(format!("{}.service", units["unit-name"].as_str().unwrap()))).unwrap();
    assert!(unit.lines().any(|l| l == "ExecStart=/usr/bin/petcam run --config /etc/petcam.toml"), "{unit}");
    let user = unit.lines().find_map(|l| l.strip_prefix("User=")).expect("the unit runs as a named user");
    let postinst_path = root().join(meta["maintainer-scripts"].as_str().unwrap()).join("postinst");
    let postinst = std::fs::read_to_string(&postinst_path).unwrap();
    assert!(postinst.contains("#DEBHELPER#"), "cargo-deb inserts the systemd enable/start snippet there");
    assert!(postinst.contains("useradd --system --user-group") && postinst.contains(&format!(" {user}\n")), "{postinst}");
    for g in unit.lines().find_map(|l| l.strip_prefix("SupplementaryGroups=")).unwrap().split_whitespace() {
        assert!(postinst.contains(g), "postinst must create group {g}");
    }
    use std::os::unix::fs::PermissionsExt;
    assert!(std::fs::metadata(&postinst_path).unwrap().permissions().mode() & 0o111 != 0, "postinst must be executable");
}
