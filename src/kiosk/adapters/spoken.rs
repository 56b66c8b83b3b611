//! The kiosk's spoken script as speech mode's [`Script`]: the focus
//! ring's controls become the script's focused controls.

use super::voice::Script;
use crate::domain::Language;
use crate::kiosk::keypad::{Control, ControlKind};
use crate::kiosk::speech::Utterance;
use crate::kiosk::speech::script::{
    self, ControlRole, ControlState, FocusedControl, ScriptContext,
};
use crate::kiosk::view::ViewModel;

/// The spoken script, with the clinic's name for Welcome.
#[derive(Debug, Clone, Default)]
pub struct SpokenScript {
    /// What the script needs beyond the view model.
    pub context: ScriptContext,
}

impl SpokenScript {
    /// The script for the clinic named `clinic_name`.
    pub fn for_clinic(clinic_name: &str) -> Self {
        Self {
            context: ScriptContext {
                clinic_name: clinic_name.to_string(),
                ..ScriptContext::default()
            },
        }
    }
}

/// The script's view of the control in the focus ring.
pub fn focused_control(control: &Control) -> FocusedControl {
    let role = match control.kind {
        ControlKind::Button => ControlRole::Button,
        ControlKind::Key => ControlRole::Key,
        ControlKind::Field => ControlRole::TextField,
        ControlKind::Toggle => ControlRole::Toggle,
        ControlKind::Answer => ControlRole::Answer,
    };
    let state = if !control.enabled {
        ControlState::Disabled
    } else if control.checked == Some(true) {
        ControlState::Selected
    } else {
        ControlState::Enabled
    };
    FocusedControl {
        label: control.label.clone(),
        role,
        state,
        carries_patient_data: control.has_value,
    }
}

impl Script for SpokenScript {
    fn view_changes(&self, prev: Option<&ViewModel>, next: &ViewModel) -> Vec<Utterance> {
        script::view_changes_in(&self.context, prev, next)
    }

    fn whole_screen(&self, view: &ViewModel) -> Vec<Utterance> {
        script::whole_screen_in(&self.context, view)
    }

    fn focused(&self, control: &Control, language: Language) -> Vec<Utterance> {
        script::focused(&focused_control(control), language)
    }

    fn idle_warning(&self, seconds_left: u32, language: Language) -> Utterance {
        script::idle_warning(seconds_left, language)
    }

    fn speech_mode_started(&self, language: Language) -> Utterance {
        script::speech_mode_started(language)
    }

    fn set_online(&mut self, online: bool) {
        self.context.online = online;
    }
}
