//! Calendar days for the separators between a room's messages: "Today", "Yesterday",
//! "Friday 27 November", "Monday 29 December 2025".
//!
//! A day is local to the reader, which only the browser knows. Before the page is hydrated (and
//! on the server) days are UTC, so the server's page and the first client render draw the same
//! separators; once hydrated they are redrawn in the reader's time zone, as the times are.

/// A calendar day, as days since 1970-01-01 (in whichever zone it was taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i64);

const MS_PER_DAY: i64 = 86_400_000;

impl Day {
    /// The UTC day of a time.
    pub fn utc(unix_ms: u64) -> Self {
        Day((unix_ms as i64).div_euclid(MS_PER_DAY))
    }

    /// The day of a time in the reader's zone after hydration, in UTC before (see the module).
    pub fn of(unix_ms: u64, local: bool) -> Self {
        #[cfg(feature = "hydrate")]
        if local {
            let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(unix_ms as f64));
            return Self::from_civil(
                i64::from(date.get_full_year()),
                date.get_month() + 1,
                date.get_date(),
            );
        }
        let _ = local;
        Self::utc(unix_ms)
    }

    /// The day of a date in the proleptic Gregorian calendar (month and day from 1).
    #[cfg_attr(
        not(any(feature = "hydrate", test)),
        expect(dead_code, reason = "only the browser knows local dates")
    )]
    pub fn from_civil(year: i64, month: u32, day: u32) -> Self {
        // Howard Hinnant's days_from_civil.
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month = i64::from(month);
        let day_of_year =
            (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        Day(era * 146_097 + day_of_era - 719_468)
    }

    /// Year, month (1–12) and day of the month.
    pub fn civil(self) -> (i64, u32, u32) {
        // Howard Hinnant's civil_from_days.
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let mp = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        (year, month, day)
    }

    /// Monday is 0.
    fn weekday(self) -> usize {
        // 1970-01-01 was a Thursday.
        (self.0 + 3).rem_euclid(7) as usize
    }

    /// How a separator names this day, seen on `today`.
    pub fn label(self, today: Day) -> String {
        const WEEKDAYS: [&str; 7] = [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ];
        const MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        if self == today {
            return "Today".to_owned();
        }
        if self.0 + 1 == today.0 {
            return "Yesterday".to_owned();
        }
        let (year, month, day) = self.civil();
        let weekday = WEEKDAYS[self.weekday()];
        let month = MONTHS[month as usize - 1];
        if year == today.civil().0 {
            format!("{weekday} {day} {month}")
        } else {
            format!("{weekday} {day} {month} {year}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Day;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(Day::from_civil(1970, 1, 1), Day(0));
        assert_eq!(Day::from_civil(2000, 3, 1).civil(), (2000, 3, 1));
        assert_eq!(Day::from_civil(2024, 2, 29).civil(), (2024, 2, 29));
        for n in -800_000..800_000 {
            let (y, m, d) = Day(n).civil();
            assert_eq!(Day::from_civil(y, m, d), Day(n));
        }
    }

    #[test]
    fn utc_days_split_at_midnight() {
        let midnight = 1_795_910_400_000; // 2026-11-29 00:00 UTC
        assert_eq!(Day::utc(midnight).civil(), (2026, 11, 29));
        assert_eq!(Day::utc(midnight - 1).civil(), (2026, 11, 28));
        assert_eq!(Day::of(midnight, false), Day::utc(midnight));
    }

    #[test]
    fn labels_read_naturally() {
        let today = Day::from_civil(2026, 11, 29);
        assert_eq!(today.label(today), "Today");
        assert_eq!(Day::from_civil(2026, 11, 28).label(today), "Yesterday");
        assert_eq!(
            Day::from_civil(2026, 11, 27).label(today),
            "Friday 27 November"
        );
        assert_eq!(
            Day::from_civil(2025, 12, 29).label(today),
            "Monday 29 December 2025"
        );
    }
}
