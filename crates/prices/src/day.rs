//! Calendar days in the `YYYY-MM-DD` form the API uses.
//!
//! The original server compares the date segment as a plain string, so
//! `2020-4-1` silently matches nothing. We keep string matching for lookups
//! (a well-formed day with no row is still `null`), but a date that can never
//! match is told apart: [`Day::parse`] says exactly what is wrong with it.

use std::fmt;

/// Why a text is not a `YYYY-MM-DD` calendar day.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum DayError {
    /// Not ten characters of the form `dddd-dd-dd`.
    #[error("date {0:?} is not in YYYY-MM-DD form (for example 2020-04-01)")]
    Shape(String),
    /// The month is not 01..=12.
    #[error("date {0:?} has no such month (months are 01 to 12)")]
    Month(String),
    /// The day does not exist in that month.
    #[error("date {0:?} has no such day in its month")]
    DayOfMonth(String),
}

/// A calendar day (proleptic Gregorian), ordered by time.
///
/// # Examples
///
/// ```
/// use prices::Day;
///
/// let day = Day::parse("2020-02-28")?;
/// assert_eq!(day.next().to_string(), "2020-02-29");
/// assert_eq!(day.next().next().to_string(), "2020-03-01");
/// assert!(Day::parse("2020-4-1").is_err());
/// assert!(Day::parse("2021-02-29").is_err());
/// # Ok::<(), prices::DayError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    year: u16,
    month: u8,
    day: u8,
}

impl Day {
    /// Reads a strict `YYYY-MM-DD` day.
    ///
    /// # Errors
    ///
    /// [`DayError`] says whether the shape, the month or the day of the
    /// month is wrong.
    pub fn parse(text: &str) -> Result<Day, DayError> {
        let bytes = text.as_bytes();
        let shape_ok = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        if !shape_ok {
            return Err(DayError::Shape(text.to_owned()));
        }
        let number = |range: std::ops::Range<usize>| -> u16 {
            bytes[range]
                .iter()
                .fold(0, |n, b| n * 10 + u16::from(b - b'0'))
        };
        let (year, month, day) = (number(0..4), number(5..7) as u8, number(8..10) as u8);
        if !(1..=12).contains(&month) {
            return Err(DayError::Month(text.to_owned()));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(DayError::DayOfMonth(text.to_owned()));
        }
        Ok(Day { year, month, day })
    }

    /// The day after this one.
    pub fn next(self) -> Day {
        if self.day < days_in_month(self.year, self.month) {
            Day {
                day: self.day + 1,
                ..self
            }
        } else if self.month < 12 {
            Day {
                month: self.month + 1,
                day: 1,
                ..self
            }
        } else {
            Day {
                year: self.year + 1,
                month: 1,
                day: 1,
            }
        }
    }

    /// Every day from `self` to `last`, both included (empty when `last`
    /// comes before `self`).
    ///
    /// # Examples
    ///
    /// ```
    /// use prices::Day;
    ///
    /// let march = Day::parse("2020-03-01")?.through(Day::parse("2020-03-31")?);
    /// assert_eq!(march.count(), 31);
    /// # Ok::<(), prices::DayError>(())
    /// ```
    pub fn through(self, last: Day) -> impl Iterator<Item = Day> {
        let in_range = move |day: &Day| *day <= last;
        std::iter::successors(Some(self).filter(in_range), move |day| {
            Some(day.next()).filter(in_range)
        })
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl std::str::FromStr for Day {
    type Err = DayError;

    fn from_str(text: &str) -> Result<Day, DayError> {
        Day::parse(text)
    }
}

/// A day crosses as its `YYYY-MM-DD` text, as in the API's JSON, and is
/// checked as [`Day::parse`] checks it on the way back.
#[cfg(feature = "serde")]
impl serde::Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Day {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Day, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Day::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        for text in [
            "2013-04-24",
            "2020-12-08",
            "2000-02-29",
            "0001-01-01",
            "9999-12-31",
        ] {
            assert_eq!(Day::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn says_what_is_wrong() {
        assert_eq!(
            Day::parse("2020-4-1"),
            Err(DayError::Shape("2020-4-1".into()))
        );
        assert!(matches!(Day::parse("2020/04/01"), Err(DayError::Shape(_))));
        assert!(matches!(Day::parse("2020-04-01 "), Err(DayError::Shape(_))));
        assert!(matches!(
            Day::parse("２０２０-04-01"),
            Err(DayError::Shape(_))
        ));
        assert!(matches!(Day::parse(""), Err(DayError::Shape(_))));
        assert!(matches!(Day::parse("2020-13-01"), Err(DayError::Month(_))));
        assert!(matches!(Day::parse("2020-00-01"), Err(DayError::Month(_))));
        assert!(matches!(
            Day::parse("2020-04-31"),
            Err(DayError::DayOfMonth(_))
        ));
        assert!(matches!(
            Day::parse("1900-02-29"),
            Err(DayError::DayOfMonth(_))
        ));
        assert!(matches!(
            Day::parse("2020-04-00"),
            Err(DayError::DayOfMonth(_))
        ));
    }

    #[test]
    fn walks_over_year_ends() {
        let days: Vec<String> = Day::parse("2019-12-30")
            .unwrap()
            .through(Day::parse("2020-01-02").unwrap())
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            days,
            ["2019-12-30", "2019-12-31", "2020-01-01", "2020-01-02"]
        );
    }

    #[test]
    fn an_empty_range() {
        let later = Day::parse("2020-03-02").unwrap();
        let earlier = Day::parse("2020-03-01").unwrap();
        assert_eq!(later.through(earlier).count(), 0);
        assert_eq!(later.through(later).count(), 1);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn crosses_as_its_text_and_is_checked_on_the_way_back() {
        let day = Day::parse("2020-02-29").unwrap();
        let json = serde_json::to_string(&day).unwrap();
        assert_eq!(json, "\"2020-02-29\"");
        assert_eq!(serde_json::from_str::<Day>(&json).unwrap(), day);
        let wrong = serde_json::from_str::<Day>("\"2021-02-29\"").unwrap_err();
        assert!(wrong.to_string().contains("2021-02-29"), "{wrong}");
        assert!(serde_json::from_str::<Day>("20200229").is_err());
    }
}
