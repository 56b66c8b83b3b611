//! Speech output for blind and low-vision patients: what an utterance is,
//! who may hear it, the patient's volume, and the speaker thread that
//! synthesizes and plays utterances off the UI thread.
//!
//! The pieces are traits so that tests run without a sound card: a
//! [`Synthesizer`] turns text into PCM (eSpeak NG in [`espeak`]), an
//! [`AudioSink`] plays it (ALSA, WAV files or nowhere, in [`sink`]).
//!
//! **Privacy invariant:** an utterance that carries patient data, even
//! masked, is marked [`Audience::PrivateListening`], and the speaker drops
//! it while the audio goes to a loudspeaker. What the loudspeaker says
//! instead (how to hear it privately) is marked
//! [`Audience::LoudspeakerOnly`], and private listening drops that.

pub mod espeak;
pub mod jack;
pub mod script;
pub mod sink;
pub mod speaker;

pub use sink::{AlsaSink, AudioSink, Clip, MemorySink, NullSink, Paced, WavSink};
pub use speaker::{Speaker, SpeakerStatus};

use crate::domain::Language;

/// Errors of the speech engine and audio output. None carries the text
/// being spoken, which may hold patient data.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// A shared library (the engine or ALSA) could not be opened.
    #[error("cannot load {library}: {reason}")]
    Library {
        /// The library's file name.
        library: &'static str,
        /// The loader's message.
        reason: String,
    },
    /// The engine is already running in this process; it has global state.
    #[error("the speech engine is already in use in this process")]
    EngineInUse,
    /// The engine failed to start, for example without its data files.
    #[error("the speech engine failed to start (is espeak-ng-data installed?)")]
    EngineInit,
    /// The engine has no voice for a language.
    #[error("the speech engine has no voice {0:?}")]
    Voice(&'static str),
    /// The engine refused to synthesize, with its error code.
    #[error("the speech engine failed with code {0}")]
    Synth(i32),
    /// Text with a NUL byte cannot reach the engine.
    #[error("an utterance contains a NUL character")]
    NulInText,
    /// The audio device failed.
    #[error("audio output failed: {0}")]
    Audio(String),
    /// A WAV file could not be written or read.
    #[error("WAV file {path}: {reason}")]
    Wav {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// Who may hear an utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Prompts with no patient data: safe through a loudspeaker.
    Anyone,
    /// Patient data, even masked: only through headphones or a handset.
    PrivateListening,
    /// Said only through a loudspeaker, in place of what it withholds:
    /// how to hear that privately. Headphones and a handset drop it.
    LoudspeakerOnly,
}

/// Where the kiosk's audio goes right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Route {
    /// A loudspeaker the whole lobby hears.
    #[default]
    Loudspeaker,
    /// Headphones or a handset only the patient hears.
    Private,
}

impl Route {
    /// Whether an utterance for `audience` may be played on this route.
    pub fn allows(self, audience: Audience) -> bool {
        match audience {
            Audience::Anyone => true,
            Audience::PrivateListening => self == Route::Private,
            Audience::LoudspeakerOnly => self == Route::Loudspeaker,
        }
    }
}

/// One thing to say, in the session's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utterance {
    /// The words, as plain text (no markup).
    pub text: String,
    /// The voice to use.
    pub language: Language,
    /// Who may hear it.
    pub audience: Audience,
}

impl Utterance {
    /// A prompt anyone may hear.
    pub fn prompt(text: impl Into<String>, language: Language) -> Self {
        Self {
            text: text.into(),
            language,
            audience: Audience::Anyone,
        }
    }

    /// Words that carry patient data.
    pub fn private(text: impl Into<String>, language: Language) -> Self {
        Self {
            text: text.into(),
            language,
            audience: Audience::PrivateListening,
        }
    }

    /// Words for a loudspeaker only, in place of what it withholds.
    pub fn loudspeaker_only(text: impl Into<String>, language: Language) -> Self {
        Self {
            text: text.into(),
            language,
            audience: Audience::LoudspeakerOnly,
        }
    }
}

/// The patient's volume, in decibels relative to the engine's full level.
///
/// The range is 30 dB in 3 dB steps (Section 508 §402.3.2 asks at least
/// 20 dB of user control). The absolute level a listener hears is set
/// once per kiosk on the sound card's mixer (docs/DEPLOY.md); this is the
/// patient's adjustment on top of it, reset after every session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Volume(i8);

