//! The one failover policy of the broker's AWS endpoint lists (sign-in Regions and STS):
//! endpoints are used in configured order; one known to be down is passed over until it is
//! seen working again. What to do when every endpoint is down differs by purpose and is the
//! caller's choice: STS tries them all anyway (an answer beats none, and the caller waits for
//! it), while console sign-in refuses (a browser POST to a dead Region is a dead end for the
//! person; the portal says which Regions are down instead).
//!
//! How an endpoint is known to be down also differs: sign-in Regions are probed in the
//! background (`regions`), STS endpoints are marked when a real call fails ([`DownMarks`]).

use std::sync::Mutex;

/// What [`order`] returns when every eligible endpoint is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenAllDown {
    /// Every eligible endpoint, in configured order.
    TryAll,
    /// None.
    Nothing,
}

/// The indexes of `0..count` to try, in configured order: those `excluded` (an admin drained
/// them) left out, those `down` after the others' or not at all, as `when_all_down` says.
pub fn order(
    count: usize,
    excluded: impl Fn(usize) -> bool,
    down: impl Fn(usize) -> bool,
    when_all_down: WhenAllDown,
) -> Vec<usize> {
    let eligible: Vec<usize> = (0..count).filter(|&i| !excluded(i)).collect();
    let up: Vec<usize> = eligible.iter().copied().filter(|&i| !down(i)).collect();
    match (up.is_empty(), when_all_down) {
        (true, WhenAllDown::TryAll) => eligible,
        _ => up,
    }
}

/// What the broker remembers of one endpoint that failed a call.
#[derive(Debug, Clone, Default)]
pub struct Mark {
    /// Unix seconds until which the endpoint is passed over (0: not down).
    pub down_until: i64,
    pub last_error: Option<String>,
}

/// Down-marks for endpoints judged by the calls made to them: a failure takes an endpoint out
/// for `down_for_secs`, a success clears its mark.
pub struct DownMarks {
    down_for_secs: i64,
    marks: Mutex<Vec<Mark>>,
}

impl DownMarks {
    pub fn new(count: usize, down_for_secs: i64) -> DownMarks {
        DownMarks {
            down_for_secs,
            marks: Mutex::new(vec![Mark::default(); count]),
        }
    }

    /// Every endpoint's mark, in configured order.
    pub fn marks(&self) -> Vec<Mark> {
        self.marks.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// The endpoints to try now, by the shared policy, trying all when all are marked down.
    pub fn order(&self, now: i64) -> Vec<usize> {
        let marks = self.marks();
        order(
            marks.len(),
            |_| false,
            |i| marks[i].down_until > now,
            WhenAllDown::TryAll,
        )
    }

    /// Takes over another instance's mark when it reaches further: that instance already paid
    /// for finding the endpoint down.
    pub fn adopt(&self, i: usize, down_until: i64, error: Option<String>) {
        if let Ok(mut marks) = self.marks.lock() {
            if let Some(m) = marks.get_mut(i).filter(|m| m.down_until < down_until) {
                m.down_until = down_until;
                m.last_error = error;
            }
        }
    }

    /// Seconds a failure takes an endpoint out.
    pub fn down_for_secs(&self) -> i64 {
        self.down_for_secs
    }

    /// Records the outcome of a call: `error` marks the endpoint down, `None` clears it.
    pub fn record(&self, i: usize, now: i64, error: Option<String>) {
        if let Ok(mut marks) = self.marks.lock() {
            if let Some(m) = marks.get_mut(i) {
                m.down_until = if error.is_some() {
                    now + self.down_for_secs
                } else {
                    0
                };
                m.last_error = error;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_endpoints_are_passed_over_and_all_down_is_the_callers_choice() {
        let down = |i: usize| i == 0;
        assert_eq!(order(3, |_| false, down, WhenAllDown::Nothing), vec![1, 2]);
        assert_eq!(order(3, |i| i == 1, down, WhenAllDown::Nothing), vec![2]);
        assert!(order(2, |_| false, |_| true, WhenAllDown::Nothing).is_empty());
        assert_eq!(
            order(3, |i| i == 2, |_| true, WhenAllDown::TryAll),
            vec![0, 1]
        );
    }

    #[test]
    fn a_failed_call_marks_an_endpoint_down_for_a_while() {
        let marks = DownMarks::new(2, 30);
        marks.record(0, 100, Some("timed out".into()));
        assert_eq!(marks.order(100), vec![1]);
        assert_eq!(marks.order(131), vec![0, 1], "back after down_for_secs");
        marks.record(1, 100, Some("HTTP 503".into()));
        assert_eq!(marks.order(110), vec![0, 1], "all down: try all");
        marks.record(0, 110, None);
        assert_eq!(marks.order(110), vec![0]);
        assert_eq!(marks.marks()[1].last_error.as_deref(), Some("HTTP 503"));
    }
}
