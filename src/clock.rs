//! Deterministic runs: the emulator's clock (real, frozen, or set and running) and its id
//! generators (random UUID4s, or a seeded sequence of UUID4-shaped ids, or a queue of given
//! image ids).
//!
//! Both are per emulator (they live in [`crate::app::App`]), so two emulators in one
//! test process never disturb each other. The real-clock / random-id paths cost one atomic
//! load.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::model::Timestamp;

/// How the clock runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    /// The host's UTC time.
    Real,
    /// Stands still at a set time (optionally stepping after every reading).
    Frozen,
    /// Started at a set time and runs at the host's pace.
    Running,
}

/// What `GET /_emu/clock` shows.
#[derive(Debug, Clone, Serialize)]
pub struct ClockInfo {
    /// How the clock runs.
    pub mode: ClockMode,
    /// The current reading (without stepping), Glance's format.
    pub now: String,
    /// Microseconds a frozen clock moves forward after each timestamp handed out.
    pub step_us: i64,
}

#[derive(Debug)]
struct Set {
    base: Timestamp,
    at: Instant,
    frozen: bool,
    step_us: i64,
}

/// The emulator's clock: used for `created_at`/`updated_at` of new and changed images,
/// default timestamps of records loaded at runtime, `Date` headers (when not real) and
/// journal times.
#[derive(Debug, Default)]
pub struct Clock {
    /// Fast path: false while the clock is real.
    set: AtomicBool,
    state: Mutex<Option<Set>>,
}

fn add_us(t: Timestamp, us: i64) -> Timestamp {
    t.0.checked_add_signed(chrono::Duration::microseconds(us))
        .map(Timestamp)
        .unwrap_or(t)
}

impl Clock {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Set>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while the clock is the host's.
    pub fn is_real(&self) -> bool {
        !self.set.load(Ordering::Acquire)
    }

    /// A timestamp for a record: the current reading; a stepping frozen clock then moves on.
    pub fn now(&self) -> Timestamp {
        if self.is_real() {
            return Timestamp::now();
        }
        let mut g = self.lock();
        match g.as_mut() {
            None => Timestamp::now(),
            Some(s) if s.frozen => {
                let t = s.base;
                s.base = add_us(s.base, s.step_us);
                t
            }
            Some(s) => running(s),
        }
    }

    /// The current reading without stepping (for `Date` headers and the journal).
    pub fn peek(&self) -> Timestamp {
        if self.is_real() {
            return Timestamp::now();
        }
        match self.lock().as_ref() {
            None => Timestamp::now(),
            Some(s) if s.frozen => s.base,
            Some(s) => running(s),
        }
    }

    /// Freezes the clock at `t`; with `step_us > 0` every timestamp handed out moves it on by
    /// that much (distinct, ordered `created_at` values).
    pub fn freeze(&self, t: Timestamp, step_us: i64) {
        *self.lock() = Some(Set {
            base: t,
            at: Instant::now(),
            frozen: true,
            step_us,
        });
        self.set.store(true, Ordering::Release);
    }

    /// Sets the clock to `t` and lets it run from there.
    pub fn set_running(&self, t: Timestamp) {
        *self.lock() = Some(Set {
            base: t,
            at: Instant::now(),
            frozen: false,
            step_us: 0,
        });
        self.set.store(true, Ordering::Release);
    }

    /// Moves a set clock by `us` microseconds (negative goes back). A real clock is first
    /// set running at the current time.
    pub fn advance(&self, us: i64) {
        let mut g = self.lock();
        let s = g.get_or_insert_with(|| Set {
            base: Timestamp::now(),
            at: Instant::now(),
            frozen: false,
            step_us: 0,
        });
        s.base = add_us(s.base, us);
        self.set.store(true, Ordering::Release);
    }

    /// Back to the host's time.
    pub fn real(&self) {
        let mut g = self.lock();
        *g = None;
        self.set.store(false, Ordering::Release);
    }

    /// Mode and current reading.
    pub fn info(&self) -> ClockInfo {
        let g = self.lock();
        let (mode, step_us) = match g.as_ref() {
            None => (ClockMode::Real, 0),
            Some(s) if s.frozen => (ClockMode::Frozen, s.step_us),
            Some(_) => (ClockMode::Running, 0),
        };
        drop(g);
        ClockInfo {
            mode,
            now: self.peek().glance(),
            step_us,
        }
    }
}

fn running(s: &Set) -> Timestamp {
    let us = i64::try_from(s.at.elapsed().as_micros()).unwrap_or(i64::MAX);
    add_us(s.base, us)
}

/// SplitMix64: tiny, seedable, good enough for ids and fault fractions.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// A generator seeded from the OS's randomness (via a random UUID).
    pub fn random() -> Self {
        SplitMix(uuid::Uuid::new_v4().as_u64_pair().0)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A UUID4-shaped id (version and variant bits set) from the next 128 bits.
    pub fn next_uuid(&mut self) -> uuid::Uuid {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(b).into_uuid()
    }
}

