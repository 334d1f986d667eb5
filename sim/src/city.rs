//! What the simulated city is like: when and what kind of incidents arise, who takes a case no
//! patrol can, how the review and call-back desks are staffed.

use gridwall_protocol::{IncidentCategory, IncidentSource};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A case waits this long for a free patrol before it goes to its department.
pub(super) const PATROL_WAIT_MS: i64 = 15 * 60_000;
/// Share of hard cases (parts to order, owners to find): fixed 3 to 12 hours after the visit,
/// often past their time limit.
pub(super) const HARD_SHARE: f64 = 0.04;

pub(super) fn hard_delay_ms(rng: &mut ChaCha8Rng) -> i64 {
    rng.random_range(3 * 60..12 * 60) * 60_000
}

/// Who handles a category when no patrol is free.
pub(super) fn department(category: IncidentCategory) -> &'static str {
    match category {
        IncidentCategory::Garbage => "环卫所",
        IncidentCategory::IllegalParking => "交警中队",
        IncidentCategory::Dispute => "司法所",
        IncidentCategory::SafetyHazard => "安监站",
        IncidentCategory::Noise => "环保所",
        IncidentCategory::IllegalVending => "城管中队",
        _ => "市政养护",
    }
}

/// A desk of staff who each take one case at a time, first come first served (审核, 回访).
#[derive(Debug, Clone)]
pub(super) struct Desk {
    /// When each of them is free again.
    free_at: Vec<i64>,
}

impl Desk {
    /// Staff enough for `per_hour` cases at the busiest hour, each taking `mean_min` minutes, at
    /// three quarters of their time.
    pub(super) fn staffed(per_hour: f64, mean_min: f64) -> Self {
        let busiest = per_hour * DAILY_RHYTHM.iter().copied().fold(0.0, f64::max);
        let staff = (busiest * mean_min / 60.0 / 0.75).ceil().clamp(1.0, 100_000.0) as usize;
        Self { free_at: vec![i64::MIN; staff] }
    }

    /// A case ready at `ready_ms` that takes `ms`: when it is done.
    pub(super) fn book(&mut self, ready_ms: i64, ms: i64) -> i64 {
        let (i, free) = self.free_at.iter().copied().enumerate().min_by_key(|&(_, t)| t).expect("staffed");
        let done = free.max(ready_ms) + ms;
        self.free_at[i] = done;
        done
    }
}

/// Relative incident rate by hour of day (busy mornings and afternoons, quiet nights).
pub(super) const DAILY_RHYTHM: [f64; 24] = [
    0.2, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.5, 1.8, 1.8, 1.5, 1.2, 1.3, 1.6, 1.7, 1.6, 1.4, 1.2, 1.0, 0.8, 0.6,
    0.4, 0.3,
];

/// Category mix of new incidents (weights) and minutes on site to handle one.
pub(super) const CATEGORY_MIX: [(IncidentCategory, f64, u32); 10] = [
    (IncidentCategory::Garbage, 0.22, 15),
    (IncidentCategory::IllegalParking, 0.18, 10),
    (IncidentCategory::RoadDamage, 0.08, 40),
    (IncidentCategory::ManholeDamage, 0.06, 30),
    (IncidentCategory::PipeBlockage, 0.07, 45),
    (IncidentCategory::StreetLightOut, 0.07, 25),
    (IncidentCategory::Dispute, 0.10, 35),
    (IncidentCategory::SafetyHazard, 0.07, 30),
    (IncidentCategory::Noise, 0.08, 15),
    (IncidentCategory::IllegalVending, 0.07, 15),
];

/// Minutes on site to handle a case of `category` (of [`CATEGORY_MIX`]).
pub(super) fn on_site_min(category: IncidentCategory) -> Option<u32> {
    CATEGORY_MIX.iter().find(|c| c.0 == category).map(|c| c.2)
}

pub(super) const SOURCE_MIX: [(IncidentSource, f64); 5] = [
    (IncidentSource::Hotline, 0.35),
    (IncidentSource::MiniProgram, 0.25),
    (IncidentSource::PatrolFinding, 0.25),
    (IncidentSource::Sensor, 0.10),
    (IncidentSource::Mailbox, 0.05),
];

pub(super) fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, f64)]) -> T {
    let total: f64 = items.iter().map(|i| i.1).sum();
    let mut r = rng.random_range(0.0..total);
    for &(item, w) in items {
        if r < w {
            return item;
        }
        r -= w;
    }
    items[items.len() - 1].0
}
