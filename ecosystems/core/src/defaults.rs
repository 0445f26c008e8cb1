//! The public registries' default addresses: the one place in the code that names them.

/// PyPI's simple index (PEP 503/691).
pub const PYPI_SIMPLE_URL: &str = "https://pypi.org/simple/";
/// PyPI's JSON API, used in place of its simple index: the same one request per package,
/// plus the project's source and changelog links for merge request descriptions.
pub const PYPI_JSON_API_URL: &str = "https://pypi.org/pypi/";
/// The npm public registry.
pub const NPM_REGISTRY_URL: &str = "https://registry.npmjs.org/";
/// Docker Hub's registry API host.
pub const DOCKER_HUB_REGISTRY: &str = "registry-1.docker.io";
/// Docker Hub's registry API, as a base URL (the container ecosystem's default registry).
pub const DOCKER_HUB_REGISTRY_URL: &str = "https://registry-1.docker.io";
/// The domain Docker Hub images have in normalised references (`docker.io/library/nginx`).
pub const DOCKER_HUB_DOMAIN: &str = "docker.io";
/// Other names of Docker Hub in references and registry configuration; all mean
/// [`DOCKER_HUB_DOMAIN`].
pub const DOCKER_HUB_ALIASES: &[&str] = &[
    "index.docker.io",
    DOCKER_HUB_REGISTRY,
    "registry.hub.docker.com",
];
