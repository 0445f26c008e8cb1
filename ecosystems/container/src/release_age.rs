//! Release dates of image tags, for the cooldown (minimum release age).
//!
//! A tag's date is its image's build time: the config's `created`, for a multi-platform
//! index the newest `created` of its platform images. Reading it costs a manifest and a
//! config blob per image, so dates are read only when a cooldown applies to the update and
//! only for the tags it needs: the tags an update could move to, newest first, until one is
//! old enough — per update type, since each has its own cooldown and `ignore` rules often
//! pass over a whole type (a tag whose update type has no cooldown is old enough without a
//! date) — at most [`DATE_LOOKUPS`] of them.
//!
//! A tag whose images record no `created` is held back, as Renovate (since version 42) does
//! with releases that have no timestamp: a cooldown that cannot be checked does not pass.
//! Older tags of a type than its first old-enough one are not read, and never proposed
//! unchecked.
//!
//! The cooldown travels in the lookup name (`docker.io/library/nginx:1.25.3#cooldown=…`,
//! see the plugin's `lookup_name`), so lookups under different cooldowns are kept apart.

use crate::versioning::Docker;
use chrono::{DateTime, Utc};
use updatebot_core::{MinimumAge, UpdateType, VersionScheme};

/// Tags whose date is read at most for one lookup.
pub const DATE_LOOKUPS: usize = 10;

const MARK: &str = "#cooldown=";

/// The lookup name suffix that carries `age`.
pub fn suffix(age: &MinimumAge) -> String {
    format!(
        "{MARK}{},{},{},{}",
        age.major_days, age.minor_days, age.patch_days, age.now
    )
}

/// A lookup name without its cooldown suffix, and the cooldown (`Err`: a malformed suffix).
pub fn split(name: &str) -> Result<(&str, Option<MinimumAge>), String> {
    let Some((package, rest)) = name.split_once(MARK) else {
        return Ok((name, None));
    };
    let parts: Vec<&str> = rest.split(',').collect();
    let bad = || format!("malformed cooldown `{rest}` in the lookup of `{package}`");
    let [major, minor, patch, now] = parts.as_slice() else {
        return Err(bad());
    };
    let day = |t: &str| t.parse::<u32>().map_err(|_| bad());
    Ok((
        package,
        Some(MinimumAge {
            major_days: day(major)?,
            minor_days: day(minor)?,
            patch_days: day(patch)?,
            now: now.parse().map_err(|_| bad())?,
        }),
    ))
}

/// The days an update from tag `current` to tag `tag` must wait.
pub fn days(age: &MinimumAge, current: &str, tag: &str) -> u32 {
    match Docker.update_type(current, tag) {
        UpdateType::Major => age.major_days,
        UpdateType::Minor => age.minor_days,
        UpdateType::Patch | UpdateType::Digest => age.patch_days,
        UpdateType::Pin => 0,
    }
}

/// Whole days from `created` (RFC 3339) to `now` (Unix seconds), as the policy counts them.
pub fn age_days(created: &str, now: i64) -> Option<i64> {
    let at = DateTime::parse_from_rfc3339(created).ok()?;
    let now = DateTime::<Utc>::from_timestamp(now, 0)?;
    Some((now - at.with_timezone(&Utc)).num_days())
}

/// What reading the date of one candidate tag gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dated {
    /// Its build time (old enough or not: the policy says so in its own words).
    At(String),
    /// Held back: why.
    Unfit(String),
}

