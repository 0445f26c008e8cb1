//! `updatebot audit` output: a table for people, JSON for tools.

use super::fix::Fix;
use super::{Audit, Finding};
use serde_json::{json, Value};

/// How a fix is reached, in words: `4.17.21 (lockfile only)`, `2.1.3 via debug 4.3.4 → 4.3.7`.
pub fn fix_text(fix: &Fix) -> String {
    let mut out = fix.version.clone();
    if !fix.via.is_empty() {
        let via: Vec<String> = fix
            .via
            .iter()
            .map(|v| format!("{} {} → {}", v.package, v.from, v.to))
            .collect();
        out.push_str(&format!(" via {}", via.join(", ")));
    }
    if fix.lockfile_only {
        out.push_str(" (lockfile only)");
    }
    out
}

fn advisories_text(finding: &Finding) -> String {
    finding
        .advisories
        .iter()
        .map(|a| {
            if a.aliases.is_empty() {
                a.id.clone()
            } else {
                format!("{} ({})", a.id, a.aliases.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn file_of(finding: &Finding) -> String {
    finding
        .installed
        .lockfile
        .as_ref()
        .map(|(p, _)| p.clone())
        .unwrap_or_else(|| finding.installed.manifest.clone())
}

pub fn table(audit: &Audit) -> String {
    let rows: Vec<Vec<String>> = audit
        .findings
        .iter()
        .map(|f| {
            vec![
                format!("{} ({})", f.installed.name, f.installed.ecosystem),
                f.installed.version.clone(),
                file_of(f),
                advisories_text(f),
                f.advisories
                    .first()
                    .map(|a| a.severity.display())
                    .unwrap_or_default(),
                match &f.fix {
                    Ok(fix) => fix_text(fix),
                    Err(why) => why.clone(),
                },
            ]
        })
        .collect();
    let mut out = if rows.is_empty() {
        String::new()
    } else {
        crate::report::table(
            &[
                "PACKAGE",
                "VERSION",
                "FILE",
                "ADVISORIES",
                "SEVERITY",
                "FIX",
            ],
            &rows,
        )
    };
    for problem in &audit.problems {
        out.push_str(&format!("problem: {problem}\n"));
    }
    let fixable = audit.findings.iter().filter(|f| f.fix.is_ok()).count();
    out.push_str(&format!(
        "{} vulnerable of {} installed packages checked ({} with a fix) against {}\n",
        audit.findings.len(),
        audit.checked,
        fixable,
        audit.source
    ));
    if !audit.unpinned.is_empty() {
        out.push_str(&format!(
            "{} dependencies not checked (no pin and no lockfile): {}\n",
            audit.unpinned.len(),
            audit.unpinned.join(", ")
        ));
    }
    out
}

fn finding_json(f: &Finding) -> Value {
    let (fix, no_fix) = match &f.fix {
        Ok(fix) => (
            json!({
                "version": fix.version,
                "lockfile_only": fix.lockfile_only,
                "via": fix.via,
            }),
            Value::Null,
        ),
        Err(why) => (Value::Null, Value::String(why.clone())),
    };
    json!({
        "ecosystem": f.installed.ecosystem,
        "package": f.installed.name,
        "version": f.installed.version,
        "manifest": f.installed.manifest,
        "lockfile": f.installed.lockfile.as_ref().map(|(p, _)| p),
        "direct": !f.installed.direct.is_empty(),
        "development": f.installed.development,
        "advisories": f.advisories.iter().map(|a| json!({
            "id": a.id,
            "aliases": a.aliases,
            "summary": a.summary,
            "severity": a.severity.label,
            "score": a.severity.score,
            "vector": a.severity.vector,
            "affected": a.affected,
            "fixed": a.fixed,
            "url": a.url,
            "references": a.references,
        })).collect::<Vec<_>>(),
        "fix": fix,
        "no_fix": no_fix,
    })
}

pub fn json(audit: &Audit) -> Value {
    json!({
        "source": audit.source,
        "vulnerable": audit.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "unpinned": audit.unpinned,
        "problems": audit.problems,
        "summary": {
            "checked": audit.checked,
            "vulnerable": audit.findings.len(),
            "fixable": audit.findings.iter().filter(|f| f.fix.is_ok()).count(),
        },
    })
}
