//! updatebot: a dependency-update bot for self-hosted GitLab.
//!
//! The binary's pieces: [`scan`] finds manifests and extracts dependencies, [`lookup`] asks
//! the registries, [`policy`] decides, [`apply`] edits manifests and lockfiles, [`report`]
//! prints. Ecosystems plug in through [`plugins`].

pub mod apply;
pub mod check;
pub mod plugins;
pub mod policy;
pub mod report;
pub mod scan;
pub mod workbench;
