//! What the client knows about each host (`host:port`): its concurrency slots, its circuit
//! breaker, a pause its rate limit asked for, and request counters. Lives in the client
//! behind an `Arc`, so every clone of the client shares it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::sync::Semaphore;

/// Where the client reads the time and how it waits. The default is tokio's clock; tests
/// inject one that records the waits and returns at once.
pub trait Clock: Send + Sync {
    /// Monotonic time since an arbitrary start.
    fn now(&self) -> Duration;
    /// Wall-clock time, for `Retry-After` dates and `RateLimit-Reset` times.
    fn wall(&self) -> SystemTime;
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// tokio's clock (so tests with paused time work too).
pub struct SystemClock {
    start: tokio::time::Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        SystemClock {
            start: tokio::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Why requests are counted: registry lookups (the report's one-request-per-package
/// figure) or forge calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Purpose {
    #[default]
    Registry,
    Forge,
}

/// Counters of what the client did, for the run report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostStats {
    /// Attempts sent (first tries and retries).
    pub requests: u64,
    pub retries: u64,
    /// Requests refused at once because the host's circuit was open.
    pub refused: u64,
    /// Answers that were `304 Not Modified`, served from the disk cache (each also
    /// counted in `requests`: the server was asked).
    pub not_modified: u64,
}

/// When a host counts as down.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CircuitPolicy {
    /// Consecutive failed requests that open the circuit (0: never).
    pub failures: u32,
    /// How long it stays open before one request may probe the host again.
    pub open_for: Duration,
}

/// The circuit is open: the host is not asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Open {
    pub failures: u32,
    pub last: String,
}

#[derive(Default)]
struct State {
    /// Failed requests in a row (after their retries).
    failures: u32,
    last_failure: String,
    /// Open until this clock time.
    open_until: Option<Duration>,
    /// One request is probing a host whose cool-off has passed.
    probing: bool,
    /// Its rate limit asked for no request before this clock time.
    not_before: Option<Duration>,
    registry: HostStats,
    forge: HostStats,
}

pub(crate) struct Host {
    pub slots: Semaphore,
    state: Mutex<State>,
}

/// Admission of one request; a probe of a half-open circuit gives its turn back if dropped
/// before its outcome is recorded (a cancelled lookup must not leave the circuit stuck).
pub(crate) struct Ticket<'a> {
    host: &'a Host,
    probe: bool,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.probe {
            self.host.lock().probing = false;
        }
    }
}

