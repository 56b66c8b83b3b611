//! Where synthesized speech goes: the sound card through ALSA (opened at
//! run time from `libasound.so.2`), WAV files, nowhere (`NullSink`), or
//! memory for tests; and `Paced`, which plays any of them at a sound
//! card's pace.

use std::ffi::{CStr, CString, c_char, c_int, c_long, c_uint, c_ulong, c_void};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libloading::Library;

use super::SpeechError;

/// Plays one utterance at a time: `begin`, any number of `write`s, then
/// `finish` (play to the end) or `stop` (cut off now).
pub trait AudioSink: Send {
    /// A new utterance starts, at `sample_rate` Hz, mono.
    fn begin(&mut self, sample_rate: u32) -> Result<(), SpeechError>;
    /// More samples of the utterance; may block while the device plays.
    fn write(&mut self, samples: &[i16]) -> Result<(), SpeechError>;
    /// The utterance is complete: let it play out.
    fn finish(&mut self) -> Result<(), SpeechError>;
    /// The utterance was interrupted: silence now.
    fn stop(&mut self);
}

/// One utterance as a sink received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clip {
    /// Samples per second.
    pub sample_rate: u32,
    /// The samples, mono.
    pub samples: Vec<i16>,
    /// Whether it was cut off by an interrupt.
    pub stopped: bool,
}

impl Clip {
    /// The clip's length in seconds.
    pub fn seconds(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }

    /// Root-mean-square level, 0 for silence, up to 32767.
    pub fn rms(&self) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let sum: f64 = self.samples.iter().map(|&s| f64::from(s).powi(2)).sum();
        (sum / self.samples.len() as f64).sqrt()
    }
}

/// Keeps every utterance in memory, shared with the test that reads it.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    clips: Arc<Mutex<Vec<Clip>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The utterances received so far, oldest first.
    pub fn clips(&self) -> Vec<Clip> {
        self.clips.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn with_current(&self, f: impl FnOnce(&mut Clip)) {
        if let Ok(mut clips) = self.clips.lock()
            && let Some(clip) = clips.last_mut()
        {
            f(clip);
        }
    }
}

impl AudioSink for MemorySink {
    fn begin(&mut self, sample_rate: u32) -> Result<(), SpeechError> {
        if let Ok(mut clips) = self.clips.lock() {
            clips.push(Clip {
                sample_rate,
                samples: Vec::new(),
                stopped: false,
            });
        }
        Ok(())
    }

    fn write(&mut self, samples: &[i16]) -> Result<(), SpeechError> {
        self.with_current(|c| c.samples.extend_from_slice(samples));
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SpeechError> {
        Ok(())
    }

    fn stop(&mut self) {
        self.with_current(|c| c.stopped = true);
    }
}

/// Writes each utterance to a numbered WAV file in a directory:
/// `0001.wav`, or `0001-stopped.wav` when it was interrupted.
#[derive(Debug)]
pub struct WavSink {
    dir: PathBuf,
    count: u32,
    current: Option<Clip>,
}

impl WavSink {
    /// Writes into `dir`, which must exist.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            count: 0,
            current: None,
        }
    }

    fn save(&mut self) -> Result<(), SpeechError> {
        let Some(clip) = self.current.take() else {
            return Ok(());
        };
        self.count += 1;
        let suffix = if clip.stopped { "-stopped" } else { "" };
        let path = self.dir.join(format!("{:04}{suffix}.wav", self.count));
        write_wav(&path, clip.sample_rate, &clip.samples)
    }
}

impl AudioSink for WavSink {
    fn begin(&mut self, sample_rate: u32) -> Result<(), SpeechError> {
        self.save()?;
        self.current = Some(Clip {
            sample_rate,
            samples: Vec::new(),
            stopped: false,
        });
        Ok(())
    }

    fn write(&mut self, samples: &[i16]) -> Result<(), SpeechError> {
        if let Some(c) = self.current.as_mut() {
            c.samples.extend_from_slice(samples);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SpeechError> {
        self.save()
    }

    fn stop(&mut self) {
        if let Some(c) = self.current.as_mut() {
            c.stopped = true;
        }
        // A failed write of a cut-off clip loses nothing a patient needs.
        let _ = self.save();
    }
}

/// Throws every sample away: speech on a machine with no sound card.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl AudioSink for NullSink {
    fn begin(&mut self, _sample_rate: u32) -> Result<(), SpeechError> {
        Ok(())
    }

    fn write(&mut self, _samples: &[i16]) -> Result<(), SpeechError> {
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SpeechError> {
        Ok(())
    }

    fn stop(&mut self) {}
}

/// Plays into another sink at the pace a sound card plays: a write blocks
/// while more than the device buffer ([`LATENCY_US`], as [`AlsaSink`]
/// asks of ALSA) is queued ahead of the listener, `finish` waits until
/// the utterance has played out, and `stop` drops what is queued. With a
/// [`NullSink`] or a [`WavSink`] inside, the speaker thread then runs as
/// it does on a kiosk with a sound card: utterances take their spoken
/// length, and a newer one cuts off the one playing.
#[derive(Debug)]
pub struct Paced<S> {
    inner: S,
    rate: u32,
    /// When everything written so far will have been heard.
    played_until: Option<Instant>,
}

impl<S: AudioSink> Paced<S> {
    /// Paces `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            rate: 0,
            played_until: None,
        }
    }

