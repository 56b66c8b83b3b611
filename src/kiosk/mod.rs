//! The kiosk app: the check-in controller, the scanner, the view model, and
//! the Slint adapters that connect them to the touch UI.
//!
//! **Architecture invariant:** only `adapters`, `app` and `ui` import Slint; the
//! controller and the view model are plain Rust and tested without a window.

pub mod adapters;
pub mod app;
pub mod controller;
pub mod keypad;
pub mod repository;
pub mod scanner;
pub mod signature;
pub mod speech;
pub mod ui;
pub mod view;

pub use controller::{
    CheckInController, CheckInRepository, ControllerError, KioskContext, UiAction,
};
pub use view::{Screen, ViewModel};
