//! Speech through the real engine: eSpeak NG (Debian `libespeak-ng1`,
//! installed by scripts/test) synthesizing prompts in English and Spanish
//! into WAV files.

use std::sync::Mutex;
use std::time::Duration;

use checkin_kiosk::domain::Language;
use checkin_kiosk::kiosk::speech::espeak::Espeak;
use checkin_kiosk::kiosk::speech::sink::read_wav;
use checkin_kiosk::kiosk::speech::{
    AudioSink, Route, Speaker, SpeechError, Synthesizer, Utterance, Volume, WavSink,
    speaker::EngineFactory,
};

/// The engine has global state: one test at a time uses it.
pub(super) static ENGINE: Mutex<()> = Mutex::new(());

fn espeak() -> EngineFactory {
    Box::new(|| Ok(Box::new(Espeak::load()?) as Box<dyn Synthesizer>))
}

/// Takes as long as a sound card would to play what it is given, ten
/// times faster: the engine itself runs far ahead of real time.
struct Paced(WavSink, u32);

impl AudioSink for Paced {
    fn begin(&mut self, sample_rate: u32) -> Result<(), SpeechError> {
        self.1 = sample_rate;
        self.0.begin(sample_rate)
    }
    fn write(&mut self, samples: &[i16]) -> Result<(), SpeechError> {
        let secs = samples.len() as f64 / f64::from(self.1.max(1)) / 10.0;
        std::thread::sleep(Duration::from_secs_f64(secs));
        self.0.write(samples)
    }
    fn finish(&mut self) -> Result<(), SpeechError> {
        self.0.finish()
    }
    fn stop(&mut self) {
        self.0.stop();
    }
}

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn prompts_in_english_and_spanish_become_real_speech() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let speaker = Speaker::start(espeak(), Box::new(WavSink::new(dir.path())), Route::Private);
    speaker.set_volume(Volume::MAX);
    speaker.say(Utterance::prompt(
        "Welcome. Scan your check-in pass, or press Enter to use your date of birth.",
        Language::En,
    ));
    assert!(speaker.wait_until_quiet(WAIT));
    speaker.say(Utterance::prompt(
        "Bienvenido. Escanee su pase, o pulse Entrar para usar su fecha de nacimiento.",
        Language::Es,
    ));
    assert!(speaker.wait_until_quiet(WAIT));
    let status = speaker.status();
    assert_eq!(status.engine_error, None, "engine failed: {status:?}");
    assert_eq!(status.finished, 2, "{status:?}");

    for name in ["0001.wav", "0002.wav"] {
        let clip = read_wav(&dir.path().join(name)).unwrap();
        assert_eq!(clip.sample_rate, 22_050, "{name}");
        // A dozen words at 160 words a minute: a few seconds.
        let secs = clip.seconds();
        assert!((2.0..15.0).contains(&secs), "{name}: {secs:.2} s");
        assert!(clip.rms() > 300.0, "{name}: silent ({:.0})", clip.rms());
    }
}

#[test]
fn the_real_engine_stops_mid_sentence_for_a_newer_utterance() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let sink = Paced(WavSink::new(dir.path()), 0);
    let speaker = Speaker::start(espeak(), Box::new(sink), Route::Private);
    assert!(speaker.wait_until_quiet(WAIT));
    assert_eq!(speaker.status().engine_error, None);
    let long = "one two three four five six seven eight nine ten ".repeat(20);
    speaker.say(Utterance::prompt(long, Language::En));
    std::thread::sleep(Duration::from_millis(200));
    speaker.say(Utterance::prompt("Stop.", Language::En));
    assert!(speaker.wait_until_quiet(WAIT));
    let status = speaker.status();
    assert_eq!((status.interrupted, status.finished), (1, 1), "{status:?}");
    let cut = read_wav(&dir.path().join("0001-stopped.wav")).unwrap();
    // Two hundred words would take over a minute.
    assert!(cut.seconds() < 30.0, "{:.1} s", cut.seconds());
    let stop = read_wav(&dir.path().join("0002.wav")).unwrap();
    assert!(stop.seconds() < 3.0);
}

#[test]
fn the_config_sends_speech_to_a_sound_card_nowhere_or_wav_files() {
    use checkin_kiosk::config::{SpeechDevice, parse_kiosk};
    use std::path::Path;

    let file = Path::new("/etc/checkin-kiosk/kiosk.toml");
    // The device read, or the error's message.
    let parse = |device: &str| {
        parse_kiosk(
            &format!("[kiosk]\nname = \"Lobby 1\"\n[speech]\ndevice = {device:?}\n"),
            file,
        )
        .map(|c| c.speech.device)
        .map_err(|e| e.to_string())
    };
    let device = |written: &str| parse(written).unwrap();
    assert_eq!(device("default"), SpeechDevice::Alsa("default".into()));
    assert_eq!(device("null"), SpeechDevice::Null);
    assert_eq!(
        device("wav:speech"),
        SpeechDevice::Wav("/etc/checkin-kiosk/speech".into())
    );
    assert_eq!(
        device("wav:/var/tmp/out"),
        SpeechDevice::Wav("/var/tmp/out".into())
    );
    let err = parse("wav:").unwrap_err();
    assert!(
        err.contains("kiosk.toml:4:10: `speech.device`: expected a directory after \"wav:\""),
        "{err}"
    );
    let err = parse("hw:0;reboot").unwrap_err();
    assert!(err.contains("`speech.device`"), "{err}");
}
