//! Hostile inputs for parsers: mutations of valid inputs (bit flips, cut ends, spliced and
//! repeated pieces, random bytes, huge numbers), and an allocator that measures the most memory
//! a call held, so a test can say "no allocation far beyond the input size".
//!
//! A test binary installs the allocator with
//! `#[global_allocator] static ALLOC: gridwall_testkit::fuzz::Counting = gridwall_testkit::fuzz::Counting;`;
//! [`peak_during`] counts only what the calling thread allocates (other tests run beside it).
//! `GRIDWALL_FUZZ_CASES` sets how many cases a run tries (default 3,000; millions in an opt-in run).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

thread_local! {
    // Const-initialised cells: using them inside the allocator allocates nothing.
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    if MEASURING.with(Cell::get) {
        let now = CURRENT.with(|c| {
            c.set(c.get() + delta);
            c.get()
        });
        PEAK.with(|p| p.set(p.get().max(now)));
    }
}

/// The system allocator, counting the bytes held and their peak.
pub struct Counting;

// SAFETY: every call is passed to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the system allocator's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Runs `f` and returns its result with the most bytes this thread held at once during it
/// (with [`Counting`] installed; 0 without).
pub fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    CURRENT.with(|c| c.set(0));
    PEAK.with(|p| p.set(0));
    MEASURING.with(|m| m.set(true));
    let r = f();
    MEASURING.with(|m| m.set(false));
    (r, PEAK.with(Cell::get).max(0) as usize)
}

/// How many cases a fuzz test tries.
pub fn cases() -> usize {
    std::env::var("GRIDWALL_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000)
}

/// Hostile variants of valid inputs, seeded (the same run every time).
pub struct Mutator {
    rng: ChaCha8Rng,
    seeds: Vec<Vec<u8>>,
}

impl Mutator {
    pub fn new(seed: u64, seeds: Vec<Vec<u8>>) -> Self {
        assert!(!seeds.is_empty(), "mutations need a valid input to start from");
        Self { rng: ChaCha8Rng::seed_from_u64(seed), seeds }
    }

    /// The next input: a valid one changed in one to four ways.
    pub fn next_input(&mut self) -> Vec<u8> {
        let mut v = self.seeds[self.rng.random_range(0..self.seeds.len())].clone();
        for _ in 0..self.rng.random_range(1..=4) {
            self.mutate(&mut v);
        }
        v
    }

    fn mutate(&mut self, v: &mut Vec<u8>) {
        let r = &mut self.rng;
        let at = |r: &mut ChaCha8Rng, v: &Vec<u8>| if v.is_empty() { 0 } else { r.random_range(0..v.len()) };
        match r.random_range(0..9) {
            0 if !v.is_empty() => {
                let i = at(r, v);
                v[i] ^= 1 << r.random_range(0..8);
            }
            1 => v.truncate(at(r, v)),
            2 => {
                let i = at(r, v);
                let b: u8 = r.random();
                v.insert(i, b);
            }
            3 if !v.is_empty() => {
                // A piece repeated: long arrays, deep nesting.
                let (a, b) = (at(r, v), at(r, v));
                let (a, b) = (a.min(b), a.max(b) + 1);
                let piece = v[a..b.min(v.len())].to_vec();
                for _ in 0..r.random_range(1..20) {
                    v.splice(a..a, piece.iter().copied());
                }
            }
            4 => {
                // A varint or a number that claims a lot.
                let i = at(r, v);
                let big: &[u8] = match r.random_range(0..4) {
                    0 => &[0xff, 0xff, 0xff, 0xff, 0x0f],
                    1 => &[0xff; 10],
                    2 => b"1e308",
                    _ => b"99999999999999999999",
                };
                v.splice(i..i, big.iter().copied());
            }
            5 => {
                let other = self.seeds[r.random_range(0..self.seeds.len())].clone();
                let (i, j) = (at(r, v), if other.is_empty() { 0 } else { r.random_range(0..other.len()) });
                v.truncate(i);
                v.extend_from_slice(&other[j..]);
            }
            6 => {
                let n = r.random_range(0..64);
                let i = at(r, v);
                let noise: Vec<u8> = (0..n).map(|_| r.random()).collect();
                v.splice(i..i, noise);
            }
            7 => {
                // Text-shaped noise: brackets, quotes, escapes, multi-byte characters.
                let pieces: [&[u8]; 8] = [b"[", b"{", b"\"", b"\\u0000", "长".as_bytes(), b",", b"null", b"%ff"];
                let i = at(r, v);
                let p = pieces[r.random_range(0..pieces.len())];
                v.splice(i..i, p.iter().copied());
            }
            _ if !v.is_empty() => {
                let i = at(r, v);
                v.remove(i);
            }
            _ => v.push(r.random()),
        }
    }
}
