//! Signed QR check-in passes: the compact text form
//! `CK1.<payload>.<signature>`, the server's [`PassSigner`], the kiosk's
//! offline [`PassVerifier`], and the signing-key file.
//!
//! The payload binds one appointment, one clinic and an expiry time:
//!
//! ```text
//! payload = u8 len(clinic_id) ‖ clinic_id ‖ u8 len(appointment_id) ‖ appointment_id ‖ u64 BE expiry (unix seconds)
//! pass    = "CK1." ‖ base64url(payload) ‖ "." ‖ base64url(Ed25519(sign, "CK1." ‖ base64url(payload)))
//! ```
//!
//! Base64url is unpadded and strict, so a pass has exactly one spelling. The
//! signature covers the version tag as well as the payload, so a future
//! version cannot be confused with this one.
//!
//! **Architecture invariant:** the kiosk holds only the public key. Nothing
//! here that runs on a kiosk can mint a pass.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::domain::{AppointmentId, ClinicId, PassProblem};

/// The version tag every pass starts with.
const TAG: &str = "CK1";
/// Passes longer than this are refused before any decoding: a real pass is
/// about 130 characters, and a scanner can type anything.
pub const MAX_PASS_LEN: usize = 600;
/// Ids longer than this cannot be put in a pass (one length byte, and a
/// small QR code).
pub const MAX_ID_LEN: usize = 64;

/// Why a scanned pass was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PassRejected {
    /// Not a pass at all, cut short, or not in the one canonical spelling.
    #[error("not a valid check-in pass")]
    Malformed,
    /// Well formed, but the signature does not verify: tampered or forged.
    #[error("the pass signature does not verify")]
    BadSignature,
    /// Genuine, but past its expiry time.
    #[error("the pass has expired")]
    Expired,
    /// Genuine, but issued for another clinic.
    #[error("the pass is for another clinic")]
    WrongClinic,
}

impl From<PassRejected> for PassProblem {
    fn from(r: PassRejected) -> Self {
        match r {
            PassRejected::Malformed => PassProblem::Malformed,
            PassRejected::BadSignature => PassProblem::BadSignature,
            PassRejected::Expired => PassProblem::Expired,
            PassRejected::WrongClinic => PassProblem::WrongClinic,
        }
    }
}

/// Why key material could not be loaded, created or used.
#[derive(Debug, thiserror::Error)]
pub enum PassKeyError {
    /// The key file could not be read, created or written.
    #[error("pass signing key {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The key file is readable by group or others; the server refuses to
    /// use a key that may have leaked.
    #[error(
        "pass signing key {path} has mode {mode:o}; it must not be readable by group or others (chmod 600)"
    )]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not hold a base64url Ed25519 seed.
    #[error("pass signing key {path} is not a base64url 32-byte Ed25519 seed")]
    Corrupt {
        /// The key file.
        path: PathBuf,
    },
    /// A public key given as text is not a base64url Ed25519 point.
    #[error("the pass public key is not a valid base64url Ed25519 key")]
    BadPublicKey,
    /// An id is empty or too long to put in a pass.
    #[error("{field} must be 1 to {MAX_ID_LEN} bytes to fit in a pass")]
    BadId {
        /// Which id.
        field: &'static str,
    },
}

/// What a genuine pass says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassClaims {
    /// The clinic that issued the pass.
    pub clinic_id: ClinicId,
    /// The one appointment the pass checks in.
    pub appointment_id: AppointmentId,
    /// The last instant the pass is accepted, in unix seconds.
    pub expires_at: i64,
}

impl PassClaims {
    /// The expiry as a timestamp, if it is representable.
    pub fn expires_at_utc(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.expires_at, 0)
    }

    fn encode(&self) -> Result<Vec<u8>, PassKeyError> {
        let clinic = self.clinic_id.as_str().as_bytes();
        let appt = self.appointment_id.as_str().as_bytes();
        let clinic_len = id_len(clinic, "clinic_id")?;
        let appt_len = id_len(appt, "appointment_id")?;
        let mut out = Vec::with_capacity(2 + clinic.len() + appt.len() + 8);
        out.push(clinic_len);
        out.extend_from_slice(clinic);
        out.push(appt_len);
        out.extend_from_slice(appt);
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        Ok(out)
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (clinic, rest) = take_id(bytes)?;
        let (appt, rest) = take_id(rest)?;
        let exp: [u8; 8] = rest.try_into().ok()?;
        Some(Self {
            clinic_id: ClinicId(clinic),
            appointment_id: AppointmentId(appt),
            expires_at: i64::from_be_bytes(exp),
        })
    }
}

