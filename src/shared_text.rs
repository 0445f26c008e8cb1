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
