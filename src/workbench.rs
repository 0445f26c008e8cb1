//! `updatebot versions`: a versioning workbench reading JSON lines, answering one line each.

use crate::policy;
use serde_json::{json, Value};
use std::io::{BufRead, Write};
use updatebot_container::Docker;
use updatebot_core::registry::Release;
use updatebot_core::VersionScheme;
use updatebot_npm::Npm;
use updatebot_python::pep440::Pep440;
use updatebot_python::poetry::Poetry;

/// The schemes the workbench knows, by name.
pub fn scheme(name: &str) -> Option<&'static dyn VersionScheme> {
    match name {
        "pep440" => Some(&Pep440),
        "poetry" => Some(&Poetry),
        "npm" => Some(&Npm),
        "docker" => Some(&Docker),
        _ => None,
    }
}

fn text<'a>(request: &'a Value, key: &str) -> Result<&'a str, String> {
    request
        .get(key)
        .ok_or_else(|| format!("missing `{key}`"))?
        .as_str()
        .ok_or_else(|| format!("`{key}` must be a string"))
}

/// Answer one request line.
pub fn answer(scheme: &dyn VersionScheme, line: &str) -> Value {
    match respond(scheme, line) {
        Ok(result) => json!({ "result": result }),
        Err(error) => json!({ "error": error }),
    }
}

fn respond(scheme: &dyn VersionScheme, line: &str) -> Result<Value, String> {
    let request: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    match text(&request, "op")? {
        "valid" => Ok(Value::Bool(
            scheme.is_valid_version(text(&request, "version")?),
        )),
        "compare" => {
            let ordering = scheme
                .compare(text(&request, "a")?, text(&request, "b")?)
                .map_err(|e| e.to_string())?;
            Ok(json!(ordering as i8))
        }
        "satisfies" => scheme
            .satisfies(text(&request, "range")?, text(&request, "version")?)
            .map(Value::Bool)
            .map_err(|e| e.to_string()),
        "latest" => {
            let current = text(&request, "current")?;
            if !scheme.is_valid_version(current) {
                return Err(format!("invalid {} version `{current}`", scheme.name()));
            }
            let list = request
                .get("candidates")
                .and_then(Value::as_array)
                .ok_or("`candidates` must be an array of strings")?;
            let releases: Vec<Release> = list
                .iter()
                .map(|c| {
                    c.as_str()
                        .map(Release::new)
                        .ok_or("`candidates` must be an array of strings")
                })
                .collect::<Result<_, _>>()?;
            let (ok, _) = policy::candidates(scheme, Some(current), &releases, &|_| None);
            Ok(ok
                .first()
                .map(|r| Value::String(r.version.clone()))
                .unwrap_or(Value::Null))
        }
        other => Err(format!(
            "unknown op `{other}` (valid, compare, satisfies, latest)"
        )),
    }
}

/// Read requests from `input` until it ends, one answer line each.
pub fn run(
    scheme: &dyn VersionScheme,
    input: impl BufRead,
    mut output: impl Write,
) -> std::io::Result<()> {
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        writeln!(output, "{}", answer(scheme, &line))?;
        output.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(scheme: &str, line: &str) -> Value {
        answer(super::scheme(scheme).unwrap(), line)
    }

    #[test]
    fn pep440_requests() {
        assert_eq!(
            ask("pep440", r#"{"op":"valid","version":"1.0.post1"}"#),
            json!({"result": true})
        );
        assert_eq!(
            ask("pep440", r#"{"op":"valid","version":"1.0-foo-bar"}"#),
            json!({"result": false})
        );
        assert_eq!(
            ask("pep440", r#"{"op":"compare","a":"1.0rc1","b":"1.0"}"#),
            json!({"result": -1})
        );
        assert_eq!(
            ask(
                "pep440",
                r#"{"op":"satisfies","range":">=1.0","version":"2.0a1"}"#
            ),
            json!({"result": true})
        );
        assert_eq!(
            ask(
                "pep440",
                r#"{"op":"latest","current":"1.0","candidates":["0.9","1.1","2.0rc1","nonsense"]}"#
            ),
            json!({"result": "1.1"})
        );
        assert_eq!(
            ask(
                "pep440",
                r#"{"op":"latest","current":"2.0b1","candidates":["1.1","2.0rc1"]}"#
            ),
            json!({"result": "2.0rc1"})
        );
        assert_eq!(
            ask(
                "pep440",
                r#"{"op":"latest","current":"3.0","candidates":["1.1"]}"#
            ),
            json!({"result": null})
        );
    }

    #[test]
    fn npm_and_docker_requests() {
        assert_eq!(
            ask(
                "npm",
                r#"{"op":"satisfies","range":"^1.2.3","version":"1.3.0-beta.1"}"#
            ),
            json!({"result": false})
        );
        assert_eq!(
            ask("npm", r#"{"op":"compare","a":"1.2.3","b":"1.2.3"}"#),
            json!({"result": 0})
        );
        assert_eq!(
            ask(
                "docker",
                r#"{"op":"latest","current":"1.25.3-alpine","candidates":["1.27.0","1.26.1-alpine","1.27-alpine","latest"]}"#
            ),
            json!({"result": "1.26.1-alpine"})
        );
    }

    #[test]
    fn bad_lines_get_errors_and_the_stream_goes_on() {
        let input = b"not json\n{\"op\":\"frobnicate\"}\n{\"op\":\"compare\",\"a\":\"x\",\"b\":\"1\"}\n\n{\"op\":\"valid\",\"version\":\"1\"}\n";
        let mut out = Vec::new();
        run(&Pep440, &input[..], &mut out).unwrap();
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON"));
        assert!(lines[1]["error"]
            .as_str()
            .unwrap()
            .contains("unknown op `frobnicate`"));
        assert!(lines[2]["error"].as_str().unwrap().contains("`x`"));
        assert_eq!(lines[3], json!({"result": true}));
    }
}
