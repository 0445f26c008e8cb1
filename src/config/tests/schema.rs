//! `config/updatebot.schema.json` describes what the parser accepts: same keys, same
//! enums, same patterns and limits, and `additionalProperties: false` everywhere.

use std::collections::BTreeSet;

use serde_json::Value;

use super::root;
use crate::config::enums::*;
use crate::config::keys;
use crate::config::rules::{
    CRON_PATTERN, NAME_PATTERN, PATH_FORBIDDEN, TIMEZONE_PATTERN, TIME_PATTERN,
};
use crate::config::settings::{MAX_COOLDOWN_DAYS, MAX_OPEN_LIMIT};
use crate::config::walk::Choice;

fn schema() -> Value {
    let text =
        std::fs::read_to_string(root().join("config/updatebot.schema.json")).expect("schema file");
    serde_json::from_str(&text).expect("the schema is valid JSON")
}

/// Follows a `/`-separated path of object keys.
fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('/').fold(v, |v, k| {
        v.get(k)
            .unwrap_or_else(|| panic!("schema has no `{k}` on the way to `{path}`"))
    })
}

fn property_names(v: &Value, path: &str) -> BTreeSet<String> {
    at(v, path)
        .as_object()
        .unwrap_or_else(|| panic!("`{path}` is not an object"))
        .keys()
        .cloned()
        .collect()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

fn strings(v: &Value, path: &str) -> Vec<String> {
    at(v, path)
        .as_array()
        .unwrap_or_else(|| panic!("`{path}` is not an array"))
        .iter()
        .map(|s| s.as_str().expect("string").to_owned())
        .collect()
}

fn enum_of<C: Choice>(v: &Value, path: &str) {
    let want: Vec<String> = C::ALL.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(strings(v, &format!("{path}/enum")), want, "enum at {path}");
}

#[test]
fn schema_is_draft_2020_12_json() {
    let s = schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
}

#[test]
fn schema_keys_match_the_parser() {
    let s = schema();
    let d = "$defs";
    let cases: Vec<(String, BTreeSet<String>)> = vec![
        ("properties".into(), set(keys::TOP_KEYS)),
        (format!("{d}/update/properties"), set(&keys::update_keys())),
        (
            format!("{d}/registry/else/properties"),
            set(keys::REPO_REGISTRY_KEYS),
        ),
        (format!("{d}/schedule/properties"), set(keys::SCHEDULE_KEYS)),
        (format!("{d}/allow/properties"), set(keys::ALLOW_KEYS)),
        (format!("{d}/ignore/properties"), set(keys::IGNORE_KEYS)),
        (format!("{d}/group/properties"), set(keys::GROUP_KEYS)),
        (
            format!("{d}/commitMessage/properties"),
            set(keys::COMMIT_MESSAGE_KEYS),
        ),
        (format!("{d}/cooldown/properties"), set(keys::COOLDOWN_KEYS)),
        (
            format!("{d}/securityUpdates/properties"),
            set(keys::SECURITY_KEYS),
        ),
        (
            format!("{d}/branchName/properties"),
            set(keys::BRANCH_NAME_KEYS),
        ),
    ];
    for (path, want) in cases {
        assert_eq!(property_names(&s, &path), want, "keys at {path}");
    }
    let refused: BTreeSet<String> = at(&s, "$defs/noCredentials/not/anyOf")
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["required"][0].as_str().expect("key").to_owned())
        .collect();
    assert_eq!(refused, set(keys::CREDENTIAL_KEYS));
}

#[test]
fn schema_enums_match_the_parser() {
    let s = schema();
    let u = "$defs/update/properties";
    let mut ecosystems: Vec<String> = PackageEcosystem::ALL
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    ecosystems.extend(
        UNSUPPORTED_DEPENDABOT_ECOSYSTEMS
            .iter()
            .map(|s| (*s).to_owned()),
    );
    assert_eq!(
        strings(&s, &format!("{u}/package-ecosystem/enum")),
        ecosystems
    );
    assert_eq!(
        strings(&s, "$defs/registry/if/properties/type/enum"),
        UNSUPPORTED_DEPENDABOT_REGISTRY_TYPES
    );
    enum_of::<RegistryKind>(&s, "$defs/registry/else/properties/type");
    enum_of::<VersioningStrategy>(&s, &format!("{u}/versioning-strategy"));
    enum_of::<RebaseStrategy>(&s, &format!("{u}/rebase-strategy"));
    enum_of::<InsecureExternalCodeExecution>(&s, &format!("{u}/insecure-external-code-execution"));
    enum_of::<Interval>(&s, "$defs/schedule/properties/interval");
    enum_of::<Weekday>(&s, "$defs/schedule/properties/day");
    enum_of::<AllowDependencyType>(&s, "$defs/allow/properties/dependency-type");
    enum_of::<IgnoreUpdateType>(&s, "$defs/ignore/properties/update-types/items");
    enum_of::<AppliesTo>(&s, "$defs/group/properties/applies-to");
    enum_of::<GroupDependencyType>(&s, "$defs/group/properties/dependency-type");
    enum_of::<SemverLevel>(&s, "$defs/group/properties/update-types/items");
    enum_of::<CommitMessageInclude>(&s, "$defs/commitMessage/properties/include");
    enum_of::<BranchSeparator>(&s, "$defs/branchName/properties/separator");
}

#[test]
fn schema_patterns_and_limits_match_the_parser() {
    let s = schema();
    let p = |path: &str| at(&s, path).as_str().expect("pattern").to_owned();
    assert_eq!(p("$defs/schedule/properties/time/pattern"), TIME_PATTERN);
    assert_eq!(
        p("$defs/schedule/properties/timezone/pattern"),
        TIMEZONE_PATTERN
    );
    assert_eq!(p("$defs/schedule/properties/cronjob/pattern"), CRON_PATTERN);
    assert_eq!(p("$defs/name/pattern"), NAME_PATTERN);
    let forbidden: Vec<String> = at(&s, "$defs/pathRules/allOf")
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["not"]["pattern"].as_str().expect("pattern").to_owned())
        .collect();
    let want: Vec<String> = PATH_FORBIDDEN
        .iter()
        .map(|(p, _)| (*p).to_owned())
        .collect();
    assert_eq!(forbidden, want);
    assert_eq!(at(&s, "$defs/openLimit/maximum"), MAX_OPEN_LIMIT);
    assert_eq!(at(&s, "$defs/days/maximum"), MAX_COOLDOWN_DAYS);
}

/// Every object schema that lists properties refuses others.
#[test]
fn schema_closes_every_object() {
    fn walk(v: &Value, path: &str, open: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if map.contains_key("properties")
                    && map.get("additionalProperties") != Some(&Value::Bool(false))
                    && !path.ends_with("/if")
                {
                    open.push(path.to_owned());
                }
                for (k, child) in map {
                    // `properties` maps names to schemas: walk the schemas, not the map.
                    walk(child, &format!("{path}/{k}"), open);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{path}/{i}"), open);
                }
            }
            _ => {}
        }
    }
    let mut open = Vec::new();
    walk(&schema(), "", &mut open);
    // `if` conditions only test a property; the `properties` maps themselves are not schemas.
    open.retain(|p| !p.ends_with("/properties") && !p.contains("/if"));
    assert!(
        open.is_empty(),
        "objects without additionalProperties: false: {open:?}"
    );
}
