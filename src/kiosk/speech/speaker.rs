//! The speaker thread: takes utterances from the UI thread without ever
//! blocking it, synthesizes and plays them one at a time, and stops the
//! current one as soon as a newer command arrives.

use std::sync::atomic::{AtomicBool, AtomicI8, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Audience, AudioSink, Route, SpeechError, Synthesizer, Utterance, Volume};

/// What the speaker has done, for `kiosk status`, tests and benchmarks.
/// Counts only: it never holds spoken text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpeakerStatus {
    /// Utterances played to the end.
    pub finished: u64,
    /// Utterances cut off by a newer command.
    pub interrupted: u64,
    /// Utterances with patient data not played through a loudspeaker.
    pub withheld: u64,
    /// Utterances the engine or the device failed on.
    pub failed: u64,
    /// Why the engine is unavailable, if it is.
    pub engine_error: Option<String>,
}

enum Command {
    Say(u64, Utterance),
    Repeat(u64),
    Quiet(mpsc::Sender<()>),
}

/// The state the UI thread and the speaker thread share.
struct Shared {
    /// Bumped by every command that replaces what is playing.
    generation: AtomicU64,
    volume: AtomicI8,
    private: AtomicBool,
    status: Mutex<SpeakerStatus>,
}

impl Shared {
    fn route(&self) -> Route {
        if self.private.load(Ordering::SeqCst) {
            Route::Private
        } else {
            Route::Loudspeaker
        }
    }

    fn volume(&self) -> Volume {
        Volume::from_db(self.volume.load(Ordering::SeqCst))
    }

