//! Annotation durations: a bare integer is seconds; otherwise Go-style `h`, `m`, `s`, `ms`
//! components (`1m30s`, `2500ms`), rounded up to whole seconds.

use std::fmt;

/// Why a duration did not parse. Shown to users in admission warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("is empty")]
    Empty,
    #[error("is negative")]
    Negative,
    #[error("is not a duration (use 20, 20s, 1m30s or 2500ms)")]
    Malformed,
}

/// Parses an annotation duration into whole seconds, rounding up.
///
/// Values too large to represent saturate at `u64::MAX` seconds so that the caller's cap
/// clamps them (with a warning) instead of rejecting them as malformed.
pub fn parse_seconds(text: &str) -> Result<u64, DurationError> {
    // A bare integer is seconds already: it saturates at `u64::MAX` seconds, not millis.
    let bare = text.trim_ascii();
    let bare = bare.strip_prefix('+').unwrap_or(bare);
    if !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(digits_value(bare));
    }
    parse_millis(text).map(|millis| millis.div_ceil(1_000))
}

/// Parses a duration into milliseconds (a bare integer is seconds). The waiter's flags
/// take sub-second values, so tests can run it with bounds of a few hundred milliseconds.
pub fn parse_millis(text: &str) -> Result<u64, DurationError> {
    let text = text.trim_ascii();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if let Some(rest) = text.strip_prefix('-') {
        // Only call it negative when the rest looks like a duration; "-x" is just malformed.
        return match parse_millis(rest) {
            Ok(0) => Ok(0),
            Ok(_) => Err(DurationError::Negative),
            Err(error) => Err(error),
        };
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(digits_value(text).saturating_mul(1_000));
    }

    let mut millis: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits_end = rest
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .ok_or(DurationError::Malformed)?;
        if digits_end == 0 {
            return Err(DurationError::Malformed);
        }
        let value = digits_value(&rest[..digits_end]);
        rest = &rest[digits_end..];
        let unit_end = rest
            .bytes()
            .position(|b| b.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_millis: u64 = match &rest[..unit_end] {
            "h" => 3_600_000,
            "m" => 60_000,
            "s" => 1_000,
            "ms" => 1,
            _ => return Err(DurationError::Malformed),
        };
        millis = millis.saturating_add(value.saturating_mul(unit_millis));
        rest = &rest[unit_end..];
    }
    Ok(millis)
}

/// The value of a run of ASCII digits, saturating instead of overflowing.
fn digits_value(digits: &str) -> u64 {
    digits.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    })
}

/// Formats whole seconds the way people write them in annotations: `45s`, `2m`, `1h30m`.
pub struct Seconds(pub u64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.0 / 3600, self.0 % 3600 / 60, self.0 % 60);
        if self.0 == 0 {
            return f.write_str("0s");
        }
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_integers_are_seconds() {
        assert_eq!(parse_seconds("20"), Ok(20));
        assert_eq!(parse_seconds("0"), Ok(0));
        assert_eq!(parse_seconds(" 7 "), Ok(7));
    }

    #[test]
    fn go_style_units_round_up_to_whole_seconds() {
        assert_eq!(parse_seconds("20s"), Ok(20));
        assert_eq!(parse_seconds("1m30s"), Ok(90));
        assert_eq!(parse_seconds("2500ms"), Ok(3));
        assert_eq!(parse_seconds("1ms"), Ok(1));
        assert_eq!(parse_seconds("1h"), Ok(3600));
        assert_eq!(parse_seconds("1h2m3s4ms"), Ok(3724));
        assert_eq!(parse_seconds("2m"), Ok(120));
    }

    #[test]
    fn negative_values_are_reported_as_negative() {
        assert_eq!(parse_seconds("-5s"), Err(DurationError::Negative));
        assert_eq!(parse_seconds("-5"), Err(DurationError::Negative));
        assert_eq!(parse_seconds("-0"), Ok(0));
        assert_eq!(parse_seconds("-soon"), Err(DurationError::Malformed));
    }

    #[test]
    fn malformed_values_are_rejected() {
        for bad in [
            "", "soon", "s", "10x", "1.5s", "10 s", "1m30", "٣s", "３", "10S", "ms", "1h-1m",
        ] {
            assert!(parse_seconds(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn huge_values_saturate_so_the_cap_can_clamp_them() {
        assert_eq!(parse_seconds("99999999999999999999"), Ok(u64::MAX));
        assert_eq!(
            parse_seconds("99999999999999999999h"),
            Ok(u64::MAX.div_ceil(1000))
        );
    }

    #[test]
    fn seconds_display_like_annotations() {
        assert_eq!(Seconds(45).to_string(), "45s");
        assert_eq!(Seconds(120).to_string(), "2m");
        assert_eq!(Seconds(5400).to_string(), "1h30m");
        assert_eq!(Seconds(0).to_string(), "0s");
    }
}
