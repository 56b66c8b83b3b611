//! The Rust types generated from `ui/app.slint`: the window and every
//! adapter global.

#![allow(missing_docs, clippy::all)]

slint::include_modules!();
