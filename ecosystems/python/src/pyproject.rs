//! `pyproject.toml`: PEP 621 `[project]` dependencies and optional dependencies, PEP 735
//! `[dependency-groups]`, `[build-system] requires`, Poetry's `[tool.poetry.*dependencies]`
//! and groups, and uv's `[tool.uv]` dev/constraint/override dependencies, sources and indexes.

use crate::requirement::normalize_name;
use crate::toml_util::{
    parse_document, pep508_array, string_with_span, table_dependency, type_error,
};
use std::collections::HashMap;
use toml_edit::{Item, TableLike};
use updatebot_core::dependency::{Dependency, PackageFile, SkipReason};
use updatebot_core::{defaults, Ecosystem, Manager, ManifestError};

pub const MANAGER: &str = "pyproject";

#[derive(Clone, Copy, Debug, Default)]
pub struct Pyproject;

/// How a uv or Poetry source entry says a dependency is obtained.
pub(crate) enum Source {
    Index(String),
    Skip(SkipReason),
}

/// A source table (`{git = …}`, `{path = …}`, `{url = …}`, `{workspace = true}`,
/// `{index = "name"}` / `{source = "name"}`) → how the dependency is obtained.
pub(crate) fn source_of(
    table: &dyn TableLike,
    indexes: &HashMap<String, String>,
) -> Option<Source> {
    if table.contains_key("git") || table.contains_key("hg") || table.contains_key("svn") {
        return Some(Source::Skip(SkipReason::GitDependency));
    }
    if table.contains_key("path") || table.contains_key("file") {
        return Some(Source::Skip(SkipReason::PathDependency));
    }
    if table.contains_key("url") {
        return Some(Source::Skip(SkipReason::UrlDependency));
    }
    if table.get("workspace").and_then(Item::as_bool) == Some(true) {
        return Some(Source::Skip(SkipReason::LocalPackage));
    }
    let index = table
        .get("index")
        .or_else(|| table.get("source"))
        .and_then(Item::as_str)?;
    indexes.get(index).map(|url| Source::Index(url.clone()))
}

struct Reader<'a> {
    path: &'a str,
    content: &'a str,
    file: PackageFile,
}

impl<'a> Reader<'a> {
    fn table<'d>(
        &self,
        item: Option<&'d Item>,
        key: &str,
    ) -> Result<Option<&'d dyn TableLike>, ManifestError> {
        match item {
            None => Ok(None),
            Some(item) => item
                .as_table_like()
                .map(Some)
                .ok_or_else(|| type_error(self.path, self.content, item, key, "a table")),
        }
    }

    fn array(
        &mut self,
        item: Option<&Item>,
        key: &str,
        dep_type: &str,
        development: bool,
    ) -> Result<(), ManifestError> {
        if let Some(item) = item {
            pep508_array(
                self.path,
                self.content,
                item,
                key,
                dep_type,
                development,
                &mut self.file.dependencies,
            )?;
        }
        Ok(())
    }

    /// Poetry's `name = "^1.2"` / `{version = …}` / `[{…}, {…}]` dependency tables.
    fn poetry_dependencies(
        &mut self,
        table: &dyn TableLike,
        key: &str,
        dep_type: &str,
        development: bool,
        indexes: &HashMap<String, String>,
    ) -> Result<(), ManifestError> {
        for (name, item) in table.iter() {
            if name == "python" {
                if let Some(python) = item.as_str() {
                    self.file
                        .constraints
                        .insert("python".into(), python.to_string());
                }
                continue;
            }
            let package = normalize_name(name);
            let mut found = Vec::new();
            if let Some(array) = item.as_array() {
                // Multiple-constraint dependencies: one entry per table.
                for value in array.iter() {
                    let table = value.as_inline_table().ok_or_else(|| {
                        type_error(
                            self.path,
                            self.content,
                            item,
                            &format!("{key}.{name}"),
                            "an array of tables",
                        )
                    })?;
                    found.push(self.poetry_table(name, &package, table, indexes)?);
                }
            } else if let Some(table) = item.as_table_like() {
                found.push(self.poetry_table(name, &package, table, indexes)?);
            } else if item.is_str() {
                let (text, span) = string_with_span(item, self.content).unwrap_or_default();
                found.push(poetry_dep(name, text, span));
            } else {
                return Err(type_error(
                    self.path,
                    self.content,
                    item,
                    &format!("{key}.{name}"),
                    "a string or a table",
                ));
            }
            self.file.dependencies.extend(
                found
                    .into_iter()
                    .map(|d| d.with_dep_type(dep_type, development)),
            );
        }
        Ok(())
    }

    fn poetry_table(
        &self,
        name: &str,
        package: &str,
        table: &dyn TableLike,
        indexes: &HashMap<String, String>,
    ) -> Result<Dependency, ManifestError> {
        let scheme = crate::poetry::SCHEME;
        let registry = match source_of(table, indexes) {
            Some(Source::Skip(reason)) => {
                return Ok(Dependency::new(name, package, "", None, scheme).skipped(reason))
            }
            Some(Source::Index(url)) => Some(url),
            None => None,
        };
        let mut dep = match table.get("version") {
            Some(item) => {
                let (text, span) = string_with_span(item, self.content).ok_or_else(|| {
                    type_error(
                        self.path,
                        self.content,
                        item,
                        &format!("{name}.version"),
                        "a string",
                    )
                })?;
                poetry_dep(name, text, span)
            }
            None => Dependency::new(name, package, "", None, scheme).skipped(SkipReason::Unpinned),
        };
        dep.registry_urls.extend(registry);
        if let Some(python) = crate::toml_util::table_python(table) {
            dep.constraints.insert("python".into(), python);
        }
        Ok(dep)
    }
}

