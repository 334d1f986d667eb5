//! The day partitions of `fixes` (the journal of the newest minutes) and `track_chunks` (the
//! history): their names, the days they hold, and making the ones a write needs.

use gridwall_city::tally::{civil_from_days, days_from_civil};

use super::{PostgresStore, StoreError};

pub(super) const DAY_MS: i64 = 86_400_000;

/// The tables partitioned by day (UTC).
pub(super) const PARTITIONED: [&str; 2] = ["fixes", "track_chunks"];

/// The partition of `table` holding day `day` (days since 1970).
pub(super) fn partition_name(table: &str, day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{table}_d{y:04}{m:02}{d:02}")
}

pub(super) fn iso_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02} 00:00:00+00")
}

/// The day of a partition of `table` named by [`partition_name`].
pub(super) fn day_of_partition(table: &str, name: &str) -> Option<i64> {
    let digits = name.strip_prefix(table)?.strip_prefix("_d")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m, d): (i64, u32, u32) = (digits[..4].parse().ok()?, digits[4..6].parse().ok()?, digits[6..].parse().ok()?);
    Some(days_from_civil(y, m, d))
}

impl PostgresStore {
    /// Makes the day partitions of both tables that `days` need (each in its own short
    /// transaction, before the write that needs it; two servers making the same one is fine).
    pub(super) fn ensure_partitions(&mut self, days: impl IntoIterator<Item = i64>) -> Result<(), StoreError> {
        let missing: Vec<i64> = days.into_iter().filter(|d| !self.days.contains(d)).collect();
        for day in missing {
            for table in PARTITIONED {
                let sql = format!(
                    "CREATE TABLE IF NOT EXISTS {} PARTITION OF {table} FOR VALUES FROM ('{}') TO ('{}')",
                    partition_name(table, day),
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
        assert_eq!(days_from_civil(2026, 12, 5), 20_792);
        for day in [-1000, 0, 59, 60, 20_792, 40_000] {
            for table in PARTITIONED {
                assert_eq!(day_of_partition(table, &partition_name(table, day)), Some(day));
            }
        }
        assert_eq!(partition_name("fixes", 20_792), "fixes_d20261205");
        assert_eq!(day_of_partition("fixes", "fixes_default"), None);
        assert_eq!(day_of_partition("fixes", "track_chunks_d20261205"), None);
        assert_eq!(iso_day(20_792), "2026-12-05 00:00:00+00");
    }
}
