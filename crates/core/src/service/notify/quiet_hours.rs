//! Quiet hours (do not disturb): whether a time falls in a user's, and when they end, in their time zone.

use jiff::Timestamp;
use jiff::civil::Time;
use jiff::tz::TimeZone;

use crate::model::Millis;
use crate::store::QuietHours;

/// Whether `name` is a time zone the server knows.
pub fn known_time_zone(name: &str) -> bool {
    TimeZone::get(name).is_ok()
}

/// `None` outside the quiet hours; inside, when they end. A zone unknown to this server (it was known
/// when set) holds nothing back.
pub fn held_until(hours: &QuietHours, now: Millis) -> Option<Millis> {
    if hours.start == hours.end {
        return None;
    }
    let zone = TimeZone::get(&hours.time_zone).ok()?;
    let here = Timestamp::from_millisecond(now.0)
        .ok()?
        .to_zoned_datetime(zone.clone());
    let minute = u16::try_from(here.hour()).ok()? * 60 + u16::try_from(here.minute()).ok()?;
    let inside = if hours.start < hours.end {
        (hours.start..hours.end).contains(&minute)
    } else {
        minute >= hours.start || minute < hours.end
    };
    if !inside {
        return None;
    }
    let mut day = here.date();
    if minute >= hours.end {
        day = day.tomorrow().ok()?;
    }
    let end = Time::new(
        i8::try_from(hours.end / 60).ok()?,
        i8::try_from(hours.end % 60).ok()?,
        0,
        0,
    )
    .ok()?;
    let end = day.to_datetime(end).to_zoned_datetime(zone).ok()?;
    Some(Millis(end.timestamp().as_millisecond()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(utc: &str) -> Millis {
        Millis(
            utc.parse::<Timestamp>()
                .expect("a timestamp")
                .as_millisecond(),
        )
    }

    fn hours(start: u16, end: u16, zone: &str) -> QuietHours {
        QuietHours {
            start,
            end,
            time_zone: zone.to_owned(),
        }
    }

    #[test]
    fn overnight_hours_span_midnight_in_the_users_zone() {
        // 22:00 to 07:00 in Berlin (UTC+1 in January).
        let night = hours(22 * 60, 7 * 60, "Europe/Berlin");
        assert_eq!(held_until(&night, at("2026-01-10T20:59:00Z")), None);
        assert_eq!(
            held_until(&night, at("2026-01-10T21:00:00Z")),
            Some(at("2026-01-11T06:00:00Z"))
        );
        assert_eq!(
            held_until(&night, at("2026-01-11T02:30:00Z")),
            Some(at("2026-01-11T06:00:00Z"))
        );
        assert_eq!(held_until(&night, at("2026-01-11T06:00:00Z")), None);
    }

    #[test]
    fn daytime_hours_and_daylight_saving() {
        // 12:00 to 13:00 in New York, in summer (UTC-4).
        let lunch = hours(12 * 60, 13 * 60, "America/New_York");
        assert_eq!(
            held_until(&lunch, at("2026-07-01T16:30:00Z")),
            Some(at("2026-07-01T17:00:00Z"))
        );
        assert_eq!(held_until(&lunch, at("2026-07-01T17:00:00Z")), None);
    }

    #[test]
    fn empty_hours_and_unknown_zones_hold_nothing() {
        assert_eq!(held_until(&hours(600, 600, "UTC"), Millis(0)), None);
        assert_eq!(held_until(&hours(0, 1439, "Mars/Olympus"), Millis(0)), None);
        assert!(known_time_zone("Europe/Berlin"));
        assert!(!known_time_zone("Mars/Olympus"));
    }
}
