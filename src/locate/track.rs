//! Following a square between searches: an alpha-beta (constant-velocity) tracker.
//!
//! A locator that searches the whole frame only every few frames must say where the pet is in
//! between. Holding the last square leaves a walking pet behind: at 19 px a frame and a search
//! every 6 frames, a pet walks 114 px, more than half its square. [`Track`] keeps a centre and a
//! velocity. A search near where the track expected the pet (within a quarter of the square) is
//! noise or a slow walk: it corrects both by a share of the miss (`alpha` for the position,
//! `beta` for the velocity), so a still pet keeps a near-still square. A search further off, but
//! within one and a half squares, is the same pet moving faster than the track thought: the
//! square goes there and takes the speed between the last two searches. Further still is a jump,
//! taken where the search found it, at rest. Each frame between searches moves the square by the
//! velocity.

/// Misses (in squares) up to this are corrected by a share; beyond it the square goes to the pet.
const NEAR: f32 = 0.25;
/// Misses beyond this many squares are jumps (another place, or another pet).
const JUMP: f32 = 1.5;
/// Fastest the square follows, in sides per frame (a pet crossing a 640 px frame in 1.5 s at
/// 15 fps with a 200 px square moves 0.14 sides a frame).
const MAX_SPEED: f32 = 0.2;

/// A square `[cx, cy, side]` in frame pixels and its centre's velocity in pixels per frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Track {
    /// Share of a search's miss the square's centre and side move by.
    pub alpha: f32,
    /// Share of a search's miss, per frame since the last search, added to the velocity.
    pub beta: f32,
    square: Option<[f32; 3]>,
    velocity: [f32; 2],
    /// Where the last search found the pet, and how many frames ago.
    found: Option<[f32; 3]>,
    since: usize,
}

impl Default for Track {
    /// `alpha` 0.5 (the halfway step petcam used before it tracked velocity) and the matching
    /// critically damped `beta = alpha^2 / (2 - alpha)`.
    fn default() -> Self {
        Track::new(0.5, 0.25 / 1.5)
    }
}

impl Track {
    pub fn new(alpha: f32, beta: f32) -> Track {
        Track { alpha, beta, square: None, velocity: [0.0; 2], found: None, since: 0 }
    }

    /// The square for the current frame, if a pet is being followed.
    pub fn square(&self) -> Option<[f32; 3]> {
        self.square
    }

    /// Pixels per frame the square's centre moves between searches.
    pub fn velocity(&self) -> [f32; 2] {
        self.velocity
    }

    /// Takes a search's answer for the current frame: `None` (no pet) drops the track.
    pub fn correct(&mut self, found: Option<[f32; 3]>) {
        let steps = self.since.max(1) as f32;
        let last = std::mem::replace(&mut self.found, found);
        self.since = 0;
        let (Some(p), Some(t), Some(last)) = (self.square, found, last) else {
            self.square = found;
            self.velocity = [0.0; 2];
            return;
        };
        let side = p[2].max(t[2]);
        let miss = [t[0] - p[0], t[1] - p[1], t[2] - p[2]];
        let far = miss[0].abs().max(miss[1].abs());
        let cap = MAX_SPEED * side;
        if far < NEAR * side {
            self.velocity = [0, 1].map(|i| (self.velocity[i] + self.beta * miss[i] / steps).clamp(-cap, cap));
            self.square = Some([p[0] + self.alpha * miss[0], p[1] + self.alpha * miss[1], p[2] + self.alpha * miss[2]]);
        } else if far < JUMP * side {
            self.velocity = [0, 1].map(|i| ((t[i] - last[i]) / steps).clamp(-cap, cap));
            self.square = Some(t);
        } else {
            self.velocity = [0.0; 2];
            self.square = Some(t);
        }
    }

    /// Moves the square one frame along its velocity, keeping its centre inside a `w` x `h` frame.
    pub fn advance(&mut self, w: u32, h: u32) {
        self.since += 1;
        if let Some(sq) = &mut self.square {
            sq[0] = (sq[0] + self.velocity[0]).clamp(0.0, w as f32);
            sq[1] = (sq[1] + self.velocity[1]).clamp(0.0, h as f32);
        }
    }

