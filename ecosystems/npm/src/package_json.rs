//! `package.json`: `dependencies`, `devDependencies`, `optionalDependencies`,
//! `peerDependencies` (widened, never narrowed), `overrides` (nested, `name@range` keys,
//! `$reference` values), and `engines` / `packageManager` (reported, not bumped).

use crate::spec::{classify, Spec};
use jsonc_parser::ast::{Object, ObjectPropName, Value};
use jsonc_parser::{parse_to_ast, CollectOptions, ParseOptions};
use updatebot_core::dependency::{line_of, Dependency, PackageFile, SkipReason, Span};
use updatebot_core::version::RangeStrategy;
use updatebot_core::{Ecosystem, Manager, ManifestError};

pub const MANAGER: &str = "npm";
pub const SCHEME: &str = crate::versioning::SCHEME;

#[derive(Clone, Copy, Debug, Default)]
pub struct PackageJson;

/// Strict JSON, as `JSON.parse` (which npm uses) reads it.
fn strict() -> ParseOptions {
    ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

/// Parse `content` as strict JSON with byte ranges, naming the file and line on error.
pub fn parse<'a>(path: &str, content: &'a str) -> Result<Value<'a>, ManifestError> {
    let result = parse_to_ast(content, &CollectOptions::default(), &strict()).map_err(|e| {
        ManifestError::new(
            path,
            Some(line_of(content, e.range().start)),
            format!("invalid JSON: {}", e.kind()),
        )
    })?;
    result
        .value
        .ok_or_else(|| ManifestError::new(path, None, "the file is empty"))
}

fn prop_name<'a>(name: &'a ObjectPropName<'a>) -> &'a str {
    name.as_str()
}

/// The byte span of a string's text inside its quotes, when it has no escapes.
fn inner_span(content: &str, range: jsonc_parser::common::Range, value: &str) -> Option<Span> {
    let raw = content.get(range.start..range.end)?;
    let inner = raw.get(1..raw.len().checked_sub(1)?)?;
    (inner == value).then(|| Span::new(range.start + 1, range.end - 1))
}

struct Reader<'c> {
    path: &'c str,
    content: &'c str,
    out: Vec<Dependency>,
}

impl Reader<'_> {
    fn error(&self, at: usize, message: String) -> ManifestError {
        ManifestError::new(self.path, Some(line_of(self.content, at)), message)
    }

    /// A dependency from `name: "spec"`.
    fn entry(
        &mut self,
        name: &str,
        value: &Value<'_>,
        dep_type: &str,
        development: bool,
    ) -> Result<(), ManifestError> {
        let Value::StringLit(lit) = value else {
            return Err(self.error(
                value_start(value),
                format!("`{dep_type}.{name}` must be a string"),
            ));
        };
        let spec = lit.value.as_ref();
        let span = inner_span(self.content, lit.range, spec);
        let dep = match classify(spec) {
            Spec::Range {
                alias_of,
                range,
                offset,
            } => {
                let package = alias_of.unwrap_or(name);
                let range_span =
                    span.map(|s| Span::new(s.start + offset, s.start + offset + range.len()));
                let dep = Dependency::new(name, package, range, range_span, SCHEME);
                if matches!(range.trim(), "" | "*" | "x" | "X") {
                    dep.skipped(SkipReason::Unpinned)
                } else if range_span.is_none() {
                    dep.skipped(SkipReason::UnsupportedSyntax)
                } else {
                    dep
                }
            }
            Spec::Skip(reason) => Dependency::new(name, name, spec, None, SCHEME).skipped(reason),
        };
        let mut dep = dep.with_dep_type(dep_type, development);
        if dep_type == "peerDependencies" {
            dep.range_strategy = Some(RangeStrategy::Widen);
        }
        self.out.push(dep);
        Ok(())
    }

    fn section(
        &mut self,
        root: &Object<'_>,
        key: &str,
        development: bool,
    ) -> Result<(), ManifestError> {
        let Some(prop) = root.properties.iter().find(|p| prop_name(&p.name) == key) else {
            return Ok(());
        };
        let Value::Object(object) = &prop.value else {
            return Err(self.error(prop.range.start, format!("`{key}` must be an object")));
        };
        for p in &object.properties {
            self.entry(prop_name(&p.name), &p.value, key, development)?;
        }
        Ok(())
    }

    /// `overrides`: `name` or `name@range` keys; values are specs, `$name` references, or
    /// nested objects whose `"."` is the package's own override.
    fn overrides(&mut self, object: &Object<'_>) -> Result<(), ManifestError> {
        for p in &object.properties {
            let key = prop_name(&p.name);
            let name = match key[1..].find('@') {
                Some(at) => &key[..at + 1],
                None => key,
            };
            match &p.value {
                Value::Object(nested) => {
                    if let Some(own) = nested.properties.iter().find(|q| prop_name(&q.name) == ".")
                    {
                        self.override_value(name, &own.value)?;
                    }
                    let inner = Object {
                        range: nested.range,
                        properties: nested
                            .properties
                            .iter()
                            .filter(|q| prop_name(&q.name) != ".")
                            .cloned()
                            .collect(),
                    };
                    self.overrides(&inner)?;
                }
                value => self.override_value(name, value)?,
            }
        }
        Ok(())
    }

    fn override_value(&mut self, name: &str, value: &Value<'_>) -> Result<(), ManifestError> {
        if let Value::StringLit(lit) = value {
            if lit.value.starts_with('$') {
                self.out.push(
                    Dependency::new(name, name, lit.value.as_ref(), None, SCHEME)
                        .with_dep_type("overrides", false)
                        .skipped(SkipReason::Variable),
                );
                return Ok(());
            }
        }
        self.entry(name, value, "overrides", false)
    }
}

