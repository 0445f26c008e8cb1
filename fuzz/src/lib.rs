//! Fuzz entry points of updatebot; see `entries.rs`.

pub mod entries;
