//! Timestamps in GitLab's format (`2024-05-01T12:34:56.789Z`), without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Format milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn iso_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Seconds since the epoch, as a git date (`%at`), in GitLab's commit format.
pub fn iso_secs(secs: i64) -> String {
    iso_ms(secs * 1000)
}

/// Parse `YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM)` or `YYYY-MM-DD` into milliseconds.
pub fn parse_iso(s: &str) -> Option<i64> {
    let s = s.trim();
    let date = s.get(0..10)?;
    let mut parts = date.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    let mut ms = days_from_civil(y, m, d) * 86_400_000;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(ms);
    }
    let rest = rest.strip_prefix(['T', ' '])?;
    let h: i64 = rest.get(0..2)?.parse().ok()?;
    let mi: i64 = rest.get(3..5)?.parse().ok()?;
    let se: i64 = rest.get(6..8)?.parse().ok()?;
    ms += (h * 3600 + mi * 60 + se) * 1000;
    let mut tail = &rest[8..];
    if let Some(frac) = tail.strip_prefix('.') {
        let digits: String = frac.chars().take_while(|c| c.is_ascii_digit()).collect();
        let mut f = digits.clone();
        f.truncate(3);
        while f.len() < 3 {
            f.push('0');
        }
        ms += f.parse::<i64>().ok()?;
        tail = &frac[digits.len()..];
    }
    if let Some(off) = tail.strip_prefix(['+', '-']) {
        let sign = if tail.starts_with('-') { -1 } else { 1 };
        let oh: i64 = off.get(0..2)?.parse().ok()?;
        let om: i64 = off.get(off.len() - 2..)?.parse().ok()?;
        ms -= sign * (oh * 3600 + om * 60) * 1000;
    }
    Some(ms)
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_ms(1_709_251_200_123), "2024-03-01T00:00:00.123Z");
        assert_eq!(
            parse_iso("2024-03-01T00:00:00.123Z"),
            Some(1_709_251_200_123)
        );
        assert_eq!(
            parse_iso("2024-03-01T01:00:00+01:00"),
            Some(1_709_251_200_000)
        );
        assert_eq!(parse_iso("2024-03-01"), Some(1_709_251_200_000));
    }
}