fn poetry_dep(name: &str, version: String, span: Option<updatebot_core::Span>) -> Dependency {
    table_dependency(name, version, span, crate::poetry::SCHEME)
}

/// Named indexes of a source list (`[[tool.uv.index]]`, `[[tool.poetry.source]]`,
/// Pipfile `[[source]]`): name → URL, plus the ones searched by default, in order, and
/// whether one of them replaces PyPI.
pub(crate) struct Indexes {
    pub by_name: HashMap<String, String>,
    pub searched: Vec<String>,
    pub replaces_default: bool,
}

/// Read an array of `{name, url, …}` tables. `implicit` says whether an entry is searched
/// for every package; `primary` whether it replaces the default index.
pub(crate) fn read_indexes(
    item: Option<&Item>,
    implicit: impl Fn(&dyn TableLike) -> bool,
    primary: impl Fn(&dyn TableLike) -> bool,
) -> Indexes {
    let mut indexes = Indexes {
        by_name: HashMap::new(),
        searched: Vec::new(),
        replaces_default: false,
    };
    let tables: Vec<&dyn TableLike> = match item {
        Some(Item::ArrayOfTables(list)) => list.iter().map(|t| t as &dyn TableLike).collect(),
        Some(item) => item
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_inline_table())
                    .map(|t| t as &dyn TableLike)
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    for table in tables {
        let Some(url) = table.get("url").and_then(Item::as_str) else {
            continue;
        };
        if let Some(name) = table.get("name").and_then(Item::as_str) {
            indexes.by_name.insert(name.to_string(), url.to_string());
        }
        if implicit(table) {
            indexes.searched.push(url.to_string());
            indexes.replaces_default |= primary(table);
        }
    }
    indexes
}