fn id_len(id: &[u8], field: &'static str) -> Result<u8, PassKeyError> {
    match u8::try_from(id.len()) {
        Ok(n) if n > 0 && id.len() <= MAX_ID_LEN => Ok(n),
        _ => Err(PassKeyError::BadId { field }),
    }
}

fn take_id(bytes: &[u8]) -> Option<(String, &[u8])> {
    let (&len, rest) = bytes.split_first()?;
    let len = usize::from(len);
    if len == 0 || len > MAX_ID_LEN || rest.len() < len {
        return None;
    }
    let (id, rest) = rest.split_at(len);
    let id = std::str::from_utf8(id).ok()?;
    if id.chars().any(char::is_control) {
        return None;
    }
    Some((id.to_string(), rest))
}

/// Signs passes. Lives only on the clinic server.
pub struct PassSigner {
    /// The Ed25519 private key; never leaves the server.
    key: SigningKey,
}

impl std::fmt::Debug for PassSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassSigner")
            .field("public_key", &self.public_key_b64())
            .finish_non_exhaustive()
    }
}

impl PassSigner {
    /// A signer with a fresh random key (tests, and first start).
    pub fn generate() -> Self {
        Self {
            key: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// A signer from a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// Loads the key at `path`, or creates it with mode 0600 if there is no
    /// file. Refuses a file that group or others can read.
    pub fn load_or_create(path: &Path) -> Result<Self, PassKeyError> {
        let io_err = |source| PassKeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        match fs::metadata(path) {
            Ok(meta) => {
                check_private(path, &meta)?;
                let text = fs::read_to_string(path).map_err(io_err)?;
                let seed = URL_SAFE_NO_PAD
                    .decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                    .ok_or_else(|| PassKeyError::Corrupt {
                        path: path.to_path_buf(),
                    })?;
                Ok(Self::from_seed(&seed))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let signer = Self::generate();
                let mut options = OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(path).map_err(io_err)?;
                let text = format!("{}\n", URL_SAFE_NO_PAD.encode(signer.key.to_bytes()));
                file.write_all(text.as_bytes()).map_err(io_err)?;
                file.sync_all().map_err(io_err)?;
                Ok(signer)
            }
            Err(e) => Err(io_err(e)),
        }
    }

    /// The verifier matching this signer.
    pub fn verifier(&self) -> PassVerifier {
        PassVerifier {
            key: self.key.verifying_key(),
        }
    }

    /// The public key as base64url without padding, as sent to kiosks.
    pub fn public_key_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.verifying_key().to_bytes())
    }

    /// Signs a pass for `claims`. Fails only when an id is empty or longer
    /// than [`MAX_ID_LEN`] bytes.
    pub fn sign(&self, claims: &PassClaims) -> Result<String, PassKeyError> {
        let payload = URL_SAFE_NO_PAD.encode(claims.encode()?);
        let signed = format!("{TAG}.{payload}");
        let sig = self.key.sign(signed.as_bytes());
        Ok(format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(sig.to_bytes())
        ))
    }
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &fs::Metadata) -> Result<(), PassKeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(PassKeyError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &fs::Metadata) -> Result<(), PassKeyError> {
    Ok(())
}

/// Verifies passes offline with the server's public key. This is all a
/// kiosk holds.
#[derive(Debug, Clone)]
pub struct PassVerifier {
    /// The server's Ed25519 public key.
    key: VerifyingKey,
}

