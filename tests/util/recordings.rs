//! Test recordings made from the shared photos (`../shared/datasets`) at test time, never
//! committed: pets placed as a camera would see them over empty-room backgrounds, empty rooms,
//! people and other animals, and a pet entering an empty scene. Deterministic (fixed seeds).
//! `scripts/make-test-recordings.sh` runs the same code to write them for inspection.

use petcam::frame::{self, Frame, PixelFormat};
use petcam::scene::{self, Look, Placement, Rng};
use petcam::source::recording::RecordingWriter;
use std::path::{Path, PathBuf};

pub const W: u32 = 640;
pub const H: u32 = 480;
/// Frame interval of the made-up camera (10 fps).
pub const FRAME_MS: u64 = 100;

pub struct Made {
    pub dir: PathBuf,
    /// A breed label, or `no_pet`.
    pub expected: String,
    /// For the pet-enters recordings: index of the first frame with the pet.
    pub enters_at: Option<usize>,
    /// For the small pets: where the pet's centre is in each frame (pixels; `None` before it enters).
    pub pet_track: Vec<Option<(u32, u32)>>,
}

/// Splits one CSV line, honouring double quotes.
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    out.push(cur);
    out
}

fn read(path: &Path) -> image::RgbImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

/// The shared data folder, if present.
pub fn shared_root() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets");
    (p.join("pets/manifest.csv").is_file() && p.join("no-pets/manifest.csv").is_file()).then_some(p)
}

/// Breeds used for pet recordings (cats and dogs), one Oxford test photo each.
pub const BREEDS: [&str; 8] = ["Abyssinian", "Bombay", "Siamese", "Sphynx", "Maine_Coon", "great_pyrenees", "american_bulldog", "pug"];

/// The `nth` Oxford test photo of `breed`, preferring unsquashed (`jpg-orig`) ones.
fn test_photo(manifest: &str, breed: &str, nth: usize) -> Option<String> {
    let rows: Vec<Vec<String>> = manifest.lines().skip(1).map(csv_fields).filter(|f| f.len() >= 8 && f[1] == breed && f[7] == "test" && f[0].starts_with("oxford-iiit-pet/")).collect();
    let orig: Vec<&Vec<String>> = rows.iter().filter(|f| f[5] == "jpg-orig").collect();
    let pool: Vec<&Vec<String>> = if orig.len() > nth { orig } else { rows.iter().collect() };
    pool.get(nth).map(|f| f[0].clone())
}

fn write(dir: &Path, fmt: PixelFormat, frames: &[image::RgbImage], expected: &str, note: &str) {
    let _ = std::fs::remove_dir_all(dir);
    let mut w = RecordingWriter::create(dir, fmt, W, H, "tests/util/recordings.rs").unwrap();
    w.set_expected(Some(expected.to_string()), note);
    for (i, img) in frames.iter().enumerate() {
        let data = match fmt {
            PixelFormat::Mjpeg => frame::encode_jpeg(img, 80),
            PixelFormat::Yuyv => frame::rgb_to_yuyv(img),
            PixelFormat::Rgb24 => img.as_raw().clone(),
        };
        w.push(&Frame { format: fmt, width: W, height: H, data, timestamp_ms: i as u64 * FRAME_MS }).unwrap();
    }
    w.finish().unwrap();
}

