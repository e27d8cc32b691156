//! When the pod is released and when each hook is answered: pure functions of the time
//! since the first hook call.

use std::time::Duration;

/// The waiter's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Never release before this: the endpoint controller must have seen the deletion.
    pub min: Duration,
    /// Always release by this: the plan's later tiers and the grace period assume it.
    pub max: Duration,
    /// How long without inbound activity makes the pod quiet.
    pub window: Duration,
}

impl Bounds {
    /// Whether the pod is released at `elapsed` (since the first hook call), given when
    /// the last activity was seen. Watching starts with the first call, so the pod must
    /// have been watched for a whole window before it can be called quiet.
    pub fn due(&self, elapsed: Duration, last_activity: Option<Duration>) -> bool {
        if elapsed >= self.max {
            return true;
        }
        elapsed >= self.min
            && elapsed >= self.window
            && last_activity.is_none_or(|at| elapsed.saturating_sub(at) >= self.window)
    }

    /// The release time to record when `due` first says yes at `elapsed` (a late wake-up
    /// past `max` still releases at `max`).
    pub fn release_at(&self, elapsed: Duration) -> Duration {
        elapsed.min(self.max)
    }
}

/// What a hook asks for (its `httpGet` path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// `/release?after=N`: `N` after the pod's release time (the container's tier).
    After(Duration),
    /// `/release?at=N`: `N` after the first hook call, whatever the traffic.
    At(Duration),
}

impl Ask {
    /// When this hook is answered (since the first call); `None` while it depends on a
    /// release time not yet decided.
    pub fn answer_at(self, release: Option<Duration>) -> Option<Duration> {
        match self {
            Ask::After(offset) => release.map(|release| release.saturating_add(offset)),
            Ask::At(at) => Some(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    const BOUNDS: Bounds = Bounds {
        min: Duration::from_secs(2),
        max: Duration::from_secs(30),
        window: Duration::from_millis(1500),
    };

    #[test]
    fn a_quiet_pod_is_released_at_min() {
        assert!(!BOUNDS.due(ms(1999), None));
        assert!(BOUNDS.due(s(2), None));
        assert_eq!(BOUNDS.release_at(s(2)), s(2));
    }

    #[test]
    fn traffic_holds_it_until_a_window_has_passed_without_any() {
        let last = Some(ms(4000));
        assert!(!BOUNDS.due(ms(5000), last));
        assert!(!BOUNDS.due(ms(5499), last));
        assert!(BOUNDS.due(ms(5500), last));
    }

    #[test]
    fn traffic_that_never_stops_is_released_at_max() {
        assert!(!BOUNDS.due(ms(29_999), Some(ms(29_950))));
        assert!(BOUNDS.due(s(30), Some(s(30))));
        // A wake-up after max still records max.
        assert_eq!(BOUNDS.release_at(ms(30_040)), s(30));
    }

    #[test]
    fn a_window_longer_than_min_must_be_watched_whole() {
        let bounds = Bounds {
            window: s(3),
            ..BOUNDS
        };
        assert!(!bounds.due(s(2), None));
        assert!(bounds.due(s(3), None));
    }

    #[test]
    fn each_tier_is_answered_at_release_plus_its_offset() {
        assert_eq!(Ask::After(s(5)).answer_at(None), None);
        assert_eq!(Ask::After(s(0)).answer_at(Some(ms(2300))), Some(ms(2300)));
        assert_eq!(Ask::After(s(5)).answer_at(Some(ms(2300))), Some(ms(7300)));
        // A fixed delay does not wait for the release.
        assert_eq!(Ask::At(s(7)).answer_at(None), Some(s(7)));
    }
}