    /// The sink inside.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn buffer() -> Duration {
        Duration::from_micros(u64::from(LATENCY_US))
    }
}

impl<S: AudioSink> AudioSink for Paced<S> {
    fn begin(&mut self, sample_rate: u32) -> Result<(), SpeechError> {
        self.rate = sample_rate;
        self.inner.begin(sample_rate)
    }

    fn write(&mut self, samples: &[i16]) -> Result<(), SpeechError> {
        self.inner.write(samples)?;
        let now = Instant::now();
        let start = self.played_until.filter(|t| *t > now).unwrap_or(now);
        let length = samples.len() as f64 / f64::from(self.rate.max(1));
        let until = start + Duration::from_secs_f64(length);
        self.played_until = Some(until);
        // Like a full device buffer: wait until only the buffer is ahead.
        if let Some(wait) = until.checked_duration_since(now + Self::buffer()) {
            std::thread::sleep(wait);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SpeechError> {
        if let Some(wait) = self
            .played_until
            .take()
            .and_then(|t| t.checked_duration_since(Instant::now()))
        {
            std::thread::sleep(wait);
        }
        self.inner.finish()
    }

    fn stop(&mut self) {
        self.played_until = None;
        self.inner.stop();
    }
}

/// Writes 16-bit mono PCM as a WAV file.
pub fn write_wav(path: &Path, sample_rate: u32, samples: &[i16]) -> Result<(), SpeechError> {
    let wav_error = |reason: String| SpeechError::Wav {
        path: path.display().to_string(),
        reason,
    };
    let data_len = u32::try_from(samples.len() * 2).map_err(|_| wav_error("too long".into()))?;
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&sample_rate.to_le_bytes());
    bytes.extend_from_slice(&(sample_rate * 2).to_le_bytes()); // bytes per second
    bytes.extend_from_slice(&2u16.to_le_bytes()); // block align
    bytes.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, bytes).map_err(|e| wav_error(e.to_string()))
}

/// Reads a 16-bit mono PCM WAV file as [`write_wav`] writes it.
pub fn read_wav(path: &Path) -> Result<Clip, SpeechError> {
    let wav_error = |reason: &str| SpeechError::Wav {
        path: path.display().to_string(),
        reason: reason.to_string(),
    };
    let bytes = std::fs::read(path).map_err(|e| wav_error(&e.to_string()))?;
    let u16_at = |i: usize| {
        bytes
            .get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |i: usize| {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..16) != Some(b"WAVEfmt ") {
        return Err(wav_error("not a WAV file"));
    }
    if u16_at(20) != Some(1) || u16_at(22) != Some(1) || u16_at(34) != Some(16) {
        return Err(wav_error("not 16-bit mono PCM"));
    }
    let sample_rate = u32_at(24).ok_or_else(|| wav_error("truncated header"))?;
    if bytes.get(36..40) != Some(b"data") {
        return Err(wav_error("no data chunk"));
    }
    let len = u32_at(40).ok_or_else(|| wav_error("truncated header"))? as usize;
    let data = bytes
        .get(44..44 + len)
        .ok_or_else(|| wav_error("truncated data"))?;
    let samples = data
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let stopped = path
        .file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|s| s.ends_with("-stopped"));
    Ok(Clip {
        sample_rate,
        samples,
        stopped,
    })
}

/// The ALSA library, loaded at run time.
pub const ALSA_LIBRARY: &str = "libasound.so.2";

const SND_PCM_STREAM_PLAYBACK: c_int = 0;
const SND_PCM_FORMAT_S16_LE: c_int = 2;
const SND_PCM_ACCESS_RW_INTERLEAVED: c_int = 3;
/// The device buffer: short, so an interrupt silences quickly.
pub const LATENCY_US: c_uint = 80_000;

