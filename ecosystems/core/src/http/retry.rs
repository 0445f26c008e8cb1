//! When to try a request again, and how long to wait first: exponential backoff with full
//! jitter, or what the server asked for (`Retry-After` as seconds or an HTTP-date, GitLab's
//! and Docker Hub's `RateLimit-Remaining`/`RateLimit-Reset`). Pure functions of what was
//! answered and the time; the client does the waiting.

use super::{HttpError, Method, Response};
use reqwest::header::{HeaderMap, DATE, RETRY_AFTER};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What to do after one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Keep this outcome.
    Done,
    /// Try again after the server's delay, or after a backoff when it named none.
    Retry(Option<Duration>),
}

/// Whether an outcome is worth another attempt, and after how long the server wants it.
///
/// Reads (GET, HEAD) are retried on any transport failure, 5xx and 429. Writes are retried
/// only when the server surely did not act on them: the connection was never made, or it
/// refused the request with 429 before processing it. A write whose answer was lost (a reset,
/// a timeout, a 5xx) is not repeated: the caller's reconcile logic finds out what happened.
/// A 429 whose rate-limit budget is spent with no time named is not retried either (Docker
/// Hub's pull limit resets in hours).
pub(crate) fn verdict(
    method: Method,
    outcome: &Result<Response, HttpError>,
    now: SystemTime,
) -> Verdict {
    let reads = method.is_idempotent();
    match outcome {
        Ok(response) if response.status == 429 => {
            let hint = server_delay(&response.headers, now);
            if hint.is_none() && budget_spent(&response.headers) {
                Verdict::Done
            } else {
                Verdict::Retry(hint)
            }
        }
        Ok(response) if response.status >= 500 && reads => {
            Verdict::Retry(retry_after(&response.headers, now))
        }
        Ok(_) => Verdict::Done,
        Err(HttpError::Connect { .. }) => Verdict::Retry(None),
        Err(HttpError::Timeout { .. } | HttpError::Transport { .. }) if reads => {
            Verdict::Retry(None)
        }
        Err(_) => Verdict::Done,
    }
}

/// Full jitter (uniform in `[0, min(cap, base · 2^attempt)]`), from a random `u64`.
pub(crate) fn full_jitter(base: Duration, cap: Duration, attempt: u32, random: u64) -> Duration {
    let ceiling = base.saturating_mul(1u32 << attempt.min(20)).min(cap);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    match nanos.checked_add(1) {
        Some(span) => Duration::from_nanos(random % span),
        None => Duration::from_nanos(random),
    }
}

/// The delay the server asks for before the next request: `Retry-After`, else the time until
/// `RateLimit-Reset` when `RateLimit-Remaining` says the budget is spent.
pub(crate) fn server_delay(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    retry_after(headers, now).or_else(|| {
        if budget_spent(headers) {
            rate_limit_reset(headers, now)
        } else {
            None
        }
    })
}