    fn count(&self, f: impl FnOnce(&mut SpeakerStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }
}

/// Makes the engine on the speaker thread; eSpeak must stay on the thread
/// that initialized it.
pub type EngineFactory = Box<dyn FnOnce() -> Result<Box<dyn Synthesizer>, SpeechError> + Send>;

/// The UI thread's handle on speech. Every method returns at once.
pub struct Speaker {
    tx: Option<Sender<Command>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Speaker {
    /// Starts the speaker thread with an engine made by `engine` and audio
    /// going to `sink` over `route`. If the engine fails to start, the
    /// speaker stays silent and reports why in [`Speaker::status`].
    pub fn start(engine: EngineFactory, sink: Box<dyn AudioSink>, route: Route) -> Self {
        let shared = Arc::new(Shared {
            generation: AtomicU64::new(0),
            volume: AtomicI8::new(Volume::DEFAULT.db()),
            private: AtomicBool::new(route == Route::Private),
            status: Mutex::new(SpeakerStatus::default()),
        });
        let (tx, rx) = mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("speech".into())
            .spawn(move || run(engine, sink, rx, &thread_shared))
            .ok();
        Self {
            tx: Some(tx),
            shared,
            thread,
        }
    }

    /// Says `utterance`, cutting off whatever is playing.
    pub fn say(&self, utterance: Utterance) {
        let generation = self.interrupt();
        self.send(Command::Say(generation, utterance));
    }

    /// Says `utterances` one after another, cutting off whatever is
    /// playing; a later command cuts these off in turn.
    pub fn say_all(&self, utterances: Vec<Utterance>) {
        let generation = self.interrupt();
        for utterance in utterances {
            self.send(Command::Say(generation, utterance));
        }
    }

    /// Says the last utterance again.
    pub fn repeat(&self) {
        let generation = self.interrupt();
        self.send(Command::Repeat(generation));
    }

    /// Stops the current utterance now. Returns the new generation.
    pub fn interrupt(&self) -> u64 {
        self.shared.generation.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Sets the volume; it applies to the utterance playing too.
    pub fn set_volume(&self, volume: Volume) {
        self.shared.volume.store(volume.db(), Ordering::SeqCst);
    }

    /// The current volume.
    pub fn volume(&self) -> Volume {
        self.shared.volume()
    }

    /// Sets where audio goes. Moving to a loudspeaker cuts off an
    /// utterance with patient data at once.
    pub fn set_route(&self, route: Route) {
        self.shared
            .private
            .store(route == Route::Private, Ordering::SeqCst);
    }

    /// Where audio goes now.
    pub fn route(&self) -> Route {
        self.shared.route()
    }

    /// What the speaker has done so far.
    pub fn status(&self) -> SpeakerStatus {
        self.shared
            .status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Waits until every command sent so far has been handled, or
    /// `timeout` passes; false on timeout. For tests and tools, never the
    /// UI thread.
    pub fn wait_until_quiet(&self, timeout: Duration) -> bool {
        let (tx, rx) = mpsc::channel();
        self.send(Command::Quiet(tx));
        rx.recv_timeout(timeout).is_ok()
    }

    fn send(&self, command: Command) {
        if let Some(tx) = &self.tx {
            // A speaker thread that died leaves the kiosk silent, not stuck.
            let _ = tx.send(command);
        }
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        self.interrupt();
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    engine: EngineFactory,
    mut sink: Box<dyn AudioSink>,
    rx: Receiver<Command>,
    shared: &Shared,
) {
    let mut engine = match engine() {
        Ok(engine) => Some(engine),
        Err(err) => {
            shared.count(|s| s.engine_error = Some(err.to_string()));
            None
        }
    };
    let mut last: Option<Utterance> = None;
    while let Ok(command) = rx.recv() {
        let (generation, utterance) = match command {
            Command::Quiet(done) => {
                let _ = done.send(());
                continue;
            }
            Command::Say(generation, utterance) => {
                last = Some(utterance.clone());
                (generation, utterance)
            }
            Command::Repeat(generation) => match &last {
                Some(u) => (generation, u.clone()),
                None => continue,
            },
        };
        if shared.generation.load(Ordering::SeqCst) != generation {
            // A newer command is already queued.
            shared.count(|s| s.interrupted += 1);
            continue;
        }
        let Some(engine) = engine.as_deref_mut() else {
            continue;
        };
        play(engine, sink.as_mut(), shared, generation, &utterance);
    }
}

/// Synthesizes one utterance into the sink, stopping when a newer command
/// arrives or the route no longer allows it.
fn play(
    engine: &mut dyn Synthesizer,
    sink: &mut dyn AudioSink,
    shared: &Shared,
    generation: u64,
    utterance: &Utterance,
) {
    if !shared.route().allows(utterance.audience) {
        if utterance.audience == Audience::PrivateListening {
            shared.count(|s| s.withheld += 1);
        }
        return;
    }
    let current = || {
        shared.generation.load(Ordering::SeqCst) == generation
            && shared.route().allows(utterance.audience)
    };
    if let Err(err) = sink.begin(engine.sample_rate()) {
        shared.count(|s| s.failed += 1);
        tracing::warn!(error = %err, "speech: audio device");
        return;
    }
    let mut device_error = None;
    let mut chunk = Vec::new();
    let result = engine.synthesize(&utterance.text, utterance.language, &mut |samples| {
        if !current() {
            return false;
        }
        chunk.clear();
        chunk.extend_from_slice(samples);
        shared.volume().apply(&mut chunk);
        match sink.write(&chunk) {
            Ok(()) => true,
            Err(err) => {
                device_error = Some(err);
                false
            }
        }
    });
    if let Some(err) = device_error.or(result.err()) {
        sink.stop();
        shared.count(|s| s.failed += 1);
        tracing::warn!(error = %err, "speech: synthesis");
    } else if current() {
        if let Err(err) = sink.finish() {
            shared.count(|s| s.failed += 1);
            tracing::warn!(error = %err, "speech: audio device");
        } else {
            shared.count(|s| s.finished += 1);
        }
    } else {
        sink.stop();
        shared.count(|s| s.interrupted += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Language;
    use crate::kiosk::speech::MemorySink;
    use std::sync::mpsc::SyncSender;

    /// Produces one chunk of 100 samples per character, pausing on a
    /// gate before each chunk so tests control the pace.
    struct FakeEngine {
        gate: Option<Arc<Mutex<Receiver<()>>>>,
        chunks_sent: SyncSender<usize>,
    }

    impl Synthesizer for FakeEngine {
        fn sample_rate(&self) -> u32 {
            8_000
        }

        fn synthesize(
            &mut self,
            text: &str,
            language: Language,
            out: &mut dyn FnMut(&[i16]) -> bool,
        ) -> Result<(), SpeechError> {
            let level = if language == Language::Es {
                2_000
            } else {
                1_000
            };
            for (i, _) in text.chars().enumerate() {
                if let Some(gate) = &self.gate {
                    let _ = gate.lock().unwrap().recv();
                }
                let _ = self.chunks_sent.try_send(i);
                if !out(&[level; 100]) {
                    return Ok(());
                }
            }
            Ok(())
        }
    }

    fn speaker(
        gated: bool,
        route: Route,
    ) -> (
        Speaker,
        MemorySink,
        Option<mpsc::Sender<()>>,
        Receiver<usize>,
    ) {
        let sink = MemorySink::new();
        let (gate_tx, gate_rx) = mpsc::channel();
        let gate = gated.then(|| Arc::new(Mutex::new(gate_rx)));
        let (chunks_tx, chunks_rx) = mpsc::sync_channel(1_000);
        let engine: EngineFactory = Box::new(move || {
            Ok(Box::new(FakeEngine {
                gate,
                chunks_sent: chunks_tx,
            }) as Box<dyn Synthesizer>)
        });
        let speaker = Speaker::start(engine, Box::new(sink.clone()), route);
        (speaker, sink, gated.then_some(gate_tx), chunks_rx)
    }

    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn utterances_play_in_order_at_the_current_volume() {
        let (speaker, sink, _, _) = speaker(false, Route::Loudspeaker);
        speaker.set_volume(Volume::MAX);
        speaker.say(Utterance::prompt("abc", Language::En));
        assert!(speaker.wait_until_quiet(WAIT));
        speaker.set_volume(Volume::MAX.down().down());
        speaker.say(Utterance::prompt("ab", Language::Es));
        assert!(speaker.wait_until_quiet(WAIT));
        let clips = sink.clips();
        assert_eq!(clips.len(), 2);
        assert_eq!(clips[0].samples.len(), 300);
        assert!(clips[0].samples.iter().all(|&s| s == 1_000));
        assert_eq!(clips[1].samples.len(), 200);
        // -6 dB on 2,000.
        assert!(clips[1].samples.iter().all(|&s| s == 1_002));
        assert_eq!(speaker.status().finished, 2);
    }

    #[test]
    fn a_new_utterance_cuts_off_the_one_playing() {
        let (speaker, sink, gate, chunks) = speaker(true, Route::Loudspeaker);
        let gate = gate.unwrap();
        speaker.say(Utterance::prompt("a long prompt", Language::En));
        gate.send(()).unwrap();
        assert_eq!(chunks.recv_timeout(WAIT), Ok(0), "first chunk made");
        speaker.say(Utterance::prompt("hi", Language::En));
        for _ in 0..3 {
            gate.send(()).unwrap();
        }
        assert!(speaker.wait_until_quiet(WAIT));
        let clips = sink.clips();
        assert_eq!(clips.len(), 2);
        assert!(clips[0].stopped, "the first was cut off");
        assert!(clips[0].samples.len() < 1_300);
        assert_eq!(clips[1].samples.len(), 200);
        assert!(!clips[1].stopped);
        let status = speaker.status();
        assert_eq!((status.finished, status.interrupted), (1, 1));
    }

    #[test]
    fn patient_data_is_withheld_from_a_loudspeaker_and_cut_when_headphones_go() {
        let (speaker, sink, gate, chunks) = speaker(true, Route::Loudspeaker);
        let gate = gate.unwrap();
        speaker.say(Utterance::private("Maria G.", Language::En));
        assert!(speaker.wait_until_quiet(WAIT));
        assert!(sink.clips().is_empty());
        assert_eq!(speaker.status().withheld, 1);

        speaker.set_route(Route::Private);
        speaker.repeat();
        gate.send(()).unwrap();
        assert_eq!(chunks.recv_timeout(WAIT), Ok(0));
        // Headphones unplugged mid-sentence.
        speaker.set_route(Route::Loudspeaker);
        gate.send(()).unwrap();
        assert!(speaker.wait_until_quiet(WAIT));
        let clips = sink.clips();
        assert_eq!(clips.len(), 1);
        assert!(clips[0].stopped);
        assert!(clips[0].samples.len() <= 100);
    }

    #[test]
    fn a_missing_engine_leaves_the_kiosk_silent_and_says_why() {
        let sink = MemorySink::new();
        let engine: EngineFactory = Box::new(|| Err(SpeechError::EngineInit));
        let speaker = Speaker::start(engine, Box::new(sink.clone()), Route::Private);
        speaker.say(Utterance::prompt("hello", Language::En));
        assert!(speaker.wait_until_quiet(WAIT));
        assert!(sink.clips().is_empty());
        let status = speaker.status();
        assert!(status.engine_error.unwrap().contains("espeak-ng-data"));
    }

    #[test]
    fn repeat_says_the_last_utterance_again() {
        let (speaker, sink, _, _) = speaker(false, Route::Private);
        speaker.repeat();
        assert!(speaker.wait_until_quiet(WAIT));
        assert!(sink.clips().is_empty(), "nothing to repeat yet");
        speaker.say(Utterance::prompt("abcd", Language::En));
        speaker.repeat();
        assert!(speaker.wait_until_quiet(WAIT));
        let clips = sink.clips();
        // The first may be cut off by the repeat; the repeat plays whole.
        assert_eq!(clips.last().unwrap().samples.len(), 400);
        assert!(!clips.last().unwrap().stopped);
    }
}
