//! The day partitions of `fixes`: their names, the days they hold, and making the ones a write
//! needs.

use super::{PostgresStore, StoreError};

pub(super) const DAY_MS: i64 = 86_400_000;

/// The partition of `fixes` holding day `day` (days since 1970).
pub(super) fn partition_name(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("fixes_d{y:04}{m:02}{d:02}")
}

/// Year, month, day of a day number (days since 1970-01-01; Howard Hinnant's algorithm).
pub(super) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub(super) fn iso_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02} 00:00:00+00")
}

/// The day of a partition named by [`partition_name`].
pub(super) fn day_of_partition(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("fixes_d")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m, d): (i64, u32, u32) = (digits[..4].parse().ok()?, digits[4..6].parse().ok()?, digits[6..].parse().ok()?);
    Some(days_from_civil(y, m, d))
}

/// Days since 1970-01-01 of a date (Howard Hinnant's algorithm).
pub(super) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl PostgresStore {
    /// Makes the day partitions of `fixes` that `days` need (each in its own short transaction,
    /// before the write that needs it; two servers making the same one is fine).
    pub(super) fn ensure_partitions(&mut self, days: impl IntoIterator<Item = i64>) -> Result<(), StoreError> {
        let missing: Vec<i64> = days.into_iter().filter(|d| !self.days.contains(d)).collect();
        for day in missing {
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF fixes FOR VALUES FROM ('{}') TO ('{}')",
                partition_name(day),
                iso_day(day),
                iso_day(day + 1)
            );
            let done = self.conn()?.0.batch_execute(&sql);
            match done {
                Ok(()) => {}
                // Made by another server meanwhile.
                Err(e) if e.code() == Some(&postgres::error::SqlState::DUPLICATE_TABLE) => {}
                Err(e) if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) => {}
                Err(e) => return Err(self.fail(e)),
            }
            self.days.insert(day);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_partition_names() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2026, 12, 5), 20_792);
        assert_eq!(civil_from_days(20_792), (2026, 12, 5));
        for day in [-1000, 0, 59, 60, 20_792, 40_000] {
            assert_eq!(day_of_partition(&partition_name(day)), Some(day));
        }
        assert_eq!(partition_name(20_792), "fixes_d20261205");
        assert_eq!(day_of_partition("fixes_default"), None);
        assert_eq!(iso_day(20_792), "2026-12-05 00:00:00+00");
    }
}
