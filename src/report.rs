//! What the commands print: tables for people, JSON for tools.

use crate::apply::Applied;
use crate::check::{ManifestResult, Outcome};
use crate::scan::Manifest;
use serde_json::{json, Value};
use updatebot_core::SkipReason;

/// `extract --format json`: `{"manifests":[{"path","manager","ecosystem","dependencies":[…],"error"}]}`.
pub fn extract_json(manifests: &[Manifest]) -> Value {
    let list: Vec<Value> = manifests
        .iter()
        .map(|m| {
            let (deps, error) = match &m.result {
                Ok(file) => (
                    file.dependencies
                        .iter()
                        .map(|d| {
                            let mut entry = json!({
                                "name": d.name,
                                "current_value": d.current_value,
                                "dep_type": d.dep_type,
                                "skip_reason": d.skip_reason.as_ref().map(|r| r.as_str()),
                            });
                            if let (Some(detail), Value::Object(e)) = (&d.skip_detail, &mut entry) {
                                e.insert("skip_detail".into(), detail.clone().into());
                            }
                            entry
                        })
                        .collect(),
                    Value::Null,
                ),
                Err(e) => (Vec::new(), Value::String(e.to_string())),
            };
            json!({
                "path": m.path,
                "manager": m.manager,
                "ecosystem": m.ecosystem.as_str(),
                "dependencies": deps,
                "error": error,
            })
        })
        .collect();
    json!({ "manifests": list })
}

/// Left-aligned columns, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

pub fn extract_table(manifests: &[Manifest]) -> String {
    let mut rows = Vec::new();
    let mut errors = String::new();
    for m in manifests {
        match &m.result {
            Ok(file) => {
                for d in &file.dependencies {
                    rows.push(vec![
                        m.path.clone(),
                        m.manager.to_string(),
                        d.name.clone(),
                        d.current_value.clone(),
                        d.dep_type.clone(),
                        match (&d.skip_reason, &d.skip_detail) {
                            (Some(r), Some(detail)) => format!("{r}: {detail}"),
                            (Some(r), None) => r.to_string(),
                            (None, _) => String::new(),
                        },
                    ]);
                }
            }
            Err(e) => errors.push_str(&format!("error: {e}\n")),
        }
    }
    table(
        &[
            "FILE",
            "MANAGER",
            "DEPENDENCY",
            "CURRENT",
            "TYPE",
            "SKIPPED",
        ],
        &rows,
    ) + &errors
}

fn outcome_fields(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Skipped(reason) => json!({"status": "skipped", "skip_reason": reason.as_str()}),
        Outcome::Update(p) => json!({
            "status": "update",
            "current_version": p.current_version,
            "new_value": p.new_value,
            "new_version": p.new_version,
            "update_type": p.update_type.as_str(),
            "notes": p.notes,
        }),
        Outcome::NoUpdate {
            current_version,
            reason,
        } => json!({
            "status": "no-update",
            "current_version": current_version,
            "reason": reason,
        }),
        Outcome::Failed(error) => json!({"status": "error", "error": error}),
        Outcome::Unavailable(error) => json!({
            "status": "skipped",
            "skip_reason": SkipReason::RegistryUnavailable.as_str(),
            "error": error,
        }),
    }
}

/// `check --format json`.
pub fn check_json(results: &[ManifestResult], applied: Option<&Applied>) -> Value {
    let manifests: Vec<Value> = results
        .iter()
        .map(|r| {
            let deps: Vec<Value> = r
                .dependencies
                .iter()
                .map(|d| {
                    let mut entry = json!({
                        "name": d.dependency.name,
                        "current_value": d.dependency.current_value,
                        "dep_type": d.dependency.dep_type,
                        "skip_reason": d.dependency.skip_reason.as_ref().map(|r| r.as_str()),
                    });
                    if let (Some(detail), Value::Object(e)) =
                        (&d.dependency.skip_detail, &mut entry)
                    {
                        e.insert("skip_detail".into(), detail.clone().into());
                    }
                    if let (Value::Object(e), Value::Object(o)) =
                        (&mut entry, outcome_fields(&d.outcome))
                    {
                        for (k, v) in o {
                            e.insert(k, v);
                        }
                    }
                    entry
                })
                .collect();
            json!({
                "path": r.manifest.path,
                "manager": r.manifest.manager,
                "ecosystem": r.manifest.ecosystem.as_str(),
                "lockfile": r.lockfile.as_ref().map(|(p, _)| p),
                "dependencies": deps,
                "error": r.manifest.result.as_ref().err().map(|e| e.to_string()),
            })
        })
        .collect();
    let mut out = json!({ "manifests": manifests, "summary": summary(results) });
    if let (Some(applied), Value::Object(o)) = (applied, &mut out) {
        o.insert(
            "applied".into(),
            applied
                .updates
                .iter()
                .map(|u| {
                    json!({
                        "path": u.manifest,
                        "name": u.dependency,
                        "new_version": u.new_version,
                        "error": u.result.as_ref().err(),
                    })
                })
                .collect(),
        );
    }
    out
}

