//! The display's language (Chinese by default, `--lang en`) and its formats of times.

use bevy::prelude::*;

/// Operators' time zone for clocks (China Standard Time).
const UTC_OFFSET_MS: i64 = 8 * 3_600_000;

#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn pick(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Self::Zh => zh,
            Self::En => en,
        }
    }
}

/// `HH:MM:SS` of a Unix time in ms, in the operators' zone.
pub fn clock_text(time_ms: i64) -> String {
    let s = (time_ms + UTC_OFFSET_MS).div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `YYYY-MM-DD HH:MM:SS` of a Unix time in ms, in the operators' zone.
pub fn date_time_text(time_ms: i64) -> String {
    let (y, m, d) = civil((time_ms + UTC_OFFSET_MS).div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02} {}", clock_text(time_ms))
}

/// RFC 3339 in UTC with milliseconds (what the server's `replay` message takes).
pub fn rfc3339_ms(time_ms: i64) -> String {
    let (y, m, d) = civil(time_ms.div_euclid(86_400_000));
    let ms = time_ms.rem_euclid(86_400_000);
    let (h, min, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `HH:MM:SS` of a duration in ms (sign dropped).
pub fn hms(ms: i64) -> String {
    let s = ms.abs() / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// "剩余时限 00:12:34" or "已超期 00:05:00" for a deadline; whether it is overdue.
pub fn time_left_text(deadline_ms: i64, now_ms: i64, lang: Lang) -> (String, bool) {
    let left = deadline_ms - now_ms;
    if left >= 0 {
        (format!("{} {}", lang.pick("剩余时限", "time left"), hms(left)), false)
    } else {
        (format!("{} {}", lang.pick("已超期", "overdue by"), hms(left)), true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_shown_in_china_standard_time() {
        // 2026-11-24T13:30:05Z is 21:30:05 in Beijing; 16:30Z is already the next day there.
        assert_eq!(date_time_text(1_795_527_005_000), "2026-11-24 21:30:05");
        assert_eq!(date_time_text(1_795_537_800_000), "2026-11-25 00:30:00");
        assert_eq!(date_time_text(951_782_400_000), "2000-02-29 08:00:00");
        assert_eq!(rfc3339_ms(1_795_527_005_042), "2026-11-24T13:30:05.042Z");
    }

    #[test]
    fn countdown_text() {
        assert_eq!(time_left_text(10_000 + 3_723_000, 10_000, Lang::Zh), ("剩余时限 01:02:03".to_owned(), false));
        assert_eq!(time_left_text(0, 65_000, Lang::En), ("overdue by 00:01:05".to_owned(), true));
    }
}
