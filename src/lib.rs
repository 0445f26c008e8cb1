//! updatebot: a dependency-update bot for self-hosted GitLab.
//!
//! The binary's pieces: [`config`] reads `.updatebot.yml` and the operator config, [`scan`]
//! finds manifests and extracts dependencies, [`check`] asks the registries and applies the
//! [`policy`], [`apply`] edits manifests and lockfiles, [`report`] prints. Ecosystems plug in
//! through [`plugins`].

pub mod apply;
pub mod check;
pub mod ci;
pub mod config;
pub mod forge;
pub mod plugins;
pub mod policy;
pub mod project;
pub mod report;
pub mod run;
pub mod scan;
pub mod schedule;
pub mod security;
pub mod serve;
pub mod shared_text;
pub mod workbench;