/// The server's clock when it answered (its `Date`), else ours: dates it sends are measured
/// against its own clock, so a skewed local clock does not stretch or cut the wait.
fn server_now(headers: &HeaderMap, now: SystemTime) -> SystemTime {
    header(headers, DATE.as_str())
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .unwrap_or(now)
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` (RFC 9110 §10.2.3).
/// A date in the past means now.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = header(headers, RETRY_AFTER.as_str())?;
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(server_now(headers, now))
            .unwrap_or(Duration::ZERO),
    )
}

/// The leading integer of a rate-limit header (`0`, `0;w=21600`, `59, 100;w=60`).
fn leading_number(value: &str) -> Option<u64> {
    let digits: String = value
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `RateLimit-Remaining: 0` (GitLab, Docker Hub; also the `X-` form).
pub(crate) fn budget_spent(headers: &HeaderMap) -> bool {
    ["ratelimit-remaining", "x-ratelimit-remaining"]
        .iter()
        .filter_map(|name| header(headers, name))
        .any(|v| leading_number(v) == Some(0))
}

/// `RateLimit-Reset`: GitLab sends a Unix time, the IETF draft a number of seconds; values
/// above 10⁹ can only be the former.
pub(crate) fn rate_limit_reset(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = ["ratelimit-reset", "x-ratelimit-reset"]
        .iter()
        .find_map(|name| header(headers, name))
        .and_then(leading_number)?;
    if value > 1_000_000_000 {
        let at = UNIX_EPOCH.checked_add(Duration::from_secs(value))?;
        Some(
            at.duration_since(server_now(headers, now))
                .unwrap_or(Duration::ZERO),
        )
    } else {
        Some(Duration::from_secs(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use url::Url;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn response(status: u16, pairs: &[(&'static str, &str)]) -> Result<Response, HttpError> {
        Ok(Response {
            status,
            headers: headers(pairs),
            body: Vec::new(),
            url: Url::parse("http://registry.test/").unwrap(),
        })
    }

    // 2015-10-21T07:28:00Z
    const OCT_21: u64 = 1_445_412_480;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = at(OCT_21);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "120")]), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT")]),
                now
            ),
            Some(Duration::from_secs(30))
        );
        // The obsolete RFC 850 and asctime forms are HTTP-dates too.
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Wednesday, 21-Oct-15 07:28:10 GMT")]),
                now
            ),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Wed Oct 21 07:28:05 2015")]),
                now
            ),
            Some(Duration::from_secs(5))
        );
        // In the past: now. Garbage: no hint.
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:00:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-5")]), now), None);
        assert_eq!(retry_after(&headers(&[]), now), None);
    }

    #[test]
    fn dates_are_measured_against_the_servers_clock() {
        // Our clock is an hour fast; the server's Date says 07:28:00.
        let skewed = at(OCT_21 + 3600);
        let h = headers(&[
            ("retry-after", "Wed, 21 Oct 2015 07:28:20 GMT"),
            ("date", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ]);
        assert_eq!(retry_after(&h, skewed), Some(Duration::from_secs(20)));
    }

    #[test]
    fn gitlab_rate_limit_headers() {
        let now = at(OCT_21);
        let reset = (OCT_21 + 42).to_string();
        // Budget left: no delay even with a reset time.
        let h = headers(&[
            ("ratelimit-remaining", "10"),
            ("ratelimit-reset", reset.as_str()),
        ]);
        assert_eq!(server_delay(&h, now), None);
        // Spent: wait until the reset (a Unix time).
        let h = headers(&[
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", reset.as_str()),
        ]);
        assert_eq!(server_delay(&h, now), Some(Duration::from_secs(42)));
        // The draft standard's delta seconds.
        let h = headers(&[("ratelimit-remaining", "0"), ("ratelimit-reset", "7")]);
        assert_eq!(server_delay(&h, now), Some(Duration::from_secs(7)));
        // Retry-After wins over the reset.
        let h = headers(&[
            ("retry-after", "3"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "7"),
        ]);
        assert_eq!(server_delay(&h, now), Some(Duration::from_secs(3)));
        // Docker Hub's form.
        assert!(budget_spent(&headers(&[(
            "ratelimit-remaining",
            "0;w=21600"
        )])));
        assert!(!budget_spent(&headers(&[(
            "ratelimit-remaining",
            "76;w=21600"
        )])));
    }

    #[test]
    fn full_jitter_stays_under_the_exponential_ceiling() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        for attempt in 0..10 {
            let ceiling = (base * 2u32.pow(attempt)).min(cap);
            for random in [0, 1, 12_345, u64::MAX / 3, u64::MAX] {
                let d = full_jitter(base, cap, attempt, random);
                assert!(d <= ceiling, "{attempt} {random}: {d:?} > {ceiling:?}");
            }
        }
        assert_eq!(full_jitter(base, cap, 0, 0), Duration::ZERO);
        // Large attempts and caps do not overflow.
        assert!(full_jitter(base, Duration::MAX, 200, u64::MAX) <= Duration::MAX);
        // Different random numbers spread out.
        let spread: std::collections::BTreeSet<_> = (0..50u64)
            .map(|i| full_jitter(base, cap, 3, i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
            .collect();
        assert!(spread.len() > 40);
    }

    #[test]
    fn what_is_retried() {
        let now = at(OCT_21);
        let connect = || {
            Err(HttpError::Connect {
                url: "u".into(),
                detail: "refused".into(),
            })
        };
        let reset = || {
            Err(HttpError::Transport {
                url: "u".into(),
                detail: "connection reset".into(),
            })
        };
        let timeout = || {
            Err(HttpError::Timeout {
                url: "u".into(),
                seconds: 1,
            })
        };
        // Reads: transport failures, 5xx, 429.
        for outcome in [connect(), reset(), timeout(), response(503, &[])] {
            assert_eq!(verdict(Method::Get, &outcome, now), Verdict::Retry(None));
        }
        assert_eq!(
            verdict(Method::Head, &response(503, &[("retry-after", "2")]), now),
            Verdict::Retry(Some(Duration::from_secs(2)))
        );
        assert_eq!(
            verdict(Method::Get, &response(429, &[("retry-after", "1")]), now),
            Verdict::Retry(Some(Duration::from_secs(1)))
        );
        for status in [200, 304, 404, 401] {
            assert_eq!(
                verdict(Method::Get, &response(status, &[]), now),
                Verdict::Done
            );
        }
        // Writes: only what surely was not acted on.
        for method in [Method::Post, Method::Put, Method::Delete] {
            assert_eq!(verdict(method, &connect(), now), Verdict::Retry(None));
            assert_eq!(
                verdict(method, &response(429, &[]), now),
                Verdict::Retry(None)
            );
            for outcome in [reset(), timeout(), response(500, &[]), response(502, &[])] {
                assert_eq!(verdict(method, &outcome, now), Verdict::Done);
            }
        }
        // A spent budget with no time named: give up now.
        assert_eq!(
            verdict(
                Method::Get,
                &response(429, &[("ratelimit-remaining", "0;w=21600")]),
                now
            ),
            Verdict::Done
        );
        // Answers that will not change: not retried.
        let too_large = Err(HttpError::TooLarge {
            url: "u".into(),
            limit: 1,
        });
        assert_eq!(verdict(Method::Get, &too_large, now), Verdict::Done);
    }
}
