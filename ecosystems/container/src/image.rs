//! From an image reference found in a manifest to a [`Dependency`]: what is looked up where,
//! which text is the version, and where that text sits in the file.
//!
//! * `name`: the image as written, without tag and digest (`nginx`, `ghcr.io/a/b`);
//! * `current_value`: the tag, or `tag@digest` for a digest-pinned reference (one span, so
//!   that tag and digest always move together);
//! * `package_name`: the normalised repository (`docker.io/library/nginx`); it is looked up
//!   with the value in use (`docker.io/library/nginx:1.25.3`, or with its digest if pinned,
//!   see the plugin's `lookup_name`): the registry then checks the platforms of the tags an
//!   update could move to, and resolves their digests for a pinned one (see
//!   [`crate::registry`]);
//! * `registry_urls`: the registry API of the image's host (Docker Hub's is the ecosystem
//!   default, which an operator registry with `replaces-base` replaces).

use crate::reference::{self, is_loopback_host, Reference};
use crate::versioning::{parse_tag, SCHEME};
use updatebot_core::defaults::DOCKER_HUB_REGISTRY_URL;
use updatebot_core::{Dependency, SkipReason, Span};

/// Text with, for each byte, the byte offset in the manifest it came from (`None`: it came
/// from somewhere that cannot be edited, such as a build argument given at build time).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Located {
    pub text: String,
    pub sources: Vec<Option<usize>>,
}

impl Located {
    /// `text` sitting at `offset` in the manifest.
    pub fn at(text: &str, offset: usize) -> Self {
        Located {
            text: text.to_string(),
            sources: (offset..offset + text.len()).map(Some).collect(),
        }
    }

    pub fn push_str(&mut self, text: &str, offset: Option<usize>) {
        self.text.push_str(text);
        for i in 0..text.len() {
            self.sources.push(offset.map(|o| o + i));
        }
    }

    pub fn append(&mut self, other: &Located) {
        self.text.push_str(&other.text);
        self.sources.extend_from_slice(&other.sources);
    }

    /// Within bytes `start..end` of the text: the one unbroken run of manifest text that
    /// holds every ASCII digit there (`None`: digits in several runs, or none, or a digit that
    /// comes from outside the manifest).
    pub fn version_run(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        let bytes = self.text.as_bytes();
        let digits: Vec<usize> = (start..end.min(bytes.len()))
            .filter(|&i| bytes[i].is_ascii_digit())
            .collect();
        let (&first, &last) = (digits.first()?, digits.last()?);
        // Widen to the whole run the digits sit in.
        let mut a = first;
        while a > start && self.follows(a - 1, a) {
            a -= 1;
        }
        let mut b = last + 1;
        while b < end && self.follows(b - 1, b) {
            b += 1;
        }
        self.span(a, b).map(|_| (a, b))
    }

    /// Whether byte `j` of the text comes from the manifest right after byte `i`.
    fn follows(&self, i: usize, j: usize) -> bool {
        match (self.sources.get(i), self.sources.get(j)) {
            (Some(Some(x)), Some(Some(y))) => *y == *x + (j - i),
            _ => false,
        }
    }

    /// The manifest span of bytes `start..end` of the text, if they are one unbroken run
    /// of manifest text.
    pub fn span(&self, start: usize, end: usize) -> Option<Span> {
        if start >= end || end > self.sources.len() {
            return None;
        }
        let first = self.sources[start]?;
        for (i, source) in self.sources[start..end].iter().enumerate() {
            if *source != Some(first + i) {
                return None;
            }
        }
        Some(Span::new(first, first + (end - start)))
    }
}

/// The registry API base URL for an image's domain.
pub fn registry_url(reference: &Reference) -> String {
    if reference.is_docker_hub() {
        DOCKER_HUB_REGISTRY_URL.to_string()
    } else if is_loopback_host(&reference.domain) {
        format!("http://{}", reference.domain)
    } else {
        format!("https://{}", reference.domain)
    }
}

