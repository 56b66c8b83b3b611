//! eSpeak NG, loaded at run time from `libespeak-ng.so.1` (Debian
//! `libespeak-ng1` and `espeak-ng-data`): text in, 16-bit mono PCM out.
//!
//! The library is opened with `dlopen` rather than linked, so the kiosk
//! builds without the engine's headers and still runs, silently, on a
//! machine without it. eSpeak keeps global state, so one [`Espeak`] at a
//! time exists in a process, and it stays on the thread that made it.

use std::cell::Cell;
use std::ffi::{CString, c_char, c_int, c_short, c_uint, c_void};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

use libloading::Library;

use super::{SpeechError, Synthesizer};
use crate::domain::Language;

/// The engine's shared library.
pub const LIBRARY: &str = "libespeak-ng.so.1";

/// `AUDIO_OUTPUT_SYNCHRONOUS`: samples come back through the callback
/// before `espeak_Synth` returns.
const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
/// `espeakINITIALIZE_DONT_EXIT`: report missing data instead of exiting.
const INITIALIZE_DONT_EXIT: c_int = 0x8000;
/// `espeakCHARS_UTF8 | espeakENDPAUSE`.
const SYNTH_FLAGS: c_uint = 0x1 | 0x1000;
/// `POS_CHARACTER`.
const POS_CHARACTER: c_int = 1;
/// `espeakRATE`, in words per minute.
const PARAM_RATE: c_int = 1;
/// A little slower than eSpeak's 175 wpm: many patients are elderly.
const RATE_WPM: c_int = 160;
/// Milliseconds of audio per callback: small chunks let an interrupt
/// stop playback quickly.
const BUFFER_MS: c_int = 40;

/// The first fields of `espeak_EVENT`; only ever read through a pointer.
#[repr(C)]
struct EspeakEvent {
    kind: c_int,
}

type SynthCallback = unsafe extern "C" fn(*mut c_short, c_int, *mut EspeakEvent) -> c_int;
type InitializeFn = unsafe extern "C" fn(c_int, c_int, *const c_char, c_int) -> c_int;
type SetCallbackFn = unsafe extern "C" fn(Option<SynthCallback>);
type SetVoiceFn = unsafe extern "C" fn(*const c_char) -> c_int;
type SetParameterFn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
type SynthFn = unsafe extern "C" fn(
    *const c_void,
    usize,
    c_uint,
    c_int,
    c_uint,
    c_uint,
    *mut c_uint,
    *mut c_void,
) -> c_int;
type TerminateFn = unsafe extern "C" fn() -> c_int;

/// Set while an [`Espeak`] exists anywhere in the process.
static IN_USE: AtomicBool = AtomicBool::new(false);

/// The output closure of the synthesis running on this thread: a pointer
/// to a `&mut dyn FnMut(&[i16]) -> bool`, valid only during `espeak_Synth`.
type Output<'a> = &'a mut dyn FnMut(&[i16]) -> bool;

thread_local! {
    static OUTPUT: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
}

/// eSpeak's callback: hands each chunk to the running synthesis's output.
/// Returns 1 to make eSpeak stop.
unsafe extern "C" fn on_samples(
    wav: *mut c_short,
    count: c_int,
    _events: *mut EspeakEvent,
) -> c_int {
    let target = OUTPUT.with(Cell::get);
    if target.is_null() {
        return 1;
    }
    let len = usize::try_from(count).unwrap_or(0);
    if wav.is_null() || len == 0 {
        return 0;
    }
    // SAFETY: eSpeak hands `count` valid samples at `wav` for the duration
    // of this call, and `target` points at the `Output` that `synthesize`
    // keeps alive on this thread until `espeak_Synth` returns.
    let keep_going = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
        let samples = std::slice::from_raw_parts(wav.cast_const(), len);
        let out = &mut *target.cast::<Output<'_>>();
        out(samples)
    }));
    match keep_going {
        Ok(true) => 0,
        _ => 1,
    }
}

/// The engine, initialized, with its voices at hand.
pub struct Espeak {
    synth: SynthFn,
    set_voice: SetVoiceFn,
    terminate: TerminateFn,
    sample_rate: u32,
    voice: Option<Language>,
    /// Kept last so the functions above stay valid until drop.
    _library: Library,
    /// eSpeak's state belongs to this thread.
    _not_send: PhantomData<*mut ()>,
}

