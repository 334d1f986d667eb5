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
    fn countdown_text() {
        assert_eq!(time_left_text(10_000 + 3_723_000, 10_000, Lang::Zh), ("剩余时限 01:02:03".to_owned(), false));
        assert_eq!(time_left_text(0, 65_000, Lang::En), ("overdue by 00:01:05".to_owned(), true));
    }
}