type PcmOpenFn = unsafe extern "C" fn(*mut *mut c_void, *const c_char, c_int, c_int) -> c_int;
type PcmSetParamsFn =
    unsafe extern "C" fn(*mut c_void, c_int, c_int, c_uint, c_uint, c_int, c_uint) -> c_int;
type PcmWriteFn = unsafe extern "C" fn(*mut c_void, *const c_void, c_ulong) -> c_long;
type PcmRecoverFn = unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int;
type PcmFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type StrErrorFn = unsafe extern "C" fn(c_int) -> *const c_char;

struct AlsaFns {
    open: PcmOpenFn,
    set_params: PcmSetParamsFn,
    writei: PcmWriteFn,
    recover: PcmRecoverFn,
    drain: PcmFn,
    drop_pcm: PcmFn,
    close: PcmFn,
    strerror: StrErrorFn,
}

/// Plays through an ALSA PCM device ("default" follows PipeWire or the
/// card's own device, as configured on the kiosk).
pub struct AlsaSink {
    fns: AlsaFns,
    device: CString,
    pcm: *mut c_void,
    rate: u32,
    _library: Library,
}

// SAFETY: the PCM handle is used by one thread at a time (the speaker's),
// which is all ALSA asks of a handle.
unsafe impl Send for AlsaSink {}

impl AlsaSink {
    /// Loads ALSA to play on `device` (for example `"default"`). The
    /// device is opened at the first utterance.
    pub fn new(device: &str) -> Result<Self, SpeechError> {
        let library_error = |e: libloading::Error| SpeechError::Library {
            library: ALSA_LIBRARY,
            reason: e.to_string(),
        };
        let device =
            CString::new(device).map_err(|_| SpeechError::Audio("device name has NUL".into()))?;
        // SAFETY: each symbol is read with the signature of alsa/pcm.h.
        unsafe {
            let library = Library::new(ALSA_LIBRARY).map_err(library_error)?;
            let fns = AlsaFns {
                open: *library.get(b"snd_pcm_open\0").map_err(library_error)?,
                set_params: *library
                    .get(b"snd_pcm_set_params\0")
                    .map_err(library_error)?,
                writei: *library.get(b"snd_pcm_writei\0").map_err(library_error)?,
                recover: *library.get(b"snd_pcm_recover\0").map_err(library_error)?,
                drain: *library.get(b"snd_pcm_drain\0").map_err(library_error)?,
                drop_pcm: *library.get(b"snd_pcm_drop\0").map_err(library_error)?,
                close: *library.get(b"snd_pcm_close\0").map_err(library_error)?,
                strerror: *library.get(b"snd_strerror\0").map_err(library_error)?,
            };
            Ok(Self {
                fns,
                device,
                pcm: std::ptr::null_mut(),
                rate: 0,
                _library: library,
            })
        }
    }

    fn error(&self, code: c_int) -> SpeechError {
        // SAFETY: snd_strerror returns a static string for any code.
        let text = unsafe { CStr::from_ptr((self.fns.strerror)(code)) };
        SpeechError::Audio(text.to_string_lossy().into_owned())
    }

    fn close(&mut self) {
        if !self.pcm.is_null() {
            // SAFETY: `pcm` was opened by `begin` and is closed once.
            unsafe {
                (self.fns.close)(self.pcm);
            }
            self.pcm = std::ptr::null_mut();
        }
    }
}

impl AudioSink for AlsaSink {
    fn begin(&mut self, sample_rate: u32) -> Result<(), SpeechError> {
        if !self.pcm.is_null() && self.rate == sample_rate {
            return Ok(());
        }
        self.close();
        let mut pcm = std::ptr::null_mut();
        // SAFETY: out-pointer and NUL-terminated device name, per alsa/pcm.h.
        let code = unsafe {
            (self.fns.open)(
                &raw mut pcm,
                self.device.as_ptr(),
                SND_PCM_STREAM_PLAYBACK,
                0,
            )
        };
        if code < 0 {
            return Err(self.error(code));
        }
        self.pcm = pcm;
        self.rate = sample_rate;
        // SAFETY: `pcm` is open.
        let code = unsafe {
            (self.fns.set_params)(
                pcm,
                SND_PCM_FORMAT_S16_LE,
                SND_PCM_ACCESS_RW_INTERLEAVED,
                1,
                sample_rate,
                1,
                LATENCY_US,
            )
        };
        if code < 0 {
            let err = self.error(code);
            self.close();
            return Err(err);
        }
        Ok(())
    }

