//! Unix times written the way SQLAlchemy stores a `DATETIME` in SQLite.

/// `secs` (seconds since the Unix epoch) as `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, the text form
/// Optuna's storage reads back as a naive `datetime`. `None` for a time that is not finite or
/// lies outside years 1..=9999.
pub fn sql_datetime(secs: f64) -> Option<String> {
    if !secs.is_finite() {
        return None;
    }
    let micros = (secs * 1e6).round();
    // Years 1 and 9999 bound what Python's datetime accepts.
    if !(-62_135_596_800e6..=253_402_300_799e6).contains(&micros) {
        return None;
    }
    let micros = micros as i64;
    let day_micros = 86_400_000_000i64;
    let days = micros.div_euclid(day_micros);
    let in_day = micros.rem_euclid(day_micros);
    let (y, m, d) = civil_from_days(days);
    let secs_in_day = in_day / 1_000_000;
    Some(format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06}",
        secs_in_day / 3600,
        secs_in_day / 60 % 60,
        secs_in_day % 60,
        in_day % 1_000_000
    ))
}

/// The proleptic Gregorian date `(year, month, day)` of a day counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Count from 0000-03-01 so that the leap day ends each 400-year era's years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_are_written_as_utc_text() {
        assert_eq!(
            sql_datetime(0.0).as_deref(),
            Some("1970-01-01 00:00:00.000000")
        );
        // 2024-02-29 (a leap day) 12:34:56.789012 UTC.
        assert_eq!(
            sql_datetime(1_709_210_096.789_012).as_deref(),
            Some("2024-02-29 12:34:56.789012")
        );
        assert_eq!(
            sql_datetime(951_782_400.0).as_deref(),
            Some("2000-02-29 00:00:00.000000")
        );
        assert_eq!(
            sql_datetime(-1.5).as_deref(),
            Some("1969-12-31 23:59:58.500000")
        );
        assert_eq!(
            sql_datetime(4_102_444_799.999_999).as_deref(),
            Some("2099-12-31 23:59:59.999999")
        );
        for bad in [f64::NAN, f64::INFINITY, 1e300, -1e300] {
            assert_eq!(sql_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn consecutive_days_follow_the_calendar() {
        // Walk 1600-01-01 .. 2400-12-31 a day at a time against a hand-rolled calendar.
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let month_len = |y: i64, m: u32| match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut days = -135_140; // 1600-01-01
        let (mut y, mut m, mut d) = (1600i64, 1u32, 1u32);
        while y <= 2400 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            days += 1;
            d += 1;
            if d > month_len(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }
}