/// Writes every test recording under `out` (replacing old ones) and lists them.
pub fn make_all(shared: &Path, out: &Path) -> Vec<Made> {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
    let pets_manifest = std::fs::read_to_string(shared.join("pets/manifest.csv")).unwrap();
    let nopets_manifest = std::fs::read_to_string(shared.join("no-pets/manifest.csv")).unwrap();
    // (file, category) of no-pet test photos
    let nopets: Vec<(String, String)> = nopets_manifest.lines().skip(1).map(csv_fields).filter(|f| f.len() >= 4 && f[1] == "test").map(|f| (f[0].clone(), f[3].clone())).collect();
    let find = |pred: &dyn Fn(&str) -> bool| -> Vec<PathBuf> { nopets.iter().filter(|(_, c)| pred(c)).map(|(f, _)| shared.join("no-pets").join(f)).collect() };
    let rooms = find(&|c| c.contains("room"));
    assert!(rooms.len() >= 2, "no room photos in the no-pets test split");
    let backgrounds: Vec<image::RgbImage> = rooms.iter().map(|p| scene::background(Some(&read(p)), W, H)).collect();
    let mut made = vec![];

    for (k, breed) in BREEDS.iter().enumerate() {
        let photo = test_photo(&pets_manifest, breed, 0).unwrap_or_else(|| panic!("no Oxford test photo of {breed}"));
        let pet = read(&shared.join("pets").join(&photo));
        let mut rng = Rng::new(1000 + k as u64);
        let place = Placement::random(&mut rng);
        let look = Look::random(&mut rng);
        let bg = &backgrounds[k % backgrounds.len()];
        let frames: Vec<_> = (0..8)
            .map(|i| {
                // The pet moves a little between frames, as pets do.
                let p = Placement { centre_x: place.centre_x + 0.01 * (i as f32 - 4.0), ..place };
                scene::compose(bg, Some((&pet, p)), &look, &mut rng)
            })
            .collect();
        let fmt = if k % 3 == 2 { PixelFormat::Yuyv } else { PixelFormat::Mjpeg };
        let dir = out.join(format!("pet-{}", breed.to_lowercase()));
        write(&dir, fmt, &frames, breed, &format!("{photo} over a room, {:.0}% of frame height", place.height_frac * 100.0));
        made.push(Made { dir, expected: breed.to_string(), enters_at: None, pet_track: vec![] });
    }

    // Empty scenes and things that are not pets: a room, people, other animals.
    let mut empties: Vec<(String, PathBuf)> = vec![("empty-room".into(), rooms[0].clone())];
    for (name, pat) in [("person", "face/people"), ("hare", "imagenet:hare"), ("rabbit", "imagenet:Angora"), ("horse", "jetson:horse")] {
        if let Some(p) = find(&|c| c.contains(pat)).first() {
            empties.push((name.to_string(), p.clone()));
        }
    }
    for (k, (name, path)) in empties.iter().enumerate() {
        let mut rng = Rng::new(2000 + k as u64);
        let look = Look::random(&mut rng);
        let bg = scene::background(Some(&read(path)), W, H);
        let frames: Vec<_> = (0..8).map(|_| scene::compose(&bg, None, &look, &mut rng)).collect();
        let dir = out.join(format!("nopet-{name}"));
        write(&dir, if k % 2 == 0 { PixelFormat::Mjpeg } else { PixelFormat::Yuyv }, &frames, "no_pet", &format!("{} filling the frame", path.file_name().unwrap().to_string_lossy()));
        made.push(Made { dir, expected: "no_pet".into(), enters_at: None, pet_track: vec![] });
    }

    // A pet walks into an empty room: 10 empty frames, then 15 with the pet.
    let breed = "pug";
    let photo = test_photo(&pets_manifest, breed, 0).expect("a pug test photo");
    let pet = read(&shared.join("pets").join(&photo));
    let mut rng = Rng::new(3000);
    let look = Look::random(&mut rng);
    let bg = &backgrounds[1 % backgrounds.len()];
    let frames: Vec<_> = (0..25)
        .map(|i| {
            let subject = (i >= 10).then(|| (&pet, Placement { height_frac: 0.8, centre_x: (0.2 + 0.04 * (i as f32 - 10.0)).min(0.5), centre_y: 0.5 }));
            scene::compose(bg, subject, &look, &mut rng)
        })
        .collect();
    let dir = out.join("pet-enters");
    write(&dir, PixelFormat::Mjpeg, &frames, breed, &format!("empty room, then {photo} walks in at frame 11"));
    made.push(Made { dir, expected: breed.into(), enters_at: Some(10), pet_track: vec![] });

    // Small pets off-centre, as a kiosk camera sees a pet across the room: 40-45% of the frame
    // height, in a side third of the frame, where the centre square misses most of it.
    for (k, breed) in SMALL_BREEDS.iter().enumerate() {
        let photo = test_photo(&pets_manifest, breed, 1).unwrap_or_else(|| panic!("no second Oxford test photo of {breed}"));
        let pet = read(&shared.join("pets").join(&photo));
        let mut rng = Rng::new(4000 + k as u64);
        let look = Look::random(&mut rng);
        let bg = &backgrounds[k % backgrounds.len()];
        let place = Placement { height_frac: 0.42, centre_x: if k % 2 == 0 { 0.2 } else { 0.8 }, centre_y: if k % 3 == 0 { 0.35 } else { 0.6 } };
        let at = |i: usize| Placement { centre_x: place.centre_x + 0.004 * i as f32, ..place };
        let frames: Vec<_> = (0..10).map(|i| scene::compose(bg, Some((&pet, at(i))), &look, &mut rng)).collect();
        let dir = out.join(format!("small-{}", breed.to_lowercase()));
        write(&dir, PixelFormat::Mjpeg, &frames, breed, &format!("{photo}, small ({:.0}% of frame height) at x = {:.0}%", place.height_frac * 100.0, place.centre_x * 100.0));
        let pet_track = (0..10).map(|i| Some(centre_of(at(i)))).collect();
        made.push(Made { dir, expected: breed.to_string(), enters_at: None, pet_track });
    }

    // A small pet walks in along the far side of the room: 8 empty frames, then 17 with the pet
    // (45% of the frame height) moving from the left edge towards the right third.
    let breed = "beagle";
    let photo = test_photo(&pets_manifest, breed, 1).expect("a second beagle test photo");
    let pet = read(&shared.join("pets").join(&photo));
    let mut rng = Rng::new(5000);
    let look = Look::random(&mut rng);
    let bg = &backgrounds[0];
    let at = |i: usize| (i >= 8).then_some(Placement { height_frac: 0.45, centre_x: 0.12 + 0.03 * (i as f32 - 8.0), centre_y: 0.4 });
    let frames: Vec<_> = (0..25).map(|i| scene::compose(bg, at(i).map(|p| (&pet, p)), &look, &mut rng)).collect();
    let dir = out.join("small-enters");
    write(&dir, PixelFormat::Mjpeg, &frames, breed, &format!("empty room, then {photo}, small, walks in from the left at frame 9"));
    made.push(Made { dir, expected: breed.into(), enters_at: Some(8), pet_track: (0..25).map(|i| at(i).map(centre_of)).collect() });
    made
}

/// Where `scene::compose` puts the centre of a subject placed at `p` (not clamped: these subjects
/// stay inside the frame).
fn centre_of(p: Placement) -> (u32, u32) {
    ((p.centre_x * W as f32) as u32, (p.centre_y * H as f32) as u32)
}

/// Breeds of the small off-centre recordings (their second Oxford test photo each).
pub const SMALL_BREEDS: [&str; 6] = ["Persian", "Ragdoll", "Russian_Blue", "beagle", "samoyed", "yorkshire_terrier"];
