//! How bad an advisory is: the CVSS v3 base score computed from its vector (the formula of
//! the CVSS v3.1 specification, section 7), the qualitative rating, and what the database
//! says (`database_specific.severity`, as GitHub's advisories give it). CVSS v4 vectors
//! are shown as they are: their scoring needs the specification's lookup tables.

use crate::osv::{SeverityScore, Vuln};
use serde::Serialize;

/// What the bot shows of an advisory's severity.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Severity {
    /// `Low`, `Moderate`, `Medium`, `High`, `Critical`, … (the database's word first, else the
    /// CVSS rating of the score).
    pub label: Option<String>,
    /// CVSS v3 base score, when a v3 vector was given.
    pub score: Option<f64>,
    /// The CVSS vector as given (v3 preferred, else v4, else v2).
    pub vector: Option<String>,
}

impl Severity {
    /// `High (7.5)`, `Moderate`, `CVSS:4.0/AV:N/…`, or `unknown`.
    pub fn display(&self) -> String {
        match (&self.label, self.score, &self.vector) {
            (Some(label), Some(score), _) => format!("{label} ({score:.1})"),
            (Some(label), None, _) => label.clone(),
            (None, Some(score), _) => format!("{score:.1}"),
            (None, None, Some(vector)) => vector.clone(),
            (None, None, None) => "unknown".to_string(),
        }
    }

    /// A rank for sorting (higher is worse), from the label or the score.
    pub fn rank(&self) -> u8 {
        match self
            .label
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("critical") => 4,
            Some("high") => 3,
            Some("moderate" | "medium") => 2,
            Some("low") => 1,
            _ => self.score.map(rating_rank).unwrap_or(0),
        }
    }
}

fn rating_rank(score: f64) -> u8 {
    match rating(score) {
        "Critical" => 4,
        "High" => 3,
        "Medium" => 2,
        "Low" => 1,
        _ => 0,
    }
}

/// The CVSS v3 qualitative rating of a base score.
pub fn rating(score: f64) -> &'static str {
    if score >= 9.0 {
        "Critical"
    } else if score >= 7.0 {
        "High"
    } else if score >= 4.0 {
        "Medium"
    } else if score > 0.0 {
        "Low"
    } else {
        "None"
    }
}

/// CVSS v3.1's Roundup: the smallest one-decimal number not below `value`, free of
/// floating-point artefacts.
fn roundup(value: f64) -> f64 {
    let int = (value * 100_000.0).round() as i64;
    if int % 10_000 == 0 {
        int as f64 / 100_000.0
    } else {
        ((int / 10_000) + 1) as f64 / 10.0
    }
}

/// The base score of a CVSS v3.0/v3.1 vector (`CVSS:3.1/AV:N/AC:L/…`); `None` when it is not
/// one or misses a base metric.
pub fn cvss3_base_score(vector: &str) -> Option<f64> {
    let mut parts = vector.trim().split('/');
    let head = parts.next()?;
    if head != "CVSS:3.0" && head != "CVSS:3.1" {
        return None;
    }
    let mut metric = std::collections::HashMap::new();
    for part in parts {
        let (k, v) = part.split_once(':')?;
        metric.insert(k, v);
    }
    let changed = match *metric.get("S")? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let av = match *metric.get("AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match *metric.get("AC")? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (*metric.get("PR")?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match *metric.get("UI")? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |key: &str| -> Option<f64> {
        match *metric.get(key)? {
            "H" => Some(0.56),
            "L" => Some(0.22),
            "N" => Some(0.0),
            _ => None,
        }
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let iss = 1.0 - ((1.0 - c) * (1.0 - i) * (1.0 - a));
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Some(0.0);
    }
    let raw = if changed {
        (1.08 * (impact + exploitability)).min(10.0)
    } else {
        (impact + exploitability).min(10.0)
    };
    Some(roundup(raw))
}

fn first_of<'a>(scores: &'a [SeverityScore], kind: &str) -> Option<&'a str> {
    scores
        .iter()
        .find(|s| s.kind == kind && !s.score.trim().is_empty())
        .map(|s| s.score.trim())
}

/// The severity of a record, for the package entries named by `affected` (their own
/// `severity` when the top level has none).
pub fn of(vuln: &Vuln) -> Severity {
    let mut scores: Vec<SeverityScore> = vuln.severity.clone();
    for a in &vuln.affected {
        scores.extend(a.severity.iter().cloned());
    }
    let v3 = first_of(&scores, "CVSS_V3");
    let vector = v3
        .or_else(|| first_of(&scores, "CVSS_V4"))
        .or_else(|| first_of(&scores, "CVSS_V2"))
        .map(|v| bounded(v, 200));
    let score = v3.and_then(cvss3_base_score);
    let database = vuln
        .database_specific
        .as_ref()
        .and_then(|d| d.get("severity"))
        .and_then(|s| s.as_str())
        .map(|s| bounded(s, 20))
        .filter(|s| !s.trim().is_empty())
        .map(|s| capitalise(&s));
    let label = database.or_else(|| score.map(|s| rating(s).to_string()));
    Severity {
        label,
        score,
        vector,
    }
}

fn bounded(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn capitalise(word: &str) -> String {
    let lower = word.trim().to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss3_scores_match_the_specification_examples() {
        // Worked examples of FIRST's CVSS v3.1 calculator.
        let cases = [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N", 6.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0),
        ];
        for (vector, want) in cases {
            assert_eq!(cvss3_base_score(vector), Some(want), "{vector}");
        }
        assert_eq!(cvss3_base_score("CVSS:3.1/AV:N"), None);
        assert_eq!(cvss3_base_score("CVSS:4.0/AV:N/AC:L"), None);
        assert_eq!(cvss3_base_score("garbage"), None);
    }

    #[test]
    fn labels_prefer_the_database_and_fall_back_to_the_rating() {
        let v: Vuln = serde_json::from_str(
            r#"{"id":"G","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],"database_specific":{"severity":"MODERATE"}}"#,
        )
        .unwrap();
        let s = of(&v);
        assert_eq!(s.display(), "Moderate (7.5)");
        assert_eq!(s.rank(), 2);
        let plain: Vuln = serde_json::from_str(
            r#"{"id":"P","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}"#,
        )
        .unwrap();
        assert_eq!(of(&plain).display(), "Critical (9.8)");
        let v4: Vuln = serde_json::from_str(
            r#"{"id":"Q","affected":[{"severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]}]}"#,
        )
        .unwrap();
        assert!(of(&v4).display().starts_with("CVSS:4.0/"));
        assert_eq!(of(&Vuln::default()).display(), "unknown");
    }
}