fn value_start(value: &Value<'_>) -> usize {
    match value {
        Value::StringLit(v) => v.range.start,
        Value::NumberLit(v) => v.range.start,
        Value::BooleanLit(v) => v.range.start,
        Value::Object(v) => v.range.start,
        Value::Array(v) => v.range.start,
        Value::NullKeyword(v) => v.range.start,
    }
}

/// Workspace globs of a root `package.json` (`workspaces: [...]` or `{packages: [...]}`).
pub fn workspaces(root: &Object<'_>) -> Vec<String> {
    let Some(prop) = root
        .properties
        .iter()
        .find(|p| prop_name(&p.name) == "workspaces")
    else {
        return Vec::new();
    };
    let array = match &prop.value {
        Value::Array(a) => Some(a),
        Value::Object(o) => o
            .properties
            .iter()
            .find(|p| prop_name(&p.name) == "packages")
            .and_then(|p| match &p.value {
                Value::Array(a) => Some(a),
                _ => None,
            }),
        _ => None,
    };
    array
        .map(|a| {
            a.elements
                .iter()
                .filter_map(|e| e.as_string_lit().map(|s| s.value.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

impl Manager for PackageJson {
    fn name(&self) -> &'static str {
        MANAGER
    }

    fn ecosystem(&self) -> Ecosystem {
        Ecosystem::Npm
    }

    fn matches(&self, path: &str) -> bool {
        path.rsplit('/').next() == Some("package.json")
            && !path.split('/').any(|p| p == "node_modules")
    }

    fn extract(&self, path: &str, content: &str) -> Result<PackageFile, ManifestError> {
        // A byte-order mark becomes three spaces: the JSON parses and every span still
        // points at the same bytes of the file.
        let unmarked;
        let content = match content.strip_prefix('\u{feff}') {
            Some(rest) => {
                unmarked = format!("   {rest}");
                unmarked.as_str()
            }
            None => content,
        };
        let value = parse(path, content)?;
        let Value::Object(root) = &value else {
            return Err(ManifestError::new(
                path,
                Some(1),
                "package.json must hold an object",
            ));
        };
        let mut reader = Reader {
            path,
            content,
            out: Vec::new(),
        };
        reader.section(root, "dependencies", false)?;
        reader.section(root, "devDependencies", true)?;
        reader.section(root, "optionalDependencies", false)?;
        reader.section(root, "peerDependencies", false)?;
        if let Some(prop) = root
            .properties
            .iter()
            .find(|p| prop_name(&p.name) == "overrides")
        {
            match &prop.value {
                Value::Object(object) => reader.overrides(object)?,
                _ => {
                    return Err(
                        reader.error(prop.range.start, "`overrides` must be an object".into())
                    )
                }
            }
        }
        let mut file = PackageFile::default();
        if let Some(Value::Object(engines)) = root
            .properties
            .iter()
            .find(|p| prop_name(&p.name) == "engines")
            .map(|p| &p.value)
        {
            for p in &engines.properties {
                if let Value::StringLit(lit) = &p.value {
                    let name = prop_name(&p.name);
                    if name == "node" {
                        file.constraints
                            .insert("node".into(), lit.value.to_string());
                    }
                    reader.out.push(
                        Dependency::new(
                            name,
                            name,
                            lit.value.as_ref(),
                            inner_span(content, lit.range, &lit.value),
                            SCHEME,
                        )
                        .with_dep_type("engines", false)
                        .skipped(SkipReason::Engine),
                    );
                }
            }
        }
        if let Some(Value::StringLit(lit)) = root
            .properties
            .iter()
            .find(|p| prop_name(&p.name) == "packageManager")
            .map(|p| &p.value)
        {
            let text = lit.value.as_ref();
            let (name, version) = text.split_once('@').unwrap_or((text, ""));
            reader.out.push(
                Dependency::new(
                    name,
                    name,
                    version.split('+').next().unwrap_or(version),
                    None,
                    SCHEME,
                )
                .with_dep_type("packageManager", true)
                .skipped(SkipReason::Engine),
            );
        }
        file.dependencies = reader.out;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(text: &str) -> PackageFile {
        PackageJson.extract("package.json", text).unwrap()
    }

    #[test]
    fn every_kind_of_dependency_with_spans() {
        let text = r#"{
    "name": "demo",
    "dependencies": {
        "debug": "^2.6.9",
        "real": "npm:@scope/real@~1.2.0",
        "lib": "file:../lib",
        "gh": "user/repo#main",
        "next-thing": "next",
        "any": "*"
    },
    "devDependencies": { "semver": "5.7.2" },
    "optionalDependencies": { "fsevents": "^2.3.2" },
    "peerDependencies": { "react": "^17.0.0" },
    "overrides": {
        "ms": "2.1.3",
        "chalk@^4": { ".": "4.1.2", "ansi-styles": "$ansi-styles" }
    },
    "engines": { "node": ">=18" },
    "packageManager": "npm@10.8.2+sha512.abc"
}
"#;
        let file = extract(text);
        for d in &file.dependencies {
            if let Some(span) = d.span {
                assert_eq!(
                    span.slice(text),
                    Some(d.current_value.as_str()),
                    "{}",
                    d.name
                );
            }
        }
        let got: Vec<_> = file
            .dependencies
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.package_name.as_str(),
                    d.current_value.as_str(),
                    d.dep_type.as_str(),
                    d.skip_reason.as_ref().map(|r| r.as_str()),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("debug", "debug", "^2.6.9", "dependencies", None),
                ("real", "@scope/real", "~1.2.0", "dependencies", None),
                (
                    "lib",
                    "lib",
                    "file:../lib",
                    "dependencies",
                    Some("path-dependency")
                ),
                (
                    "gh",
                    "gh",
                    "user/repo#main",
                    "dependencies",
                    Some("git-dependency")
                ),
                (
                    "next-thing",
                    "next-thing",
                    "next",
                    "dependencies",
                    Some("dist-tag")
                ),
                ("any", "any", "*", "dependencies", Some("unpinned")),
                ("semver", "semver", "5.7.2", "devDependencies", None),
                (
                    "fsevents",
                    "fsevents",
                    "^2.3.2",
                    "optionalDependencies",
                    None
                ),
                ("react", "react", "^17.0.0", "peerDependencies", None),
                ("ms", "ms", "2.1.3", "overrides", None),
                ("chalk", "chalk", "4.1.2", "overrides", None),
                (
                    "ansi-styles",
                    "ansi-styles",
                    "$ansi-styles",
                    "overrides",
                    Some("variable")
                ),
                ("node", "node", ">=18", "engines", Some("engine")),
                ("npm", "npm", "10.8.2", "packageManager", Some("engine")),
            ]
        );
        assert!(file.dependencies[6].development);
        assert_eq!(
            file.dependencies[8].range_strategy,
            Some(RangeStrategy::Widen)
        );
        assert_eq!(file.constraints["node"], ">=18");
    }

    #[test]
    fn bad_json_and_bad_shapes_name_the_line() {
        let err = PackageJson
            .extract(
                "web/package.json",
                "{\n  \"dependencies\": {\n    \"a\": \"1\",\n  }\n}\n",
            )
            .unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(
            err.to_string()
                .starts_with("web/package.json:3: invalid JSON"),
            "{err}"
        );
        let err = PackageJson
            .extract("package.json", "{\"dependencies\": {\"a\": 1}}")
            .unwrap_err();
        assert!(
            err.message.contains("`dependencies.a` must be a string"),
            "{err}"
        );
        assert!(PackageJson.extract("package.json", "[]").is_err());
        assert!(PackageJson.extract("package.json", "").is_err());
    }

    #[test]
    fn a_byte_order_mark_keeps_spans_true() {
        let text = "\u{feff}{\"dependencies\": {\"ms\": \"2.0.0\"}}";
        let file = PackageJson.extract("package.json", text).unwrap();
        assert_eq!(
            file.dependencies[0].span.unwrap().slice(text),
            Some("2.0.0")
        );
    }

    #[test]
    fn node_modules_are_never_manifests() {
        assert!(PackageJson.matches("package.json"));
        assert!(PackageJson.matches("packages/a/package.json"));
        assert!(!PackageJson.matches("node_modules/x/package.json"));
    }
}