/// The dependency for one image reference. `raw` is the text as written (before variable
/// expansion), used in messages when the reference cannot be resolved.
pub fn dependency(raw: &str, image: Option<&Located>, dep_type: &str) -> Dependency {
    let Some(image) = image else {
        // A variable the bot cannot resolve (no default, or given at build/run time).
        return Dependency::new(raw, raw, "", None, SCHEME)
            .with_dep_type(dep_type, false)
            .skipped(SkipReason::Variable);
    };
    let text = image.text.as_str();
    // `$VAR`, and template placeholders (`{{ .Values.tag }}`, `%%VERSION%%`).
    if text.contains('$') || text.contains("{{") || text.contains("%%") {
        return Dependency::new(text, text, "", None, SCHEME)
            .with_dep_type(dep_type, false)
            .skipped(SkipReason::Variable);
    }
    let reference = match reference::parse(text) {
        Ok(r) => r,
        Err(_) => {
            // Bad input: fails this image alone, naming the text.
            return Dependency::new(text, text, text, None, SCHEME)
                .with_dep_type(dep_type, false)
                .skipped(SkipReason::InvalidVersion);
        }
    };
    let value = reference.value();
    let range = reference.value_range(text.len());
    let mut span = range.and_then(|(s, e)| image.span(s, e));
    let mut span_part = None;
    if span.is_none() && reference.digest.is_none() {
        // A tag assembled from a variable and written text (`python:${PY}-slim`): the one
        // unbroken run of file text holding every digit of it is edited, the rest stays.
        if let Some((start, end)) = range.and_then(|(s, e)| image.version_run(s, e)) {
            let tag_start = range.map(|(s, _)| s).unwrap_or_default();
            span = image.span(start, end);
            span_part = Some((start - tag_start, end - tag_start));
        }
    }
    let package = reference.repository();
    let mut dep = Dependency::new(
        reference.written_name.clone(),
        package,
        value.clone(),
        span,
        SCHEME,
    )
    .with_dep_type(dep_type, false);
    dep.span_part = span_part;
    dep.registry_urls = vec![registry_url(&reference)];
    let numeric = reference
        .tag
        .as_deref()
        .and_then(parse_tag)
        .is_some_and(|t| !t.release.is_empty());
    dep.skip_reason = match (&reference.tag, &reference.digest) {
        // `nginx` means `nginx:latest`: nothing pins it.
        (None, None) => Some(SkipReason::Unpinned),
        // `nginx@sha256:…`: no tag to follow.
        (None, Some(_)) => Some(SkipReason::UnsupportedVersion),
        // `latest`, `alpine`, `bookworm`: a moving tag, unless pinned to a digest.
        (Some(_), None) if !numeric => Some(SkipReason::Unpinned),
        _ if span.is_none() => Some(SkipReason::Variable),
        _ => None,
    };
    dep
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_tagged_image() {
        let text = "FROM nginx:1.25.3\n";
        let dep = dependency("", Some(&Located::at("nginx:1.25.3", 5)), "from");
        assert_eq!(dep.name, "nginx");
        assert_eq!(dep.package_name, "docker.io/library/nginx");
        assert_eq!(dep.current_value, "1.25.3");
        assert_eq!(dep.span.unwrap().slice(text), Some("1.25.3"));
        assert_eq!(dep.registry_urls, [DOCKER_HUB_REGISTRY_URL]);
        assert_eq!(dep.skip_reason, None);
    }

    #[test]
    fn a_digest_pinned_image_on_a_loopback_registry() {
        let image = format!("127.0.0.1:5000/team/app:1.0@{D}");
        let dep = dependency("", Some(&Located::at(&image, 0)), "image");
        assert_eq!(dep.name, "127.0.0.1:5000/team/app");
        assert_eq!(dep.package_name, "127.0.0.1:5000/team/app");
        assert_eq!(dep.current_value, format!("1.0@{D}"));
        assert_eq!(dep.registry_urls, ["http://127.0.0.1:5000"]);
    }

    #[test]
    fn skips_say_why() {
        let skip = |s: &str| dependency("", Some(&Located::at(s, 0)), "image").skip_reason;
        assert_eq!(skip("nginx"), Some(SkipReason::Unpinned));
        assert_eq!(skip("nginx:latest"), Some(SkipReason::Unpinned));
        assert_eq!(skip(&format!("nginx:latest@{D}")), None);
        assert_eq!(
            skip(&format!("nginx@{D}")),
            Some(SkipReason::UnsupportedVersion)
        );
        assert_eq!(skip("Nginx:1"), Some(SkipReason::InvalidVersion));
        assert_eq!(skip("$IMAGE"), Some(SkipReason::Variable));
        assert_eq!(
            dependency("${X}", None, "from").skip_reason,
            Some(SkipReason::Variable)
        );
        // A tag assembled from two places cannot be edited as one span.
        let mut mixed = Located::at("nginx:1.", 0);
        mixed.push_str("25", Some(40));
        assert_eq!(
            dependency("", Some(&mixed), "from").skip_reason,
            Some(SkipReason::Variable)
        );
    }

    #[test]
    fn a_tag_partly_from_a_variable_edits_the_part_with_the_digits() {
        // `python:${PY}-slim` with `PY: 3.12` written at offset 40.
        let mut image = Located::at("python:", 0);
        image.push_str("3.12", Some(40));
        image.push_str("-slim", Some(12));
        let dep = dependency("", Some(&image), "image");
        assert_eq!(dep.current_value, "3.12-slim");
        assert_eq!(dep.span, Some(Span::new(40, 44)));
        assert_eq!(dep.span_part, Some((0, 4)));
        assert_eq!(dep.skip_reason, None);
        // With a digest, tag and digest must move as one text: not editable.
        let mut pinned = image.clone();
        pinned.push_str(&format!("@{D}"), Some(17));
        let dep = dependency("", Some(&pinned), "image");
        assert_eq!(dep.skip_reason, Some(SkipReason::Variable));
    }
}