impl Volume {
    /// The quietest setting.
    pub const MIN: Volume = Volume(-30);
    /// The loudest setting: the engine's samples unchanged.
    pub const MAX: Volume = Volume(0);
    /// Where every session starts.
    pub const DEFAULT: Volume = Volume(-9);
    /// One press of volume up or down.
    pub const STEP_DB: i8 = 3;

    /// The setting nearest `db`, within the range.
    pub fn from_db(db: i8) -> Volume {
        Volume(db.clamp(Self::MIN.0, Self::MAX.0))
    }

    /// The setting in dB (negative is quieter).
    pub fn db(self) -> i8 {
        self.0
    }

    /// One step louder, stopping at [`Volume::MAX`].
    pub fn up(self) -> Volume {
        Volume(self.0.saturating_add(Self::STEP_DB).min(Self::MAX.0))
    }

    /// One step quieter, stopping at [`Volume::MIN`].
    pub fn down(self) -> Volume {
        Volume(self.0.saturating_sub(Self::STEP_DB).max(Self::MIN.0))
    }

    /// The linear factor applied to samples.
    pub fn gain(self) -> f32 {
        10f32.powf(f32::from(self.0) / 20.0)
    }

    /// Scales `samples` in place by this volume.
    pub fn apply(self, samples: &mut [i16]) {
        if self == Volume::MAX {
            return;
        }
        let gain = self.gain();
        for s in samples {
            // |gain| <= 1, so the product always fits in i16.
            *s = (f32::from(*s) * gain).round() as i16;
        }
    }
}

impl Default for Volume {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Turns text into 16-bit mono PCM. Lives on the speaker thread.
pub trait Synthesizer {
    /// Samples per second of what [`Synthesizer::synthesize`] produces.
    fn sample_rate(&self) -> u32;

    /// Synthesizes `text` with `language`'s voice, handing PCM to `out` as
    /// it is made. `out` returns `false` to stop synthesis early.
    fn synthesize(
        &mut self,
        text: &str,
        language: Language,
        out: &mut dyn FnMut(&[i16]) -> bool,
    ) -> Result<(), SpeechError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_spans_thirty_decibels_in_three_decibel_steps() {
        let mut v = Volume::DEFAULT;
        let mut ups = 0;
        while v != Volume::MAX {
            v = v.up();
            ups += 1;
        }
        assert_eq!(ups, 3);
        assert_eq!(v.up(), Volume::MAX, "stops at the top");
        let mut downs = 0;
        while v != Volume::MIN {
            v = v.down();
            downs += 1;
        }
        assert_eq!(downs, 10);
        assert_eq!(v.down(), Volume::MIN, "stops at the bottom");
        assert!(i32::from(Volume::MAX.db()) - i32::from(Volume::MIN.db()) >= 20);
    }

    #[test]
    fn volume_scales_samples_by_its_decibels() {
        let mut s = [10_000i16, -10_000, i16::MAX, i16::MIN];
        Volume::MAX.apply(&mut s);
        assert_eq!(s, [10_000, -10_000, i16::MAX, i16::MIN]);
        let mut s = [10_000i16, -10_000];
        Volume(-6).apply(&mut s);
        // -6 dB is about half.
        assert_eq!(s, [5_012, -5_012]);
        let mut s = [i16::MIN, i16::MAX];
        Volume::MIN.apply(&mut s);
        assert_eq!(s, [-1_036, 1_036]);
    }

    #[test]
    fn a_loudspeaker_plays_only_prompts_without_patient_data() {
        assert!(Route::Loudspeaker.allows(Audience::Anyone));
        assert!(!Route::Loudspeaker.allows(Audience::PrivateListening));
        assert!(Route::Private.allows(Audience::Anyone));
        assert!(Route::Private.allows(Audience::PrivateListening));
        // What the loudspeaker says in place of withheld words is not
        // repeated in private, where those words are heard.
        assert!(Route::Loudspeaker.allows(Audience::LoudspeakerOnly));
        assert!(!Route::Private.allows(Audience::LoudspeakerOnly));
    }
}
