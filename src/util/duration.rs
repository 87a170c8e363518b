//! Seconds given as floats, turned into `Duration`s without a panic.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what} must be a finite number of seconds between {min} and {max}, got {value}")]
pub struct DurationError {
    pub what: String,
    pub value: f64,
    pub min: f64,
    pub max: f64,
}

/// `value` seconds, refused unless finite and within `min..=max`.
pub fn seconds(what: &str, value: f64, min: f64, max: f64) -> Result<Duration, DurationError> {
    if value.is_finite() && (min..=max).contains(&value) {
        if let Ok(d) = Duration::try_from_secs_f64(value) {
            return Ok(d);
        }
    }
    Err(DurationError { what: what.to_string(), value, min, max })
}

/// The longest wait anything takes: a day.
pub const MAX_WAIT_SECS: f64 = 86_400.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_duration_cannot_hold() {
        for bad in [f64::INFINITY, f64::NAN, -1.0, 1e300, f64::NEG_INFINITY] {
            assert!(seconds("timeout", bad, 0.0, MAX_WAIT_SECS).is_err(), "{bad}");
        }
        assert_eq!(seconds("timeout", 1.5, 0.0, 10.0), Ok(Duration::from_millis(1500)));
        assert_eq!(seconds("t", f64::INFINITY, 0.0, 1.0).unwrap_err().to_string(), "t must be a finite number of seconds between 0 and 1, got inf");
    }
}