/// What `GET /_emu/ids` shows.
#[derive(Debug, Clone, Serialize)]
pub struct IdsInfo {
    /// The seed in use, or null for random ids.
    pub seed: Option<u64>,
    /// Image ids still queued (handed out before any generated one).
    pub queued_image_ids: Vec<String>,
}

#[derive(Debug, Default)]
struct IdState {
    seed: Option<u64>,
    requests: Option<SplitMix>,
    images: Option<SplitMix>,
    queue: VecDeque<String>,
}

/// Request ids and image ids: random UUID4s by default; seeded for deterministic runs. The
/// two sequences are independent, so extra requests never shift the image ids.
#[derive(Debug, Default)]
pub struct Ids {
    /// Fast path: false while everything is random and nothing is queued.
    active: AtomicBool,
    state: Mutex<IdState>,
}

/// Stream offsets so request and image ids differ for one seed.
const REQUEST_STREAM: u64 = 0x5245_5155_4553_5400;
const IMAGE_STREAM: u64 = 0x494D_4147_4500_0000;

impl Ids {
    fn lock(&self) -> std::sync::MutexGuard<'_, IdState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update_active(&self, s: &IdState) {
        self.active
            .store(s.seed.is_some() || !s.queue.is_empty(), Ordering::Release);
    }

    /// Seeds both sequences (the same seed always gives the same ids).
    pub fn seed(&self, seed: u64) {
        let mut s = self.lock();
        s.seed = Some(seed);
        s.requests = Some(SplitMix::new(seed ^ REQUEST_STREAM));
        s.images = Some(SplitMix::new(seed ^ IMAGE_STREAM));
        self.update_active(&s);
    }

    /// Queues image ids to hand out (in order) before any generated one.
    pub fn queue_image_ids(&self, ids: impl IntoIterator<Item = String>) {
        let mut s = self.lock();
        s.queue.extend(ids);
        self.update_active(&s);
    }

    /// Back to random ids; drops queued image ids.
    pub fn random(&self) {
        let mut s = self.lock();
        *s = IdState::default();
        self.update_active(&s);
    }

    /// Seed and queue.
    pub fn info(&self) -> IdsInfo {
        let s = self.lock();
        IdsInfo {
            seed: s.seed,
            queued_image_ids: s.queue.iter().cloned().collect(),
        }
    }

    /// The next request id's UUID, or `None` for "use a random one".
    pub fn next_request_uuid(&self) -> Option<uuid::Uuid> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        self.lock().requests.as_mut().map(SplitMix::next_uuid)
    }

    /// The id for a new image: queued, seeded or random.
    pub fn next_image_id(&self) -> String {
        if self.active.load(Ordering::Acquire) {
            let mut s = self.lock();
            if let Some(id) = s.queue.pop_front() {
                self.update_active(&s);
                return id;
            }
            if let Some(rng) = s.images.as_mut() {
                return rng.next_uuid().to_string();
            }
        }
        uuid::Uuid::new_v4().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    // Rule: A frozen clock moves by its step only when a timestamp is taken (`now`), not when peeked.
    #[test]
    fn frozen_clock_steps_only_on_now() {
        let c = Clock::default();
        assert!(c.is_real());
        c.freeze(ts("2020-01-01T00:00:00"), 10);
        assert_eq!(c.peek().glance(), "2020-01-01T00:00:00.000000");
        assert_eq!(c.now().glance(), "2020-01-01T00:00:00.000000");
        assert_eq!(c.now().glance(), "2020-01-01T00:00:00.000010");
        assert_eq!(c.peek().glance(), "2020-01-01T00:00:00.000020");
        c.advance(1_000_000);
        assert_eq!(c.peek().glance(), "2020-01-01T00:00:01.000020");
        c.real();
        assert!(c.is_real());
    }

    // Rule: A clock set running starts at the given time and moves on with real time.
    #[test]
    fn running_clock_moves() {
        let c = Clock::default();
        c.set_running(ts("2001-02-03T04:05:06"));
        let a = c.now();
        assert!(a >= ts("2001-02-03T04:05:06") && a < ts("2001-02-03T04:06:06"));
        assert_eq!(c.info().mode, ClockMode::Running);
    }

    // Rule: Seeded id generators repeat the same UUID4-shaped sequence; image ids do not shift request ids.
    #[test]
    fn seeded_ids_repeat_and_look_like_uuid4() {
        let a = Ids::default();
        let b = Ids::default();
        a.seed(7);
        b.seed(7);
        let ra = a.next_request_uuid().unwrap();
        // Extra image ids do not shift the request sequence.
        let _ = b.next_image_id();
        assert_eq!(Some(ra), b.next_request_uuid());
        assert_eq!(ra.get_version_num(), 4);
        assert_ne!(a.next_image_id(), ra.to_string());
        a.queue_image_ids(["x".to_string()]);
        assert_eq!(a.next_image_id(), "x");
        a.random();
        assert!(a.next_request_uuid().is_none());
    }
}