impl PassVerifier {
    /// A verifier from the base64url public key a kiosk got at enrollment.
    pub fn from_base64(public_key: &str) -> Result<Self, PassKeyError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(public_key.trim())
            .map_err(|_| PassKeyError::BadPublicKey)?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| PassKeyError::BadPublicKey)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| PassKeyError::BadPublicKey)?;
        Ok(Self { key })
    }

    /// Checks a scanned pass: its form, its signature, its clinic and then
    /// its expiry, in that order. Surrounding whitespace (a scanner's Enter)
    /// is ignored.
    pub fn verify(
        &self,
        pass: &str,
        clinic: &ClinicId,
        now: DateTime<Utc>,
    ) -> Result<PassClaims, PassRejected> {
        let claims = self.verify_signature(pass)?;
        if &claims.clinic_id != clinic {
            return Err(PassRejected::WrongClinic);
        }
        if now.timestamp() > claims.expires_at {
            return Err(PassRejected::Expired);
        }
        Ok(claims)
    }

    /// Checks form and signature only, returning what the pass says.
    pub fn verify_signature(&self, pass: &str) -> Result<PassClaims, PassRejected> {
        let pass = pass.trim();
        if pass.len() > MAX_PASS_LEN {
            return Err(PassRejected::Malformed);
        }
        let mut parts = pass.split('.');
        let (Some(tag), Some(payload_b64), Some(sig_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(PassRejected::Malformed);
        };
        if tag != TAG {
            return Err(PassRejected::Malformed);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| PassRejected::Malformed)?;
        let sig_bytes = URL_SAFE_NO_PAD
            .decode(sig_b64)
            .map_err(|_| PassRejected::Malformed)?;
        let sig = Signature::from_slice(&sig_bytes).map_err(|_| PassRejected::Malformed)?;
        let claims = PassClaims::decode(&payload).ok_or(PassRejected::Malformed)?;
        let signed_len = TAG.len() + 1 + payload_b64.len();
        let signed = pass.get(..signed_len).ok_or(PassRejected::Malformed)?;
        self.key
            .verify_strict(signed.as_bytes(), &sig)
            .map_err(|_| PassRejected::BadSignature)?;
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn claims(exp: i64) -> PassClaims {
        PassClaims {
            clinic_id: ClinicId("c1".into()),
            appointment_id: AppointmentId("appt-0042".into()),
            expires_at: exp,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_772_470_800, 0).unwrap()
    }

    fn c1() -> ClinicId {
        ClinicId("c1".into())
    }

    #[test]
    fn a_signed_pass_verifies_and_is_compact() {
        let signer = PassSigner::from_seed(&[7; 32]);
        let pass = signer.sign(&claims(now().timestamp() + 3600)).unwrap();
        assert!(pass.starts_with("CK1."));
        assert!(pass.len() < 140, "{} chars", pass.len());
        let verifier = PassVerifier::from_base64(&signer.public_key_b64()).unwrap();
        let got = verifier.verify(&pass, &c1(), now()).unwrap();
        assert_eq!(got, claims(now().timestamp() + 3600));
        // A scanner's trailing Enter is harmless.
        assert!(
            verifier
                .verify(&format!("{pass}\r\n"), &c1(), now())
                .is_ok()
        );
    }

    #[test]
    fn expiry_is_inclusive_then_refused() {
        let signer = PassSigner::generate();
        let v = signer.verifier();
        let pass = signer.sign(&claims(now().timestamp())).unwrap();
        assert!(v.verify(&pass, &c1(), now()).is_ok());
        let later = now() + chrono::Duration::seconds(1);
        assert_eq!(v.verify(&pass, &c1(), later), Err(PassRejected::Expired));
        assert_eq!(
            PassProblem::from(PassRejected::Expired),
            PassProblem::Expired
        );
    }

    #[test]
    fn a_pass_for_another_clinic_is_refused() {
        let signer = PassSigner::generate();
        let pass = signer.sign(&claims(now().timestamp() + 60)).unwrap();
        assert_eq!(
            signer
                .verifier()
                .verify(&pass, &ClinicId("c2".into()), now()),
            Err(PassRejected::WrongClinic)
        );
    }

    #[test]
    fn a_pass_from_another_key_is_refused() {
        let pass = PassSigner::generate()
            .sign(&claims(now().timestamp() + 60))
            .unwrap();
        assert_eq!(
            PassSigner::generate()
                .verifier()
                .verify(&pass, &c1(), now()),
            Err(PassRejected::BadSignature)
        );
    }

    #[test]
    fn every_single_character_tamper_is_refused() {
        let signer = PassSigner::generate();
        let v = signer.verifier();
        let pass = signer.sign(&claims(now().timestamp() + 60)).unwrap();
        let alphabet: Vec<char> =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
                .chars()
                .collect();
        let chars: Vec<char> = pass.chars().collect();
        for i in 0..chars.len() {
            for &c in &alphabet {
                if c == chars[i] {
                    continue;
                }
                let mut t = chars.clone();
                t[i] = c;
                let t: String = t.into_iter().collect();
                let got = v.verify(&t, &c1(), now());
                assert!(
                    matches!(
                        got,
                        Err(PassRejected::Malformed | PassRejected::BadSignature)
                    ),
                    "position {i} → {c}: {got:?}"
                );
            }
        }
    }

    #[test]
    fn a_forged_payload_with_a_real_signature_is_refused() {
        let signer = PassSigner::generate();
        let v = signer.verifier();
        let real = signer.sign(&claims(now().timestamp() + 60)).unwrap();
        let sig = real.rsplit('.').next().unwrap();
        let mut forged = claims(now().timestamp() + 86_400 * 365);
        forged.appointment_id = AppointmentId("appt-0043".into());
        let payload = URL_SAFE_NO_PAD.encode(forged.encode().unwrap());
        let pass = format!("CK1.{payload}.{sig}");
        assert_eq!(
            v.verify(&pass, &c1(), now()),
            Err(PassRejected::BadSignature)
        );
    }

    #[test]
    fn truncated_passes_are_refused() {
        let signer = PassSigner::generate();
        let v = signer.verifier();
        let pass = signer.sign(&claims(now().timestamp() + 60)).unwrap();
        for end in 0..pass.len() {
            let got = v.verify(&pass[..end], &c1(), now());
            assert!(
                matches!(
                    got,
                    Err(PassRejected::Malformed | PassRejected::BadSignature)
                ),
                "cut at {end}: {got:?}"
            );
        }
    }

    #[test]
    fn non_canonical_spellings_are_refused() {
        let signer = PassSigner::generate();
        let v = signer.verifier();
        let pass = signer.sign(&claims(now().timestamp() + 60)).unwrap();
        for bad in [
            pass.replacen("CK1", "ck1", 1),
            pass.replacen("CK1", "CK2", 1),
            format!("{pass}."),
            format!("{pass}=="),
            format!(".{pass}"),
            pass.replace('.', ".."),
            format!("{pass}.extra"),
            "x".repeat(MAX_PASS_LEN + 1),
        ] {
            assert!(v.verify(&bad, &c1(), now()).is_err(), "{bad}");
        }
    }

    #[test]
    fn random_strings_and_bytes_never_panic_and_never_verify() {
        let signer = PassSigner::generate();
        let v = signer.verifier();
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x00C0_FFEE);
        let alphabet: Vec<char> =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \u{e9}\u{1F600}\0"
                .chars()
                .collect();
        for _ in 0..3000 {
            let len = rng.gen_range(0..200);
            let s: String = (0..len)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            assert!(v.verify(&s, &c1(), now()).is_err());
            let with_tag = format!("CK1.{s}");
            assert!(v.verify(&with_tag, &c1(), now()).is_err());
            let bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
            let lossy = String::from_utf8_lossy(&bytes);
            assert!(v.verify(&lossy, &c1(), now()).is_err());
            // A correctly framed pass with a random payload and signature.
            let framed = format!(
                "CK1.{}.{}",
                URL_SAFE_NO_PAD.encode(&bytes),
                URL_SAFE_NO_PAD.encode([bytes.first().copied().unwrap_or(0); 64])
            );
            assert!(v.verify(&framed, &c1(), now()).is_err());
        }
    }

    #[test]
    fn ids_that_do_not_fit_cannot_be_signed() {
        let signer = PassSigner::generate();
        let mut c = claims(0);
        c.appointment_id = AppointmentId(String::new());
        assert!(matches!(signer.sign(&c), Err(PassKeyError::BadId { .. })));
        c.appointment_id = AppointmentId("a".repeat(MAX_ID_LEN + 1));
        assert!(matches!(signer.sign(&c), Err(PassKeyError::BadId { .. })));
        c.appointment_id = AppointmentId("é".repeat(MAX_ID_LEN / 2));
        let pass = signer.sign(&c).unwrap();
        assert_eq!(
            signer
                .verifier()
                .verify_signature(&pass)
                .unwrap()
                .appointment_id,
            c.appointment_id
        );
    }

    #[test]
    fn bad_public_keys_are_refused() {
        for bad in ["", "abc", "!!!!", &URL_SAFE_NO_PAD.encode([0u8; 31])] {
            assert!(matches!(
                PassVerifier::from_base64(bad),
                Err(PassKeyError::BadPublicKey)
            ));
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_created_private_reused_and_refused_when_exposed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass.key");
        let first = PassSigner::load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = PassSigner::load_or_create(&path).unwrap();
        assert_eq!(first.public_key_b64(), again.public_key_b64());

        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            PassSigner::load_or_create(&path),
            Err(PassKeyError::Permissions { mode: 0o640, .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, "not a key").unwrap();
        assert!(matches!(
            PassSigner::load_or_create(&path),
            Err(PassKeyError::Corrupt { .. })
        ));
    }
}
