//! The headphone jack: reads the sound card's jack control through ALSA
//! (opened at run time from `libasound.so.2`), so speech goes to private
//! listening while headphones are plugged in.

use std::ffi::{CString, c_char, c_int, c_uint, c_void};

use libloading::Library;

use super::SpeechError;
use super::sink::ALSA_LIBRARY;

/// `SND_CTL_ELEM_IFACE_CARD`: jack controls live on the card interface.
const IFACE_CARD: c_int = 0;

type Open = unsafe extern "C" fn(*mut *mut c_void, *const c_char, c_int) -> c_int;
type Close = unsafe extern "C" fn(*mut c_void) -> c_int;
type ValueMalloc = unsafe extern "C" fn(*mut *mut c_void) -> c_int;
type ValueFree = unsafe extern "C" fn(*mut c_void);
type SetInterface = unsafe extern "C" fn(*mut c_void, c_int);
type SetName = unsafe extern "C" fn(*mut c_void, *const c_char);
type Read = unsafe extern "C" fn(*mut c_void, *mut c_void) -> c_int;
type GetBoolean = unsafe extern "C" fn(*const c_void, c_uint) -> c_int;

/// One jack control of one sound card, read on demand.
pub struct JackSensor {
    open: Open,
    close: Close,
    value_malloc: ValueMalloc,
    value_free: ValueFree,
    set_interface: SetInterface,
    set_name: SetName,
    read: Read,
    get_boolean: GetBoolean,
    card: CString,
    control: CString,
    _library: Library,
}

impl JackSensor {
    /// Loads ALSA to read the control `control` (such as "Headphone
    /// Jack") of the card behind the playback `device`.
    pub fn new(device: &str, control: &str) -> Result<Self, SpeechError> {
        let library_error = |e: libloading::Error| SpeechError::Library {
            library: ALSA_LIBRARY,
            reason: e.to_string(),
        };
        let nul = |_| SpeechError::Audio("jack name has NUL".into());
        let card = CString::new(card_of(device)).map_err(nul)?;
        let control = CString::new(control).map_err(nul)?;
        // SAFETY: each symbol is read with the signature of alsa/control.h.
        unsafe {
            let library = Library::new(ALSA_LIBRARY).map_err(library_error)?;
            Ok(Self {
                open: *library.get(b"snd_ctl_open\0").map_err(library_error)?,
                close: *library.get(b"snd_ctl_close\0").map_err(library_error)?,
                value_malloc: *library
                    .get(b"snd_ctl_elem_value_malloc\0")
                    .map_err(library_error)?,
                value_free: *library
                    .get(b"snd_ctl_elem_value_free\0")
                    .map_err(library_error)?,
                set_interface: *library
                    .get(b"snd_ctl_elem_value_set_interface\0")
                    .map_err(library_error)?,
                set_name: *library
                    .get(b"snd_ctl_elem_value_set_name\0")
                    .map_err(library_error)?,
                read: *library.get(b"snd_ctl_elem_read\0").map_err(library_error)?,
                get_boolean: *library
                    .get(b"snd_ctl_elem_value_get_boolean\0")
                    .map_err(library_error)?,
                card,
                control,
                _library: library,
            })
        }
    }

    /// Whether headphones are plugged in; an error when the card has no
    /// such control (then the configured route stands).
    pub fn plugged(&self) -> Result<bool, SpeechError> {
        let mut ctl = std::ptr::null_mut();
        let mut value = std::ptr::null_mut();
        // SAFETY: the handle and value are made here, used with the
        // functions that made them, and freed on every path.
        unsafe {
            if (self.open)(&mut ctl, self.card.as_ptr(), 0) < 0 {
                return Err(SpeechError::Audio(
                    "cannot open the sound card's controls".into(),
                ));
            }
            if (self.value_malloc)(&mut value) < 0 || value.is_null() {
                (self.close)(ctl);
                return Err(SpeechError::Audio("out of memory".into()));
            }
            (self.set_interface)(value, IFACE_CARD);
            (self.set_name)(value, self.control.as_ptr());
            let read = (self.read)(ctl, value);
            let on = (self.get_boolean)(value, 0);
            (self.value_free)(value);
            (self.close)(ctl);
            if read < 0 {
                return Err(SpeechError::Audio(format!(
                    "the sound card has no control {:?}",
                    self.control
                )));
            }
            Ok(on != 0)
        }
    }
}

/// The control device of the card a playback device plays on:
/// "plughw:1,0" and "hw:1" are card "hw:1"; anything else is "default".
fn card_of(device: &str) -> String {
    let card = device
        .strip_prefix("plughw:")
        .or_else(|| device.strip_prefix("hw:"))
        .and_then(|rest| rest.split(',').next())
        .filter(|c| !c.is_empty());
    card.map_or_else(|| "default".to_string(), |c| format!("hw:{c}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_comes_from_the_playback_device() {
        assert_eq!(card_of("plughw:1,0"), "hw:1");
        assert_eq!(card_of("hw:CARD=PCH,0"), "hw:CARD=PCH");
        assert_eq!(card_of("hw:0"), "hw:0");
        assert_eq!(card_of("default"), "default");
        assert_eq!(card_of("hw:"), "default");
    }
}
