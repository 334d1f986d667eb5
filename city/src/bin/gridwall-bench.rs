//! Spatial index benchmark: `cargo run -p gridwall-city --bin gridwall-bench`.
//!
//! Measures, at the brief's scale: a viewport query over 1,000,000 static components, the 5
//! nearest of 100,000 patrols to a point, and position updates per second on one core. Prints
//! p50/p99 per operation; results go to BENCHMARKS.md.

use std::hint::black_box;
use std::time::Instant;

use gridwall_city::index::{MovingIndex, PointIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CITY_M: f64 = 16_000.0;

fn percentiles(mut ns: Vec<u64>) -> (f64, f64, f64) {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    (at(0.5), at(0.99), at(1.0))
}

fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let t = Instant::now();
    let components =
        PointIndex::new((0..1_000_000u32).map(|i| (i, [rng.random_range(0.0..CITY_M), rng.random_range(0.0..CITY_M)])));
    println!("bulk load 1,000,000 components: {:.0} ms", t.elapsed().as_secs_f64() * 1000.0);

    // A display's viewport: 1.5 × 0.85 km (a district on one 1080p panel), anywhere in the city.
    let mut times = Vec::with_capacity(10_000);
    let mut hits = 0usize;
    for _ in 0..10_000 {
        let (x, y) = (rng.random_range(0.0..CITY_M - 1500.0), rng.random_range(0.0..CITY_M - 850.0));
        let t = Instant::now();
        hits += black_box(components.locate_in_envelope([x, y, x + 1500.0, y + 850.0]).count());
        times.push(t.elapsed().as_nanos() as u64);
    }
    let (p50, p99, max) = percentiles(times);
    println!(
        "viewport query 1.5×0.85 km over 1M components (~{} hits): p50 {p50:.1} µs, p99 {p99:.1} µs, max {max:.1} µs",
        hits / 10_000
    );

    let mut patrols = MovingIndex::new(100.0);
    let mut pos: Vec<[f64; 2]> =
        (0..100_000).map(|_| [rng.random_range(0.0..CITY_M), rng.random_range(0.0..CITY_M)]).collect();
    for (i, p) in pos.iter().enumerate() {
        patrols.upsert(i as u32, *p);
    }
    // 1 Hz reports of walkers/cyclists: each moves up to 5 m.
    let moves: Vec<(u32, [f64; 2])> = (0..2_000_000)
        .map(|k| {
            let i = k % 100_000;
            let p = &mut pos[i];
            p[0] = (p[0] + rng.random_range(-5.0..5.0)).clamp(0.0, CITY_M);
            p[1] = (p[1] + rng.random_range(-5.0..5.0)).clamp(0.0, CITY_M);
            (i as u32, *p)
        })
        .collect();
    let t = Instant::now();
    for &(id, p) in &moves {
        patrols.upsert(id, p);
    }
    let secs = t.elapsed().as_secs_f64();
    println!("patrol position updates (index only, one core): {:.0} /s", moves.len() as f64 / secs);

    let mut times = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let q = [rng.random_range(0.0..CITY_M), rng.random_range(0.0..CITY_M)];
        let t = Instant::now();
        black_box(patrols.nearest(q, 5, |id| id % 10 != 0)); // 10 % off duty
        times.push(t.elapsed().as_nanos() as u64);
    }
    let (p50, p99, max) = percentiles(times);
    println!("5 nearest on-duty of 100,000 patrols: p50 {p50:.1} µs, p99 {p99:.1} µs, max {max:.1} µs");
}
