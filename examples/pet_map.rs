//! Prints the activation locator's pet map (pet log-odds per cell of the wide view) and the square
//! it chooses, for an image or the first frame of a recording: a look inside the locate stage.
//!   cargo run --example pet_map -- IMAGE_OR_RECORDING [FRAME] [MODEL]
use petcam::classifier::{Classifier, TractClassifier};
use petcam::locate::activation::{square_in_frame, ActivationLocator};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let input = PathBuf::from(args.first().ok_or("usage: pet_map IMAGE_OR_RECORDING [FRAME] [MODEL]")?);
    let nth: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(0);
    let model = args.get(2).map(PathBuf::from).unwrap_or_else(|| petcam::config::resolve_model(None));
    let frame = if input.is_dir() {
        let mut src = petcam::source::recording::RecordingSource::open(&input, false)?;
        let mut f = petcam::source::FrameSource::next_frame(&mut src)?;
        for _ in 0..nth {
            f = petcam::source::FrameSource::next_frame(&mut src)?;
        }
        f
    } else {
        petcam::source::stills::load(&input)?
    };
    let rgb = petcam::frame::to_rgb(&frame)?;
    let no_pet = TractClassifier::load(&model)?.metadata().no_pet_index().ok_or("the model has no no-pet output")?;
    let mut l = ActivationLocator::load(&model, no_pet, Default::default())?;
    let (rows, cols, map) = l.pet_map(&rgb)?;
    for r in 0..rows {
        println!("{}", (0..cols).map(|c| format!("{:>6.1}", map[r * cols + c])).collect::<String>());
    }
    match l.frame_pet((rows, cols, &map), rgb.dimensions()) {
        Some(sq) => println!("square {:?}", square_in_frame(sq, rgb.width(), rgb.height())),
        None => println!("no pet-like cell: centre square"),
    }
    Ok(())
}