    fn write(&mut self, mut samples: &[i16]) -> Result<(), SpeechError> {
        while !samples.is_empty() && !self.pcm.is_null() {
            // SAFETY: `samples` holds `len` mono frames and outlives the call.
            let written = unsafe {
                (self.fns.writei)(
                    self.pcm,
                    samples.as_ptr().cast::<c_void>(),
                    samples.len() as c_ulong,
                )
            };
            if written < 0 {
                let code = c_int::try_from(written).unwrap_or(c_int::MIN);
                // SAFETY: `pcm` is open; recover handles under-runs.
                if unsafe { (self.fns.recover)(self.pcm, code, 1) } < 0 {
                    return Err(self.error(code));
                }
                continue;
            }
            let n = usize::try_from(written).unwrap_or(0).min(samples.len());
            samples = &samples[n..];
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SpeechError> {
        if self.pcm.is_null() {
            return Ok(());
        }
        // SAFETY: `pcm` is open; drain plays what is queued, then stops.
        let code = unsafe { (self.fns.drain)(self.pcm) };
        // The next utterance reopens the device in a clean state.
        self.close();
        if code < 0 {
            return Err(self.error(code));
        }
        Ok(())
    }

    fn stop(&mut self) {
        if !self.pcm.is_null() {
            // SAFETY: `pcm` is open; drop discards what is queued.
            unsafe {
                (self.fns.drop_pcm)(self.pcm);
            }
        }
        self.close();
    }
}

impl Drop for AlsaSink {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let samples: Vec<i16> = (0..1000).map(|i| (i * 37 % 2000 - 1000) as i16).collect();
        write_wav(&path, 22_050, &samples).unwrap();
        let clip = read_wav(&path).unwrap();
        assert_eq!(clip.sample_rate, 22_050);
        assert_eq!(clip.samples, samples);
        assert!(!clip.stopped);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 44 + 2000);
    }

    #[test]
    fn odd_wav_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.wav");
        std::fs::write(&path, b"RIFF....WAVEfmt short").unwrap();
        assert!(matches!(read_wav(&path), Err(SpeechError::Wav { .. })));
        std::fs::write(&path, b"hello").unwrap();
        assert!(read_wav(&path).is_err());
    }

    #[test]
    fn the_wav_sink_numbers_clips_and_marks_interrupted_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = WavSink::new(dir.path());
        sink.begin(16_000).unwrap();
        sink.write(&[1, 2, 3]).unwrap();
        sink.finish().unwrap();
        sink.begin(16_000).unwrap();
        sink.write(&[4]).unwrap();
        sink.stop();
        let first = read_wav(&dir.path().join("0001.wav")).unwrap();
        assert_eq!(first.samples, [1, 2, 3]);
        let second = read_wav(&dir.path().join("0002-stopped.wav")).unwrap();
        assert!(second.stopped);
        assert_eq!(second.samples, [4]);
    }

    #[test]
    fn a_paced_sink_takes_as_long_as_the_audio_and_stops_at_once() {
        let memory = MemorySink::new();
        let mut sink = Paced::new(memory.clone());
        let started = Instant::now();
        sink.begin(10_000).unwrap();
        // 0.3 s of audio in 0.1 s chunks: the writes return once no more
        // than the 80 ms buffer is ahead, and finish plays out the rest.
        for _ in 0..3 {
            sink.write(&[7; 1_000]).unwrap();
        }
        let written = started.elapsed();
        assert!(written >= Duration::from_millis(200), "{written:?}");
        sink.finish().unwrap();
        let played = started.elapsed();
        assert!(played >= Duration::from_millis(300), "{played:?}");
        assert_eq!(memory.clips()[0].samples.len(), 3_000);
        assert_eq!(sink.played_until, None, "nothing is queued after finish");

        // Stopping drops what is queued: the next utterance starts now.
        sink.begin(10_000).unwrap();
        sink.write(&[7; 500]).unwrap();
        assert!(sink.played_until.is_some());
        sink.stop();
        assert_eq!(sink.played_until, None);
        assert!(memory.clips()[1].stopped);
        let mut null = Paced::new(NullSink);
        null.begin(8_000).unwrap();
        null.write(&[1; 80]).unwrap();
        null.finish().unwrap();
    }

    #[test]
    fn clips_measure_length_and_level() {
        let clip = Clip {
            sample_rate: 10,
            samples: vec![100, -100, 100, -100, 100],
            stopped: false,
        };
        assert!((clip.seconds() - 0.5).abs() < 1e-9);
        assert!((clip.rms() - 100.0).abs() < 1e-9);
        let silent = Clip {
            sample_rate: 10,
            samples: vec![],
            stopped: false,
        };
        assert_eq!(silent.rms(), 0.0);
    }
}
