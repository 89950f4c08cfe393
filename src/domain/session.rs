//! When a server-side session is still valid. Time is a parameter so that expiry is testable.

/// Timestamps of a stored session, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimes {
    pub created_at: i64,
    pub last_seen_at: i64,
}

/// Idle and absolute limits, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle_timeout_secs: i64,
    pub absolute_timeout_secs: i64,
}

/// What to do with a session presented at time `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Valid; `touch` says whether `last_seen_at` is stale enough to be rewritten.
    Active { touch: bool },
    /// Unused for longer than the idle timeout.
    IdleExpired,
    /// Older than the absolute timeout.
    AbsoluteExpired,
}

/// Seconds between rewrites of `last_seen_at`: an idle timeout of minutes does not need
/// second precision, and skipping the write keeps page views from being database writes.
pub const TOUCH_INTERVAL_SECS: i64 = 60;

impl SessionPolicy {
    /// Decides whether a session is still valid at `now`.
    pub fn evaluate(&self, times: SessionTimes, now: i64) -> SessionState {
        if now - times.created_at >= self.absolute_timeout_secs {
            SessionState::AbsoluteExpired
        } else if now - times.last_seen_at >= self.idle_timeout_secs {
            SessionState::IdleExpired
        } else {
            let touch =
                now - times.last_seen_at >= TOUCH_INTERVAL_SECS.min(self.idle_timeout_secs / 2);
            SessionState::Active { touch }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: SessionPolicy = SessionPolicy {
        idle_timeout_secs: 1800,
        absolute_timeout_secs: 43200,
    };

    fn times(created_at: i64, last_seen_at: i64) -> SessionTimes {
        SessionTimes {
            created_at,
            last_seen_at,
        }
    }

    #[test]
    fn fresh_session_is_active_without_a_write() {
        assert_eq!(
            POLICY.evaluate(times(0, 0), 10),
            SessionState::Active { touch: false }
        );
    }

    #[test]
    fn stale_last_seen_is_rewritten() {
        assert_eq!(
            POLICY.evaluate(times(0, 0), 61),
            SessionState::Active { touch: true }
        );
    }

    #[test]
    fn idle_limit_is_inclusive() {
        assert_eq!(
            POLICY.evaluate(times(0, 0), 1799),
            SessionState::Active { touch: true }
        );
        assert_eq!(
            POLICY.evaluate(times(0, 0), 1800),
            SessionState::IdleExpired
        );
    }

    #[test]
    fn absolute_limit_wins_over_activity() {
        assert_eq!(
            POLICY.evaluate(times(0, 43199), 43200),
            SessionState::AbsoluteExpired
        );
    }
}