/// The dates of the candidates (newest first) of an update from `current`, read in order
/// through `date`, and what each one is then. Per update type (major, minor, patch: each
/// has its own cooldown, and `ignore` rules often pass over a whole type), reading stops at
/// the first tag old enough; older tags of that type are then unfit as unchecked.
pub async fn date_candidates<F, Fut>(
    age: &MinimumAge,
    current: &str,
    candidates: &[String],
    mut date: F,
) -> Vec<(String, Dated)>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    let mut out = Vec::new();
    let mut read = 0;
    let mut settled: Vec<UpdateType> = Vec::new();
    for tag in candidates {
        let kind = Docker.update_type(current, tag);
        let days = days(age, current, tag);
        if settled.contains(&kind) {
            let why =
                format!("was not checked for the cooldown (a newer {kind} update is old enough)");
            out.push((tag.clone(), Dated::Unfit(why)));
            continue;
        }
        if days == 0 {
            settled.push(kind);
            continue;
        }
        if read == DATE_LOOKUPS {
            let why = format!(
                "was not checked for the cooldown (only the newest {DATE_LOOKUPS} tags are)"
            );
            out.push((tag.clone(), Dated::Unfit(why)));
            continue;
        }
        read += 1;
        match date(tag.clone()).await {
            Some(created) => {
                if age_days(&created, age.now).is_some_and(|d| d >= i64::from(days)) {
                    settled.push(kind);
                }
                out.push((tag.clone(), Dated::At(created)));
            }
            None => out.push((
                tag.clone(),
                Dated::Unfit(format!(
                    "has no build time (`created`) in its image config, so the {days}-day cooldown cannot be checked"
                )),
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000; // 2026-11-18T…

    fn age() -> MinimumAge {
        MinimumAge {
            major_days: 30,
            minor_days: 7,
            patch_days: 0,
            now: NOW,
        }
    }

    fn ago(days: i64) -> String {
        DateTime::<Utc>::from_timestamp(NOW - days * 86_400 - 60, 0)
            .unwrap()
            .to_rfc3339()
    }

    #[test]
    fn suffix_round_trip_and_bad_suffixes() {
        let name = format!("docker.io/library/nginx:1.25.3{}", suffix(&age()));
        assert_eq!(
            split(&name).unwrap(),
            ("docker.io/library/nginx:1.25.3", Some(age()))
        );
        assert_eq!(split("a/b:1").unwrap(), ("a/b:1", None));
        assert!(split("a/b:1#cooldown=1,2").is_err());
        assert!(split("a/b:1#cooldown=x,1,1,1").is_err());
    }

    #[test]
    fn ages_count_whole_days() {
        assert_eq!(age_days(&ago(3), NOW), Some(3));
        assert!(age_days("2026-11-18T00:00:00+02:00", NOW).is_some());
        assert_eq!(age_days("yesterday", NOW), None);
    }

    #[tokio::test]
    async fn dates_are_read_newest_first_until_one_is_old_enough() {
        let dates = |tag: String| async move {
            match tag.as_str() {
                "2.0" => Some(ago(40)),
                "1.4" => Some(ago(2)),
                "1.3" => None,
                "1.2" => Some(ago(10)),
                _ => panic!("{tag} should not be read"),
            }
        };
        let tags: Vec<String> = ["2.0", "1.4", "1.3", "1.2", "1.1.5"]
            .map(String::from)
            .to_vec();
        let out = date_candidates(&age(), "1.0", &tags[1..], dates).await;
        assert_eq!(
            out,
            [
                ("1.4".to_string(), Dated::At(ago(2))),
                (
                    "1.3".to_string(),
                    Dated::Unfit("has no build time (`created`) in its image config, so the 7-day cooldown cannot be checked".into())
                ),
                ("1.2".to_string(), Dated::At(ago(10))),
                (
                    "1.1.5".to_string(),
                    Dated::Unfit(
                        "was not checked for the cooldown (a newer minor update is old enough)"
                            .into()
                    )
                ),
            ]
        );
        // A major step of 40 days passes its 30-day cooldown; the minor ones are still
        // read (an `ignore` of majors would leave them to propose).
        let out = date_candidates(&age(), "1.0", &tags, dates).await;
        assert_eq!(out[0], ("2.0".to_string(), Dated::At(ago(40))));
        assert_eq!(out[1], ("1.4".to_string(), Dated::At(ago(2))));
        assert_eq!(out.len(), 5);
        // A patch step has no cooldown here: nothing is read.
        let out = date_candidates(&age(), "1.0.0", &["1.0.1".to_string()], dates).await;
        assert!(out.is_empty());
    }
}
