//! The 37 Oxford-IIIT Pet breeds, in the data set's official class-id order.
//!
//! This list is the contract between the trainer and the edge app: output `i` of a petcam model is
//! breed `BREEDS[i]` (class id `i + 1` in `annotations/list.txt`). A model may add one more output,
//! [`NO_PET`], after the breeds. At run time the edge app reads the labels from the model's own
//! metadata, so a model trained on another label set still works; this list is what the trainer
//! writes into it.

/// Breed ids exactly as the data set spells them (cats capitalised, dogs lower case).
pub const BREEDS: [&str; 37] = [
    "Abyssinian",
    "american_bulldog",
    "american_pit_bull_terrier",
    "basset_hound",
    "beagle",
    "Bengal",
    "Birman",
    "Bombay",
    "boxer",
    "British_Shorthair",
    "chihuahua",
    "Egyptian_Mau",
    "english_cocker_spaniel",
    "english_setter",
    "german_shorthaired",
    "great_pyrenees",
    "havanese",
    "japanese_chin",
    "keeshond",
    "leonberger",
    "Maine_Coon",
    "miniature_pinscher",
    "newfoundland",
    "Persian",
    "pomeranian",
    "pug",
    "Ragdoll",
    "Russian_Blue",
    "saint_bernard",
    "samoyed",
    "scottish_terrier",
    "shiba_inu",
    "Siamese",
    "Sphynx",
    "staffordshire_bull_terrier",
    "wheaten_terrier",
    "yorkshire_terrier",
];

/// The label of the extra "no pet" output (people, rooms, other animals).
pub const NO_PET: &str = "no_pet";

/// Whether a breed id is a cat breed (the data set capitalises cat breeds).
pub fn is_cat(breed: &str) -> bool {
    breed.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

/// Index of a breed by name, ignoring case and treating spaces, hyphens and underscores alike
/// ("Maine Coon", "maine-coon" and "Maine_Coon" all match).
pub fn breed_index(name: &str) -> Option<usize> {
    let key = normalise(name);
    BREEDS.iter().position(|b| normalise(b) == key)
}

fn normalise(name: &str) -> String {
    name.trim().chars().map(|c| if c == ' ' || c == '-' { '_' } else { c.to_ascii_lowercase() }).collect()
}

/// Human-readable name: "british_shorthair" -> "British Shorthair", "no_pet" -> "No pet".
pub fn display_name(label: &str) -> String {
    if label == NO_PET {
        return "No pet".to_string();
    }
    label
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breed_lookup_is_forgiving_about_spelling() {
        assert_eq!(breed_index("Maine Coon"), Some(20));
        assert_eq!(breed_index("maine-coon"), Some(20));
        assert_eq!(breed_index("BEAGLE"), Some(4));
        assert_eq!(breed_index("unicorn"), None);
    }

    #[test]
    fn cats_are_capitalised() {
        let cats = BREEDS.iter().filter(|b| is_cat(b)).count();
        assert_eq!(cats, 12);
        assert!(!is_cat("beagle"));
    }

    #[test]
    fn display_names_read_well() {
        assert_eq!(display_name("german_shorthaired"), "German Shorthaired");
        assert_eq!(display_name("British_Shorthair"), "British Shorthair");
        assert_eq!(display_name(NO_PET), "No pet");
    }
}