impl Espeak {
    /// Opens and initializes the engine. Fails if the library or its data
    /// is missing, or if another `Espeak` is alive in this process.
    pub fn load() -> Result<Self, SpeechError> {
        if IN_USE.swap(true, Ordering::SeqCst) {
            return Err(SpeechError::EngineInUse);
        }
        let loaded = Self::open();
        if loaded.is_err() {
            IN_USE.store(false, Ordering::SeqCst);
        }
        loaded
    }

    fn open() -> Result<Self, SpeechError> {
        let library_error = |e: libloading::Error| SpeechError::Library {
            library: LIBRARY,
            reason: e.to_string(),
        };
        // SAFETY: loading eSpeak runs no initialisers with preconditions,
        // and each symbol is read with the signature of speak_lib.h.
        unsafe {
            let library = Library::new(LIBRARY).map_err(library_error)?;
            let initialize = *library
                .get::<InitializeFn>(b"espeak_Initialize\0")
                .map_err(library_error)?;
            let set_callback = *library
                .get::<SetCallbackFn>(b"espeak_SetSynthCallback\0")
                .map_err(library_error)?;
            let set_parameter = *library
                .get::<SetParameterFn>(b"espeak_SetParameter\0")
                .map_err(library_error)?;
            let synth = *library
                .get::<SynthFn>(b"espeak_Synth\0")
                .map_err(library_error)?;
            let set_voice = *library
                .get::<SetVoiceFn>(b"espeak_SetVoiceByName\0")
                .map_err(library_error)?;
            let terminate = *library
                .get::<TerminateFn>(b"espeak_Terminate\0")
                .map_err(library_error)?;
            let rate = initialize(
                AUDIO_OUTPUT_SYNCHRONOUS,
                BUFFER_MS,
                std::ptr::null(),
                INITIALIZE_DONT_EXIT,
            );
            let sample_rate = u32::try_from(rate).map_err(|_| SpeechError::EngineInit)?;
            if sample_rate == 0 {
                return Err(SpeechError::EngineInit);
            }
            set_callback(Some(on_samples));
            set_parameter(PARAM_RATE, RATE_WPM, 0);
            Ok(Self {
                synth,
                set_voice,
                terminate,
                sample_rate,
                voice: None,
                _library: library,
                _not_send: PhantomData,
            })
        }
    }

    /// The eSpeak voice for a language: US English, Latin American Spanish.
    pub fn voice_name(language: Language) -> &'static str {
        match language {
            Language::En => "en-us",
            Language::Es => "es-419",
        }
    }

    fn select_voice(&mut self, language: Language) -> Result<(), SpeechError> {
        if self.voice == Some(language) {
            return Ok(());
        }
        let name = Self::voice_name(language);
        let c_name = CString::new(name).map_err(|_| SpeechError::Voice(name))?;
        // SAFETY: a NUL-terminated name that outlives the call.
        let code = unsafe { (self.set_voice)(c_name.as_ptr()) };
        if code != 0 {
            return Err(SpeechError::Voice(name));
        }
        self.voice = Some(language);
        Ok(())
    }
}

impl Synthesizer for Espeak {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn synthesize(
        &mut self,
        text: &str,
        language: Language,
        out: &mut dyn FnMut(&[i16]) -> bool,
    ) -> Result<(), SpeechError> {
        self.select_voice(language)?;
        let c_text = CString::new(text).map_err(|_| SpeechError::NulInText)?;
        let size = c_text.as_bytes_with_nul().len();
        let mut output: Output<'_> = out;
        let previous = OUTPUT.with(|o| o.replace((&raw mut output).cast::<c_void>()));
        // SAFETY: synchronous mode calls `on_samples` on this thread only
        // while `espeak_Synth` runs, when `output` and `c_text` are alive.
        let code = unsafe {
            (self.synth)(
                c_text.as_ptr().cast::<c_void>(),
                size,
                0,
                POS_CHARACTER,
                0,
                SYNTH_FLAGS,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        OUTPUT.with(|o| o.set(previous));
        if code != 0 {
            return Err(SpeechError::Synth(code));
        }
        Ok(())
    }
}

impl Drop for Espeak {
    fn drop(&mut self) {
        // SAFETY: the engine was initialized by `open`; nothing else uses it.
        unsafe {
            (self.terminate)();
        }
        IN_USE.store(false, Ordering::SeqCst);
    }
}
