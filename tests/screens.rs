//! Every screen at two panel sizes (ST7789 240x240, ILI9341 320x240), compared with committed
//! golden PNGs in tests/golden/. Regenerate with `PETCAM_BLESS=1 cargo test screens` and look at
//! them; on a mismatch the new rendering is written next to the diff in target/golden-diff/.

use petcam::ui::{render, Canvas, Overlay, Screen};

fn preview() -> image::RgbImage {
    image::RgbImage::from_fn(160, 120, |x, y| image::Rgb([(x * 255 / 160) as u8, (y * 255 / 120) as u8, 128]))
}

fn screens() -> Vec<(&'static str, Screen, Overlay)> {
    // The pet found right of centre: the classified square is outlined on the preview.
    let with = Overlay { preview: Some(preview()), region: Some(petcam::preprocess::Rect { x: 70, y: 30, width: 72, height: 72 }), fps: Some(9.7) };
    let top = vec![("Beagle".to_string(), 0.982), ("Basset Hound".to_string(), 0.011), ("English Foxhound Long Name".to_string(), 0.004)];
    vec![
        ("breed", Screen::Breed { name: "Beagle".into(), probability: 0.982, top: top.clone() }, with.clone()),
        (
            "breed-long-name",
            Screen::Breed {
                name: "American Pit Bull Terrier".into(),
                probability: 0.47,
                top: vec![("American Pit Bull Terrier".into(), 0.47), ("Staffordshire Bull Terrier".into(), 0.41), ("American Bulldog".into(), 0.05)],
            },
            with.clone(),
        ),
        ("not-sure", Screen::NotSure { top: vec![("Bengal".into(), 0.22), ("Egyptian Mau".into(), 0.19), ("Abyssinian".into(), 0.11)] }, with.clone()),
        ("no-pet", Screen::NoPet { confidence: 0.93 }, with.clone()),
        ("error", Screen::Error { title: "Camera problem".into(), message: "/dev/video0: capture failed: No such device (os error 19) (will reopen)".into() }, Overlay::default()),
        ("starting", Screen::Starting { model: "/usr/share/petcam/petcam-effnet-lite0-96-f32.onnx".into() }, Overlay::default()),
    ]
}

#[test]
fn screens_match_golden_pngs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let diff_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/golden-diff");
    let bless = std::env::var_os("PETCAM_BLESS").is_some();
    let mut failures = vec![];
    for (w, h) in [(240, 240), (320, 240)] {
        for (name, screen, overlay) in screens() {
            let mut c = Canvas::new(w, h);
            render(&mut c, &screen, &overlay);
            let img = c.to_image();
            let file = format!("{name}-{w}x{h}.png");
            let golden = dir.join(&file);
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                img.save(&golden).unwrap();
                continue;
            }
            let Ok(want) = image::open(&golden).map(|i| i.to_rgb8()) else {
                failures.push(format!("{file}: golden missing (run with PETCAM_BLESS=1)"));
                continue;
            };
            if want != img {
                std::fs::create_dir_all(&diff_dir).unwrap();
                img.save(diff_dir.join(&file)).unwrap();
                let diff = image::RgbImage::from_fn(w, h, |x, y| if want.get_pixel(x, y) == img.get_pixel(x, y) { image::Rgb([0, 0, 0]) } else { image::Rgb([255, 0, 255]) });
                diff.save(diff_dir.join(format!("{name}-{w}x{h}-diff.png"))).unwrap();
                failures.push(format!("{file}: differs (see {})", diff_dir.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn text_stays_inside_the_screen() {
    // Nothing is drawn in the outermost column or row of pixels except the status bar band and the
    // error banner: long names shrink or wrap instead of running off the edge.
    for (w, h) in [(240, 240), (320, 240)] {
        for (name, screen, overlay) in screens() {
            let mut c = Canvas::new(w, h);
            render(&mut c, &screen, &overlay);
            let img = c.to_image();
            let bg = *img.get_pixel(w - 1, h - 1);
            for y in 60..h {
                for x in [0, w - 1] {
                    assert_eq!(*img.get_pixel(x, y), bg, "{name} {w}x{h}: edge pixel ({x},{y}) drawn on");
                }
            }
        }
    }
}