impl Host {
    pub fn new(slots: usize) -> Self {
        Host {
            slots: Semaphore::new(slots.max(1)),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// May a request go to this host now? A closed circuit admits everyone; an open one
    /// no one until its cool-off has passed, then one probe at a time.
    pub fn admit(&self, now: Duration, purpose: Purpose) -> Result<Ticket<'_>, Open> {
        let mut state = self.lock();
        let refuse = |state: &mut State| {
            let s = stats(state, purpose);
            s.refused = s.refused.saturating_add(1);
            Err(Open {
                failures: state.failures,
                last: state.last_failure.clone(),
            })
        };
        match state.open_until {
            None => Ok(Ticket {
                host: self,
                probe: false,
            }),
            Some(until) if now < until => refuse(&mut state),
            Some(_) if state.probing => refuse(&mut state),
            Some(_) => {
                state.probing = true;
                Ok(Ticket {
                    host: self,
                    probe: true,
                })
            }
        }
    }

    /// The outcome of an admitted request: `Some(true)` the host failed (transport failure
    /// or 5xx after retries), `Some(false)` it answered, `None` says nothing about the host.
    /// Returns whether this outcome opened the circuit.
    pub fn record(
        &self,
        mut ticket: Ticket<'_>,
        failed: Option<(bool, String)>,
        now: Duration,
        policy: CircuitPolicy,
    ) -> bool {
        let was_probe = std::mem::replace(&mut ticket.probe, false);
        let mut state = self.lock();
        if was_probe {
            state.probing = false;
        }
        match failed {
            Some((false, _)) => {
                state.failures = 0;
                state.open_until = None;
                false
            }
            Some((true, detail)) => {
                state.failures = state.failures.saturating_add(1);
                state.last_failure = detail;
                let trips = policy.failures > 0 && state.failures >= policy.failures;
                let opens = trips && (was_probe || state.open_until.is_none());
                if trips {
                    state.open_until = Some(now.saturating_add(policy.open_for));
                }
                opens
            }
            None => false,
        }
    }

    /// How long requests must still wait for the host's rate limit.
    pub fn pause(&self, now: Duration) -> Option<Duration> {
        let state = self.lock();
        state
            .not_before
            .and_then(|t| t.checked_sub(now))
            .filter(|d| !d.is_zero())
    }

    /// No request before `now + wait` (the host's rate-limit budget is spent).
    pub fn pause_for(&self, now: Duration, wait: Duration) {
        let mut state = self.lock();
        let until = now.saturating_add(wait);
        if state.not_before.is_none_or(|t| t < until) {
            state.not_before = Some(until);
        }
    }

    pub fn count(&self, purpose: Purpose, retry: bool) {
        let mut state = self.lock();
        let s = stats(&mut state, purpose);
        s.requests = s.requests.saturating_add(1);
        if retry {
            s.retries = s.retries.saturating_add(1);
        }
    }

    pub fn count_not_modified(&self, purpose: Purpose) {
        let mut state = self.lock();
        let s = stats(&mut state, purpose);
        s.not_modified = s.not_modified.saturating_add(1);
    }

    pub fn stats(&self, purpose: Purpose) -> HostStats {
        let mut state = self.lock();
        stats(&mut state, purpose).clone()
    }
}

fn stats(state: &mut State, purpose: Purpose) -> &mut HostStats {
    match purpose {
        Purpose::Registry => &mut state.registry,
        Purpose::Forge => &mut state.forge,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: CircuitPolicy = CircuitPolicy {
        failures: 3,
        open_for: Duration::from_secs(60),
    };

    fn fail(host: &Host, now: Duration) -> bool {
        let ticket = host.admit(now, Purpose::Registry).expect("admitted");
        host.record(ticket, Some((true, "HTTP 503".into())), now, POLICY)
    }

    #[test]
    fn opens_after_consecutive_failures_and_probes_after_the_cool_off() {
        let host = Host::new(1);
        let t0 = Duration::ZERO;
        assert!(!fail(&host, t0));
        assert!(!fail(&host, t0));
        // A success in between resets the count.
        let ticket = host.admit(t0, Purpose::Registry).unwrap();
        host.record(ticket, Some((false, String::new())), t0, POLICY);
        assert!(!fail(&host, t0));
        assert!(!fail(&host, t0));
        assert!(fail(&host, t0), "the third failure in a row opens it");
        let open = host.admit(t0 + Duration::from_secs(59), Purpose::Registry);
        assert_eq!(
            open.err(),
            Some(Open {
                failures: 3,
                last: "HTTP 503".into()
            })
        );
        assert_eq!(host.stats(Purpose::Registry).refused, 1);
        // Cool-off over: one probe; others are refused while it runs.
        let later = t0 + Duration::from_secs(61);
        let probe = host.admit(later, Purpose::Registry).expect("probe");
        assert!(host.admit(later, Purpose::Registry).is_err());
        // The probe fails: open again for another cool-off.
        assert!(host.record(probe, Some((true, "timeout".into())), later, POLICY));
        assert!(host
            .admit(later + Duration::from_secs(30), Purpose::Registry)
            .is_err());
        // The next probe succeeds: closed.
        let much_later = later + Duration::from_secs(61);
        let probe = host.admit(much_later, Purpose::Registry).expect("probe");
        host.record(probe, Some((false, String::new())), much_later, POLICY);
        assert!(host.admit(much_later, Purpose::Registry).is_ok());
        assert!(host.admit(much_later, Purpose::Registry).is_ok());
    }

    #[test]
    fn a_dropped_probe_gives_its_turn_back() {
        let host = Host::new(1);
        for _ in 0..3 {
            fail(&host, Duration::ZERO);
        }
        let later = Duration::from_secs(61);
        let probe = host.admit(later, Purpose::Registry).expect("probe");
        drop(probe);
        assert!(host.admit(later, Purpose::Registry).is_ok());
    }

    #[test]
    fn zero_failures_means_never_open() {
        let host = Host::new(1);
        let never = CircuitPolicy {
            failures: 0,
            open_for: Duration::from_secs(60),
        };
        for _ in 0..100 {
            let t = host.admit(Duration::ZERO, Purpose::Forge).unwrap();
            assert!(!host.record(t, Some((true, "x".into())), Duration::ZERO, never));
        }
        assert!(host.admit(Duration::ZERO, Purpose::Forge).is_ok());
    }

    #[test]
    fn rate_limit_pauses_only_lengthen() {
        let host = Host::new(1);
        assert_eq!(host.pause(Duration::ZERO), None);
        host.pause_for(Duration::ZERO, Duration::from_secs(10));
        host.pause_for(Duration::ZERO, Duration::from_secs(5));
        assert_eq!(
            host.pause(Duration::from_secs(4)),
            Some(Duration::from_secs(6))
        );
        assert_eq!(host.pause(Duration::from_secs(10)), None);
    }
}