    /// Forgets the square and its velocity.
    pub fn reset(&mut self) {
        *self = Track::new(self.alpha, self.beta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Searches every `every` frames a pet whose centre is `at(frame)`, side 200; returns the
    /// largest distance between the square's centre and the pet over frames `from..frames`.
    fn worst_miss(mut t: Track, every: usize, frames: usize, from: usize, at: impl Fn(usize) -> [f32; 2]) -> f32 {
        let mut worst = 0.0f32;
        for f in 0..frames {
            let p = at(f);
            if f % every == 0 {
                t.correct(Some([p[0], p[1], 200.0]));
            }
            let sq = t.square().unwrap();
            if f >= from {
                worst = worst.max((sq[0] - p[0]).abs().max((sq[1] - p[1]).abs()));
            }
            t.advance(10_000, 10_000);
        }
        worst
    }

    #[test]
    fn a_walking_pet_is_followed_between_searches() {
        // 19 px a frame, searched every 6th frame: 114 px between searches, more than half the
        // square. Holding the square between searches lags up to 5 x 19 = 95 px.
        let walk = |f: usize| [40.0 + 19.0 * f as f32, 240.0 + 3.0 * f as f32];
        let held = (12..60).map(|f| walk(f)[0] - walk(f - f % 6)[0]).fold(0.0f32, f32::max);
        let tracked = worst_miss(Track::default(), 6, 60, 12, walk);
        assert!(held >= 90.0, "holding lags {held} px");
        assert!(tracked < 2.0, "the tracker lags {tracked} px after two searches");
        // A pet that stops: the square stops with it within a few searches.
        let stops = |f: usize| walk(f.min(30));
        let stopped = worst_miss(Track::default(), 6, 90, 60, stops);
        assert!(stopped < 10.0, "the square overshoots a stopped pet by {stopped} px");
    }

    #[test]
    fn a_still_pet_keeps_a_still_square_despite_noisy_searches() {
        let noise = [6.0, -5.0, 4.0, -6.0, 5.0, -4.0, 6.0, -6.0];
        let mut t = Track::default();
        let mut xs = vec![];
        for f in 0..48 {
            if f % 6 == 0 {
                let n = noise[(f / 6) % noise.len()];
                t.correct(Some([320.0 + n, 240.0 - n, 200.0]));
            }
            xs.push(t.square().unwrap()[0]);
            t.advance(640, 480);
        }
        let spread = xs.iter().fold(0.0f32, |m, x| m.max((x - 320.0).abs()));
        assert!(spread < 8.0, "the square wanders {spread} px around a still pet");
    }

    #[test]
    fn a_jump_or_a_lost_pet_starts_over_at_rest() {
        let mut t = Track::default();
        t.correct(Some([100.0, 100.0, 100.0]));
        t.advance(640, 480);
        t.correct(Some([130.0, 100.0, 100.0]));
        assert!(t.velocity()[0] > 0.0);
        t.correct(Some([500.0, 300.0, 120.0]));
        assert_eq!((t.square(), t.velocity()), (Some([500.0, 300.0, 120.0]), [0.0, 0.0]));
        t.correct(None);
        assert_eq!(t.square(), None);
        t.correct(Some([10.0, 10.0, 50.0]));
        for _ in 0..3 {
            t.advance(640, 480);
        }
        assert_eq!(t.square(), Some([10.0, 10.0, 50.0]));
    }

    #[test]
    fn the_square_never_drifts_out_of_the_frame_or_runs_faster_than_its_cap() {
        let mut t = Track::default();
        t.correct(Some([500.0, 240.0, 100.0]));
        t.advance(640, 480);
        t.correct(Some([620.0, 240.0, 100.0]));
        assert_eq!(t.velocity(), [MAX_SPEED * 100.0, 0.0]);
        for _ in 0..1000 {
            t.advance(640, 480);
        }
        assert_eq!(t.square().unwrap()[0], 640.0);
    }
}
