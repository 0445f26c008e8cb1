//! Pipenv's `Pipfile`: `[packages]`, `[dev-packages]` and custom categories, with PEP 440
//! specifiers, `*`, and `{version, git, path, file, editable, index}` tables; `[[source]]`
//! indexes and `[requires] python_version`.

use crate::pyproject::{read_indexes, source_of, Source};
use crate::toml_util::{parse_document, string_with_span, table_dependency, type_error};
use toml_edit::{Item, TableLike};
use updatebot_core::dependency::{Dependency, PackageFile, SkipReason};
use updatebot_core::{Ecosystem, Manager, ManifestError};

pub const MANAGER: &str = "pipenv";

/// Top-level tables that are not package categories.
const NOT_CATEGORIES: [&str; 4] = ["source", "requires", "scripts", "pipenv"];

#[derive(Clone, Copy, Debug, Default)]
pub struct Pipfile;

fn pep440_dep(name: &str, value: String, span: Option<updatebot_core::Span>) -> Dependency {
    table_dependency(name, value, span, crate::pep440::SCHEME)
}

impl Manager for Pipfile {
    fn name(&self) -> &'static str {
        MANAGER
    }

    fn ecosystem(&self) -> Ecosystem {
        Ecosystem::Python
    }

    fn matches(&self, path: &str) -> bool {
        path.rsplit('/').next() == Some("Pipfile")
    }

    fn extract(&self, path: &str, content: &str) -> Result<PackageFile, ManifestError> {
        let doc = parse_document(path, content)?;
        let root = doc.as_item();
        let mut file = PackageFile::default();
        // pipenv installs from the first source unless a package names another.
        let indexes = read_indexes(root.get("source"), |_| true, |_| true);
        file.registry_urls.extend(indexes.searched.first().cloned());
        if let Some(requires) = root.get("requires").and_then(Item::as_table_like) {
            if let Some(full) = requires.get("python_full_version").and_then(Item::as_str) {
                file.constraints
                    .insert("python".into(), format!("=={full}"));
            } else if let Some(short) = requires.get("python_version").and_then(Item::as_str) {
                file.constraints
                    .insert("python".into(), format!("=={short}.*"));
            }
        }
        let Some(top) = root.as_table_like() else {
            return Ok(file);
        };
        for (category, section) in top.iter() {
            if NOT_CATEGORIES.contains(&category) {
                continue;
            }
            let table = section
                .as_table_like()
                .ok_or_else(|| type_error(path, content, section, category, "a table"))?;
            let development = category != "packages";
            for (name, item) in table.iter() {
                let dep = if item.is_str() {
                    let (value, span) = string_with_span(item, content).unwrap_or_default();
                    pep440_dep(name, value, span)
                } else if let Some(spec) = item.as_table_like() {
                    self.table_entry(path, content, name, spec, &indexes.by_name)?
                } else {
                    return Err(type_error(
                        path,
                        content,
                        item,
                        &format!("{category}.{name}"),
                        "a string or a table",
                    ));
                };
                file.dependencies
                    .push(dep.with_dep_type(category, development));
            }
        }
        Ok(file)
    }
}

impl Pipfile {
    fn table_entry(
        &self,
        path: &str,
        content: &str,
        name: &str,
        spec: &dyn TableLike,
        indexes: &std::collections::HashMap<String, String>,
    ) -> Result<Dependency, ManifestError> {
        if spec.get("editable").and_then(Item::as_bool) == Some(true) && spec.contains_key("path") {
            return Ok(pep440_dep(name, String::new(), None).skipped(SkipReason::Editable));
        }
        let registry = match source_of(spec, indexes) {
            Some(Source::Skip(reason)) => {
                return Ok(pep440_dep(name, String::new(), None).skipped(reason))
            }
            Some(Source::Index(url)) => Some(url),
            None => None,
        };
        let mut dep = match spec.get("version") {
            Some(item) => {
                let (value, span) = string_with_span(item, content).ok_or_else(|| {
                    type_error(path, content, item, &format!("{name}.version"), "a string")
                })?;
                pep440_dep(name, value, span)
            }
            None => pep440_dep(name, String::new(), None),
        };
        dep.registry_urls.extend(registry);
        if let Some(python) = crate::toml_util::table_python(spec) {
            dep.constraints.insert("python".into(), python);
        }
        Ok(dep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_dev_packages_categories_and_sources() {
        let text = r#"[[source]]
url = "https://pypi.org/simple"
verify_ssl = true
name = "pypi"

[[source]]
url = "https://pypi.internal.example/simple"
name = "internal"

[packages]
requests = "==2.25.0"
django = {version = ">=4.2,<5", extras = ["argon2"]}
private = {version = "==1.0", index = "internal"}
mylib = {git = "https://example.org/mylib.git", ref = "main"}
local = {path = ".", editable = true}
anything = "*"

[dev-packages]
pytest = ">=7"

[docs]
sphinx = "~=7.0"

[requires]
python_version = "3.11"
"#;
        let file = Pipfile.extract("Pipfile", text).unwrap();
        for dep in &file.dependencies {
            if let Some(span) = dep.span {
                assert_eq!(span.slice(text), Some(dep.current_value.as_str()));
            }
        }
        let got: Vec<_> = file
            .dependencies
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.current_value.as_str(),
                    d.dep_type.as_str(),
                    d.skip_reason.as_ref().map(|r| r.as_str()),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("requests", "==2.25.0", "packages", None),
                ("django", ">=4.2,<5", "packages", None),
                ("private", "==1.0", "packages", None),
                ("mylib", "", "packages", Some("git-dependency")),
                ("local", "", "packages", Some("editable")),
                ("anything", "*", "packages", Some("unpinned")),
                ("pytest", ">=7", "dev-packages", None),
                ("sphinx", "~=7.0", "docs", None),
            ]
        );
        assert_eq!(file.registry_urls, ["https://pypi.org/simple"]);
        assert_eq!(
            file.dependencies[2].registry_urls,
            ["https://pypi.internal.example/simple"]
        );
        assert_eq!(file.constraints["python"], "==3.11.*");
        assert!(file.dependencies[6].development);
        assert!(!file.dependencies[0].development);
    }

    #[test]
    fn a_category_that_is_not_a_table_is_an_error_with_its_line() {
        let err = Pipfile
            .extract(
                "Pipfile",
                "[packages]\nrequests = \"*\"\n\n[[dev-packages]]\nx = 1\n",
            )
            .unwrap_err();
        assert!(
            err.message.contains("`dev-packages` must be a table"),
            "{err}"
        );
    }
}
