//! Log lines about events that may come by the thousand (failed accepts, connections refused for
//! their PROXY protocol header): one line at most per period, counting the events since the
//! previous one, so that an operator sees them at the default level and a flood writes a line a
//! period.

use std::time::{Duration, Instant};

/// Counts events and says when a line about them is due: at the first event, then at the first
/// event a period or more after the previous line (not on a fixed clock: after a quiet hour, an
/// event is reported at once).
#[derive(Debug)]
pub(crate) struct Throttle {
    /// The least time between two lines.
    every: Duration,
    /// The events since the previous line, not yet reported.
    unreported: u64,
    /// When the previous line was due; `None` before the first.
    reported: Option<Instant>,
}

impl Throttle {
    /// No event yet; a line at most once per `every`.
    pub(crate) const fn new(every: Duration) -> Self {
        Self { every, unreported: 0, reported: None }
    }

    /// Counts an event at `now`. When a line is due, returns the count it reports, the events
    /// since the previous line with this one; `None` otherwise, the event kept for the next.
    pub(crate) fn count(&mut self, now: Instant) -> Option<u64> {
        self.unreported = self.unreported.saturating_add(1);
        let due = self.reported.is_none_or(|at| now.duration_since(at) >= self.every);
        if !due {
            return None;
        }
        self.reported = Some(now);
        Some(std::mem::take(&mut self.unreported))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first event is reported at once; the others within the period are not, and are
    /// counted in the next line, due at the first event a period or more after the previous
    /// line (a quiet hour, then an event: reported at once).
    #[test]
    fn events_are_reported_at_most_once_per_period_with_their_count() {
        let mut throttle = Throttle::new(Duration::from_mins(1));
        let start = Instant::now();
        let at = |seconds| start + Duration::from_secs(seconds);
        assert_eq!(throttle.count(at(0)), Some(1));
        assert_eq!(throttle.count(at(0)), None);
        assert_eq!(throttle.count(at(30)), None);
        assert_eq!(throttle.count(at(59)), None);
        assert_eq!(throttle.count(at(60)), Some(4), "3 unreported, and this one");
        assert_eq!(throttle.count(at(61)), None);
        assert_eq!(throttle.count(at(3600)), Some(2));
        assert_eq!(throttle.count(at(3600)), None);
    }
}