impl Manager for Pyproject {
    fn name(&self) -> &'static str {
        MANAGER
    }

    fn ecosystem(&self) -> Ecosystem {
        Ecosystem::Python
    }

    fn matches(&self, path: &str) -> bool {
        path.rsplit('/').next() == Some("pyproject.toml")
    }

    fn extract(&self, path: &str, content: &str) -> Result<PackageFile, ManifestError> {
        let doc = parse_document(path, content)?;
        let root = doc.as_item();
        let mut reader = Reader {
            path,
            content,
            file: PackageFile::default(),
        };
        let tool = reader.table(root.get("tool"), "tool")?;
        let uv = reader.table(tool.and_then(|t| t.get("uv")), "tool.uv")?;
        let poetry = reader.table(tool.and_then(|t| t.get("poetry")), "tool.poetry")?;

        // Indexes: uv's `[[tool.uv.index]]` (explicit ones only for pinned packages) and
        // Poetry's `[[tool.poetry.source]]` (explicit/supplemental ones likewise).
        let uv_indexes = read_indexes(
            uv.and_then(|t| t.get("index")),
            |t| t.get("explicit").and_then(Item::as_bool) != Some(true),
            |t| t.get("default").and_then(Item::as_bool) == Some(true),
        );
        let poetry_indexes = read_indexes(
            poetry.and_then(|t| t.get("source")),
            |t| {
                !matches!(
                    t.get("priority").and_then(Item::as_str),
                    Some("explicit") | Some("supplemental")
                )
            },
            |t| {
                matches!(
                    t.get("priority").and_then(Item::as_str),
                    Some("primary") | Some("default")
                ) || t.get("default").and_then(Item::as_bool) == Some(true)
            },
        );
        for indexes in [&uv_indexes, &poetry_indexes] {
            if !indexes.searched.is_empty() {
                reader
                    .file
                    .registry_urls
                    .extend(indexes.searched.iter().cloned());
                if !indexes.replaces_default {
                    reader
                        .file
                        .registry_urls
                        .push(defaults::PYPI_SIMPLE_URL.to_string());
                }
            }
        }

        let project = reader.table(root.get("project"), "project")?;
        let own_name = project
            .and_then(|p| p.get("name"))
            .and_then(Item::as_str)
            .map(normalize_name);
        if let Some(project) = project {
            if let Some(python) = project.get("requires-python").and_then(Item::as_str) {
                reader
                    .file
                    .constraints
                    .insert("python".into(), python.to_string());
            }
            reader.array(
                project.get("dependencies"),
                "project.dependencies",
                "dependencies",
                false,
            )?;
            if let Some(optional) = reader.table(
                project.get("optional-dependencies"),
                "project.optional-dependencies",
            )? {
                for (extra, item) in optional.iter() {
                    reader.array(
                        Some(item),
                        &format!("project.optional-dependencies.{extra}"),
                        "optional-dependencies",
                        false,
                    )?;
                }
            }
        }
        if let Some(groups) = reader.table(root.get("dependency-groups"), "dependency-groups")? {
            for (group, item) in groups.iter() {
                reader.array(
                    Some(item),
                    &format!("dependency-groups.{group}"),
                    "dependency-groups",
                    true,
                )?;
            }
        }
        if let Some(build) = reader.table(root.get("build-system"), "build-system")? {
            reader.array(
                build.get("requires"),
                "build-system.requires",
                "build-system",
                true,
            )?;
        }
        if let Some(uv) = uv {
            reader.array(
                uv.get("dev-dependencies"),
                "tool.uv.dev-dependencies",
                "dev-dependencies",
                true,
            )?;
            reader.array(
                uv.get("constraint-dependencies"),
                "tool.uv.constraint-dependencies",
                "constraint-dependencies",
                false,
            )?;
            reader.array(
                uv.get("override-dependencies"),
                "tool.uv.override-dependencies",
                "override-dependencies",
                false,
            )?;
        }
        // uv sources apply to the PEP 508 dependencies above.
        if let Some(sources) = reader.table(uv.and_then(|t| t.get("sources")), "tool.uv.sources")? {
            for (name, item) in sources.iter() {
                let wanted = normalize_name(name);
                let source = match (item.as_table_like(), item.as_array()) {
                    (Some(table), _) => source_of(table, &uv_indexes.by_name),
                    (None, Some(array)) => array
                        .iter()
                        .filter_map(|v| v.as_inline_table())
                        .find_map(|t| source_of(t, &uv_indexes.by_name)),
                    _ => {
                        return Err(type_error(
                            path,
                            content,
                            item,
                            &format!("tool.uv.sources.{name}"),
                            "a table",
                        ))
                    }
                };
                for dep in reader
                    .file
                    .dependencies
                    .iter_mut()
                    .filter(|d| d.package_name == wanted)
                {
                    match &source {
                        Some(Source::Skip(reason)) => dep.skip_reason = Some(reason.clone()),
                        Some(Source::Index(url)) => dep.registry_urls = vec![url.clone()],
                        None => {}
                    }
                }
            }
        }
        if let Some(poetry) = poetry {
            if let Some(deps) =
                reader.table(poetry.get("dependencies"), "tool.poetry.dependencies")?
            {
                reader.poetry_dependencies(
                    deps,
                    "tool.poetry.dependencies",
                    "dependencies",
                    false,
                    &poetry_indexes.by_name,
                )?;
            }
            if let Some(deps) = reader.table(
                poetry.get("dev-dependencies"),
                "tool.poetry.dev-dependencies",
            )? {
                reader.poetry_dependencies(
                    deps,
                    "tool.poetry.dev-dependencies",
                    "dev-dependencies",
                    true,
                    &poetry_indexes.by_name,
                )?;
            }
            if let Some(groups) = reader.table(poetry.get("group"), "tool.poetry.group")? {
                for (group, item) in groups.iter() {
                    let key = format!("tool.poetry.group.{group}");
                    let Some(group_table) = reader.table(Some(item), &key)? else {
                        continue;
                    };
                    if let Some(deps) = reader.table(
                        group_table.get("dependencies"),
                        &format!("{key}.dependencies"),
                    )? {
                        reader.poetry_dependencies(
                            deps,
                            &key,
                            &format!("group.{group}"),
                            group != "main",
                            &poetry_indexes.by_name,
                        )?;
                    }
                }
            }
        }
        if let Some(own) = own_name {
            for dep in reader
                .file
                .dependencies
                .iter_mut()
                .filter(|d| d.package_name == own)
            {
                dep.skip_reason = Some(SkipReason::LocalPackage);
            }
        }
        Ok(reader.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(text: &str) -> PackageFile {
        Pyproject.extract("pyproject.toml", text).unwrap()
    }

    fn spans_read_back(text: &str, file: &PackageFile) {
        for dep in &file.dependencies {
            if let Some(span) = dep.span {
                assert_eq!(
                    span.slice(text),
                    Some(dep.current_value.as_str()),
                    "{}",
                    dep.name
                );
            }
        }
    }

    #[test]
    fn pep621_optional_groups_and_build_system() {
        let text = r#"[build-system]
requires = ["setuptools>=61", "wheel"]

[project]
name = "demo"
requires-python = ">=3.9"
dependencies = [
  "requests>=2.25,<3",  # comment
  'six==1.16.0',
  "attrs",
]

[project.optional-dependencies]
socks = ["PySocks>=1.5.6, !=1.5.7"]
all = ["demo[socks]"]

[dependency-groups]
test = ["pytest>=7", {include-group = "lint"}]
lint = ["ruff==0.5.0"]
"#;
        let file = extract(text);
        spans_read_back(text, &file);
        let names: Vec<_> = file
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.dep_type.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("requests", "dependencies"),
                ("six", "dependencies"),
                ("attrs", "dependencies"),
                ("PySocks", "optional-dependencies"),
                ("demo", "optional-dependencies"),
                ("pytest", "dependency-groups"),
                ("ruff", "dependency-groups"),
                ("setuptools", "build-system"),
                ("wheel", "build-system"),
            ]
        );
        assert_eq!(file.constraints["python"], ">=3.9");
        assert_eq!(
            file.dependencies[4].skip_reason,
            Some(SkipReason::LocalPackage)
        );
        assert_eq!(file.dependencies[2].skip_reason, Some(SkipReason::Unpinned));
        assert!(file.dependencies[5].development);
    }

    #[test]
    fn poetry_dependencies_groups_and_sources() {
        let text = r#"[tool.poetry]
name = "demo"

[tool.poetry.dependencies]
python = "^3.9"
requests = "^2.25"
httpx = { version = "~0.27", extras = ["http2"] }
mylib = { git = "https://example.org/mylib.git" }
local = { path = "../local", develop = true }
numpy = [
    { version = "^1.24", python = "<3.12" },
    { version = "^2.0", python = ">=3.12" },
]
private = { version = "1.2.3", source = "internal" }
anything = "*"

[tool.poetry.group.dev.dependencies]
pytest = "^8.0"

[tool.poetry.dev-dependencies]
black = "==24.1.0"

[[tool.poetry.source]]
name = "internal"
url = "https://pypi.internal.example/simple/"
priority = "explicit"
"#;
        let file = extract(text);
        spans_read_back(text, &file);
        let got: Vec<_> = file
            .dependencies
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.current_value.as_str(),
                    d.skip_reason.as_ref().map(|r| r.as_str()),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("requests", "^2.25", None),
                ("httpx", "~0.27", None),
                ("mylib", "", Some("git-dependency")),
                ("local", "", Some("path-dependency")),
                ("numpy", "^1.24", None),
                ("numpy", "^2.0", None),
                ("private", "1.2.3", None),
                ("anything", "*", Some("unpinned")),
                ("black", "==24.1.0", None),
                ("pytest", "^8.0", None),
            ]
        );
        assert_eq!(
            file.dependencies[6].registry_urls,
            ["https://pypi.internal.example/simple/"]
        );
        assert_eq!(file.constraints["python"], "^3.9");
        assert_eq!(file.dependencies[9].dep_type, "group.dev");
        assert!(file.dependencies[9].development);
        assert!(
            file.registry_urls.is_empty(),
            "explicit sources are not searched by default"
        );
    }

    #[test]
    fn uv_sources_and_indexes() {
        let text = r#"[project]
name = "demo"
dependencies = ["torch>=2", "mylib", "sibling", "httpx>=0.27"]

[tool.uv]
dev-dependencies = ["pytest>=8"]

[tool.uv.sources]
torch = { index = "pytorch" }
mylib = { git = "https://example.org/mylib.git" }
sibling = { workspace = true }

[[tool.uv.index]]
name = "pytorch"
url = "https://download.pytorch.org/whl/cpu"
explicit = true
"#;
        let file = extract(text);
        let deps = &file.dependencies;
        assert_eq!(
            deps[0].registry_urls,
            ["https://download.pytorch.org/whl/cpu"]
        );
        assert_eq!(deps[1].skip_reason, Some(SkipReason::GitDependency));
        assert_eq!(deps[2].skip_reason, Some(SkipReason::LocalPackage));
        assert_eq!(deps[3].skip_reason, None);
        assert_eq!(deps[4].dep_type, "dev-dependencies");
    }

    #[test]
    fn bad_toml_and_bad_types_name_the_line() {
        let err = Pyproject
            .extract("a/pyproject.toml", "[project\nname = 1\n")
            .unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(
            err.to_string()
                .starts_with("a/pyproject.toml:1: invalid TOML"),
            "{err}"
        );
        let err = Pyproject
            .extract(
                "pyproject.toml",
                "[project]\nname = \"x\"\ndependencies = \"requests\"\n",
            )
            .unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(
            err.message
                .contains("`project.dependencies` must be an array"),
            "{err}"
        );
        let err = Pyproject
            .extract(
                "pyproject.toml",
                "[project]\ndependencies = [\n  \"ok>=1\",\n  \"bad==1.0=\",\n]\n",
            )
            .unwrap_err();
        assert_eq!(err.line, Some(4));
    }

    #[test]
    fn escaped_strings_are_listed_but_not_edited() {
        let text = "[project]\ndependencies = [\"requests\\u003e=2.0\"]\n";
        let file = extract(text);
        assert_eq!(file.dependencies[0].current_value, ">=2.0");
        assert_eq!(
            file.dependencies[0].skip_reason,
            Some(SkipReason::UnsupportedSyntax)
        );
    }
}
