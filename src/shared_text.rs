//! Dependencies that share one text in a manifest (a GitLab CI variable that several images
//! read): the text moves only when every one of them would move it to the same new text.
//! Then the first carries the update and the others move with it; when they disagree (one
//! image has a newer tag, another does not, or a different one), none is updated and each
//! update says why.

use crate::check::{DependencyResult, Outcome};
use std::collections::BTreeMap;
use updatebot_core::edit::in_span;
use updatebot_core::Span;

/// What each member would write at the shared span: `None` to leave it as it is.
fn wanted(result: &DependencyResult) -> Option<Option<String>> {
    match &result.outcome {
        Outcome::Update(p) => match &p.new_value {
            Some(value) => Some(in_span(&result.dependency, value)),
            None => Some(None),
        },
        _ => None,
    }
}

pub fn settle(results: &mut [DependencyResult], content: &str) {
    let mut groups: BTreeMap<Span, Vec<usize>> = BTreeMap::new();
    for (i, r) in results.iter().enumerate() {
        if let Some(span) = r.dependency.span {
            groups.entry(span).or_default().push(i);
        }
    }
    for (span, members) in groups.into_iter().filter(|(_, m)| m.len() > 1) {
        if !members
            .iter()
            .any(|&i| matches!(results[i].outcome, Outcome::Update(_)))
        {
            continue;
        }
        let current = span.slice(content).unwrap_or_default().to_string();
        let texts: Vec<String> = members
            .iter()
            .map(|&i| match wanted(&results[i]) {
                Some(Some(text)) => text,
                // An update whose value cannot be written there, or no update: it stays.
                _ => current.clone(),
            })
            .collect();
        let names: Vec<String> = members
            .iter()
            .map(|&i| format!("`{}`", results[i].dependency.name))
            .collect();
        let line = span.line_in(content);
        let agree = texts.iter().all(|t| *t == texts[0]) && texts[0] != current;
        for (k, &i) in members.iter().enumerate() {
            let Outcome::Update(p) = &results[i].outcome else {
                continue;
            };
            if agree && k > 0 {
                let reason = format!(
                    "moves to {} with {}: both read `{current}` on line {line}",
                    p.new_version, names[0]
                );
                results[i].outcome = Outcome::NoUpdate {
                    current_version: p.current_version.clone(),
                    reason,
                };
            } else if !agree {
                let wants: Vec<String> = members
                    .iter()
                    .zip(&texts)
                    .map(|(&j, t)| format!("`{}` wants `{t}`", results[j].dependency.name))
                    .collect();
                results[i].outcome = Outcome::Failed(format!(
                    "{} {} is not proposed: `{current}` on line {line} is read by {}, which would move it to different values ({})",
                    results[i].dependency.name,
                    p.new_version,
                    names.join(" and "),
                    wants.join(", ")
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Proposal;
    use updatebot_core::{Dependency, UpdateType};

    const TEXT: &str = "variables:\n  TAG: \"1.0\"\n";

    fn result(
        index: usize,
        name: &str,
        value: &str,
        part: Option<(usize, usize)>,
    ) -> DependencyResult {
        let mut dep = Dependency::new(name, name, value, Some(Span::new(19, 22)), "docker");
        dep.span_part = part;
        DependencyResult {
            index,
            dependency: dep,
            outcome: Outcome::NoUpdate {
                current_version: Some(value.into()),
                reason: "up to date".into(),
            },
            releases: None,
        }
    }

    fn update(r: &mut DependencyResult, new: &str) {
        r.outcome = Outcome::Update(Proposal {
            current_version: Some(r.dependency.current_value.clone()),
            new_version: new.into(),
            new_value: Some(new.into()),
            update_type: UpdateType::Major,
            notes: Vec::new(),
        });
    }

    #[test]
    fn agreeing_readers_move_once_and_diverging_ones_are_a_conflict() {
        // `app:$TAG` and `app:$TAG-slim` both want `2.0` at the variable.
        let mut rs = vec![
            result(0, "app", "1.0", None),
            result(1, "app", "1.0-slim", Some((0, 3))),
        ];
        update(&mut rs[0], "2.0");
        update(&mut rs[1], "2.0-slim");
        settle(&mut rs, TEXT);
        assert!(matches!(rs[0].outcome, Outcome::Update(_)));
        match &rs[1].outcome {
            Outcome::NoUpdate { reason, .. } => {
                assert_eq!(
                    reason,
                    "moves to 2.0-slim with `app`: both read `1.0` on line 2"
                )
            }
            other => panic!("{other:?}"),
        }
        // One has a newer tag, the other does not: neither moves.
        let mut rs = vec![result(0, "app", "1.0", None), result(1, "db", "1.0", None)];
        update(&mut rs[0], "2.0");
        settle(&mut rs, TEXT);
        match &rs[0].outcome {
            Outcome::Failed(e) => assert!(e.contains("`app` wants `2.0`, `db` wants `1.0`"), "{e}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(rs[1].outcome, Outcome::NoUpdate { .. }));
    }
}