/// Counts for the summary line and the JSON report.
pub fn summary(results: &[ManifestResult]) -> Value {
    let mut updates = 0;
    let mut up_to_date = 0;
    let mut skipped = 0;
    let mut unavailable = 0;
    let mut failed = 0;
    let mut manifest_errors = 0;
    for r in results {
        if r.manifest.result.is_err() {
            manifest_errors += 1;
        }
        for d in &r.dependencies {
            match d.outcome {
                Outcome::Update(_) => updates += 1,
                Outcome::NoUpdate { .. } => up_to_date += 1,
                Outcome::Skipped(_) => skipped += 1,
                Outcome::Failed(_) => failed += 1,
                Outcome::Unavailable(_) => {
                    skipped += 1;
                    unavailable += 1;
                }
            }
        }
    }
    json!({
        "manifests": results.len(),
        "manifest_errors": manifest_errors,
        "updates": updates,
        "no_update": up_to_date,
        "skipped": skipped,
        "registry_unavailable": unavailable,
        "failed": failed,
    })
}

/// `check --format table`.
pub fn check_table(results: &[ManifestResult]) -> String {
    let mut rows = Vec::new();
    let mut errors = String::new();
    for r in results {
        if let Err(e) = &r.manifest.result {
            errors.push_str(&format!("error: {e}\n"));
        }
        for d in &r.dependencies {
            let dep = &d.dependency;
            let (new_value, new_version, kind, reason) = match &d.outcome {
                Outcome::Update(p) => (
                    p.new_value
                        .clone()
                        .unwrap_or_else(|| "(lockfile only)".into()),
                    p.new_version.clone(),
                    p.update_type.to_string(),
                    p.notes.first().cloned().unwrap_or_default(),
                ),
                Outcome::NoUpdate { reason, .. } => {
                    (String::new(), String::new(), String::new(), reason.clone())
                }
                Outcome::Skipped(reason) => (
                    String::new(),
                    String::new(),
                    String::new(),
                    match &dep.skip_detail {
                        Some(detail) => format!("skipped: {reason}: {detail}"),
                        None => format!("skipped: {reason}"),
                    },
                ),
                Outcome::Failed(e) => (
                    String::new(),
                    String::new(),
                    String::new(),
                    format!("error: {e}"),
                ),
                Outcome::Unavailable(e) => (
                    String::new(),
                    String::new(),
                    String::new(),
                    format!("skipped: {}: {e}", SkipReason::RegistryUnavailable),
                ),
            };
            rows.push(vec![
                r.manifest.path.clone(),
                dep.name.clone(),
                dep.current_value.clone(),
                new_value,
                new_version,
                kind,
                reason,
            ]);
        }
    }
    let s = summary(results);
    table(
        &[
            "FILE",
            "DEPENDENCY",
            "CURRENT",
            "NEW VALUE",
            "NEW VERSION",
            "UPDATE",
            "NOTE",
        ],
        &rows,
    ) + &errors
        + &format!(
            "{} updates, {} without update, {} skipped, {} failed, {} unreadable manifests\n",
            s["updates"], s["no_update"], s["skipped"], s["failed"], s["manifest_errors"]
        )
}

/// Whether anything failed: a manifest that could not be read, a lookup (a registry that
/// could not be asked included) or an update.
pub fn has_errors(results: &[ManifestResult], applied: Option<&Applied>) -> bool {
    results.iter().any(|r| {
        r.manifest.result.is_err()
            || r.dependencies
                .iter()
                .any(|d| matches!(d.outcome, Outcome::Failed(_) | Outcome::Unavailable(_)))
    }) || applied
        .map(|a| a.updates.iter().any(|u| u.result.is_err()))
        .unwrap_or(false)
}

/// One line per failure: unreadable manifests, failed lookups, updates that could not be made.
pub fn failures(results: &[ManifestResult], applied: Option<&Applied>) -> Vec<String> {
    let mut out = Vec::new();
    for r in results {
        if let Err(e) = &r.manifest.result {
            out.push(format!("error: {e}"));
        }
        for d in &r.dependencies {
            match &d.outcome {
                Outcome::Failed(e) => out.push(format!(
                    "error: {}: {}: {e}",
                    r.manifest.path, d.dependency.name
                )),
                Outcome::Unavailable(e) => out.push(format!(
                    "skipped ({}): {}: {}: {e}",
                    SkipReason::RegistryUnavailable,
                    r.manifest.path,
                    d.dependency.name
                )),
                _ => {}
            }
        }
    }
    for u in applied.map(|a| a.updates.as_slice()).unwrap_or_default() {
        if let Err(e) = &u.result {
            out.push(format!(
                "error: {}: {} {}: {e}",
                u.manifest, u.dependency, u.new_version
            ));
        }
    }
    out
}
