//! Speech latency through the real engine (eSpeak NG, Debian
//! `libespeak-ng1`): the time from the UI thread's `Speaker::say` (what a
//! keypad press triggers) to the first audio sample reaching the sink,
//! with the previous utterance still playing, so each sample includes the
//! interrupt. The sink is paced like a sound card, so the engine cannot
//! run ahead. Target: ≤ 150 ms p99.
//!
//! Run: `cargo bench --bench speech`

use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use checkin_kiosk::domain::Language;
use checkin_kiosk::kiosk::speech::espeak::Espeak;
use checkin_kiosk::kiosk::speech::speaker::EngineFactory;
use checkin_kiosk::kiosk::speech::{
    AudioSink, Route, Speaker, SpeechError, Synthesizer, Utterance,
};

/// Utterances timed per language.
const SAMPLES: usize = 200;

/// Reports when each utterance's first samples arrive, and plays in real
/// time so the utterance before is still going when the next is asked.
struct FirstSample {
    tx: Sender<Instant>,
    rate: u32,
    started: bool,
}

impl AudioSink for FirstSample {
    fn begin(&mut self, sample_rate: u32) -> Result<(), SpeechError> {
        self.rate = sample_rate;
        self.started = false;
        Ok(())
    }
    fn write(&mut self, samples: &[i16]) -> Result<(), SpeechError> {
        if !self.started && !samples.is_empty() {
            self.started = true;
            let _ = self.tx.send(Instant::now());
        }
        let secs = samples.len() as f64 / f64::from(self.rate.max(1));
        std::thread::sleep(Duration::from_secs_f64(secs));
        Ok(())
    }
    fn finish(&mut self) -> Result<(), SpeechError> {
        Ok(())
    }
    fn stop(&mut self) {}
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let (tx, rx) = mpsc::channel();
    let engine: EngineFactory = Box::new(|| Ok(Box::new(Espeak::load()?) as Box<dyn Synthesizer>));
    let sink = FirstSample {
        tx,
        rate: 0,
        started: false,
    };
    let speaker = Speaker::start(engine, Box::new(sink), Route::Private);
    assert!(speaker.wait_until_quiet(Duration::from_secs(30)));
    if let Some(err) = speaker.status().engine_error {
        eprintln!("speech bench: {err}");
        std::process::exit(1);
    }
    let prompts = [
        (
            Language::En,
            "Enter your date of birth: two digits for the month.",
        ),
        (
            Language::Es,
            "Escriba su fecha de nacimiento: dos dígitos para el mes.",
        ),
    ];
    for (language, text) in prompts {
        let mut times = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let asked = Instant::now();
            speaker.say(Utterance::prompt(text, language));
            let first = rx.recv_timeout(Duration::from_secs(10)).expect("audio");
            times.push(first - asked);
            // Let it play a little, so the next request interrupts it.
            std::thread::sleep(Duration::from_millis(20));
        }
        times.sort();
        println!(
            "speech {}: say -> first sample over {SAMPLES}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            language.code(),
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
        );
    }
    let status = speaker.status();
    println!(
        "speech: finished {}, interrupted {}, failed {}",
        status.finished, status.interrupted, status.failed
    );
}
