//! Pseudonymised person ids: a keyed pseudonym for every person id, and re-identification for
//! holders of the key.
//!
//! A store ingested with a key (`truyvet ingest --pseudonymise KEYFILE`) never holds a clear
//! person id, in any file: the reader replaces each id before a row reaches the store, a
//! rejected row is sealed before it reaches the quarantine, and the key itself stays outside.
//!
//! # Scheme (version 1)
//! The key file holds at least 32 random bytes as hex (`truyvet key new FILE` makes one). From
//! its bytes `K`, three keys are derived, so that no value is ever computed twice under one key
//! for two purposes (a person whose id happened to equal a label cannot learn a derived key):
//! - `Kp = HMAC-SHA-256(K, "truyvet pseudonym v1")`; the **pseudonym** of a person id is the
//!   first 16 bytes of `HMAC-SHA-256(Kp, id)` as 32 lowercase hex digits. Anyone holding the key
//!   can compute it with standard tools (see the README), e.g. to link a registry to the store.
//! - `Ke = HMAC-SHA-256(K, "truyvet re-identification v1")`: each new person's clear id is
//!   **sealed** with XChaCha20-Poly1305 under `Ke`, a random 24-byte nonce, and the pseudonym as
//!   associated data (so a sealed id cannot be moved to another person undetected). Rejected rows
//!   are sealed the same way with their input file and line as associated data.
//! - `Kh = HMAC-SHA-256(K, "truyvet input hash v1")` keys the BLAKE3 of each input file that the
//!   manifest records for duplicate detection, so that the hash of a small file cannot confirm a
//!   guess of its clear contents.
//! - The **fingerprint**, the first 8 bytes of `HMAC-SHA-256(K, "truyvet key fingerprint v1")` in
//!   hex, is recorded in the manifest, so that a batch under another key, or a trace given the
//!   wrong key, is refused. It reveals nothing about `K`.
//!
//! Sixteen bytes of pseudonym make a collision between two of 10⁹ persons a 2⁻⁶⁹ event.

use std::path::Path;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};

/// The scheme recorded in a pseudonymised store's manifest.
pub const SCHEME: &str = "hmac-sha256-128/xchacha20poly1305 v1";

/// Bytes of a sealed value beyond its plaintext: nonce and tag.
const SEAL_OVERHEAD: usize = 24 + 16;
/// Prefix of a quarantined row's text when it is sealed.
const SEALED_ROW: &str = "sealed:";
/// Shortest key accepted, in bytes.
const MIN_KEY_BYTES: usize = 32;

/// What a pseudonymised store records about its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pseudonyms {
    /// The pseudonym and sealing scheme ([`SCHEME`]).
    pub scheme: String,
    /// Fingerprint of the key ([`Key::fingerprint`]).
    pub key: String,
}

/// A pseudonymisation key, read from a key file kept outside the store.
#[derive(Clone)]
pub struct Key {
    pseudonym: Hmac<Sha256>,
    seal: XChaCha20Poly1305,
    input_hash: [u8; 32],
    fingerprint: String,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.fingerprint)
    }
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(msg);
    m.finalize().into_bytes().into()
}

/// Associated data of a quarantined row: where it came from.
fn row_aad(file: &str, line: u64) -> Vec<u8> {
    format!("quarantine\0{file}\0{line}").into_bytes()
}

/// Associated data of a sealed case note: binds it to its case.
fn note_aad(case_id: &str) -> Vec<u8> {
    format!("case note\0{case_id}").into_bytes()
}

impl Key {
    /// The key whose bytes are `k` (at least 32).
    pub fn from_bytes(k: &[u8]) -> Result<Key> {
        if k.len() < MIN_KEY_BYTES {
            return Err(Error::InvalidArgument {
                what: "pseudonymisation key",
                value: format!("of {} bytes", k.len()),
                hint: format!("a key needs at least {MIN_KEY_BYTES} bytes"),
            });
        }
        let kp = hmac(k, b"truyvet pseudonym v1");
        let ke = hmac(k, b"truyvet re-identification v1");
        let fp = hmac(k, b"truyvet key fingerprint v1");
        Ok(Key {
            pseudonym: <Hmac<Sha256> as KeyInit>::new_from_slice(&kp).expect("HMAC takes keys of any length"),
            seal: XChaCha20Poly1305::new(&ke.into()),
            input_hash: hmac(k, b"truyvet input hash v1"),
            fingerprint: hex::encode(&fp[..8]),
        })
    }

    /// Read a key file: hex digits (at least 64), surrounding whitespace ignored. On Unix the
    /// file must not be readable by group or others, as `ssh` asks of a private key.
    pub fn read(path: &Path) -> Result<Key> {
        let bad = |why: String| Error::bad_input(path, why);
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(Error::io(path))?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(bad(format!(
                    "key file is readable by others (mode {:o}); make it private with `chmod 600`",
                    mode & 0o777
                )));
            }
        }
        let bytes = hex::decode(text.trim())
            .map_err(|e| bad(format!("not a key: expected hex digits ({e}); make one with `truyvet key new FILE`")))?;
        if bytes.len() < MIN_KEY_BYTES {
            return Err(bad(format!(
                "key of {} bytes is too short: at least {MIN_KEY_BYTES} bytes ({} hex digits) are needed",
                bytes.len(),
                2 * MIN_KEY_BYTES
            )));
        }
        Key::from_bytes(&bytes)
    }

    /// Make a new random key and write it to `path` (which must not exist), readable by its
    /// owner only.
    pub fn generate(path: &Path) -> Result<Key> {
        let mut k = [0u8; MIN_KEY_BYTES];
        getrandom::fill(&mut k).map_err(|e| Error::Internal(format!("no randomness from the OS: {e}")))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(path).map_err(Error::io(path))?;
        std::io::Write::write_all(&mut f, format!("{}\n", hex::encode(k)).as_bytes()).map_err(Error::io(path))?;
        f.sync_all().map_err(Error::io(path))?;
        Key::from_bytes(&k)
    }

    /// The key's fingerprint (16 hex digits), as a store records it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// What a store made with this key records.
    pub fn pseudonyms(&self) -> Pseudonyms {
        Pseudonyms { scheme: SCHEME.to_string(), key: self.fingerprint.clone() }
    }

    /// The pseudonym of a person id.
    pub fn pseudonym(&self, id: &str) -> String {
        let mut out = String::with_capacity(32);
        self.pseudonym_into(id, &mut out);
        out
    }

    /// Append the pseudonym of `id` to `out`.
    pub(crate) fn pseudonym_into(&self, id: &str, out: &mut String) {
        let mut m = self.pseudonym.clone();
        m.update(id.as_bytes());
        let digest: [u8; 32] = m.finalize().into_bytes().into();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in &digest[..16] {
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }

    /// Seal `clear` with `aad` as associated data: nonce, then ciphertext and tag.
    pub(crate) fn seal(&self, aad: &[u8], clear: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| Error::Internal(format!("no randomness from the OS: {e}")))?;
        let sealed = self
            .seal
            .encrypt(&XNonce::from(nonce), Payload { msg: clear, aad })
            .map_err(|_| Error::Internal("sealing failed".into()))?;
        let mut out = Vec::with_capacity(SEAL_OVERHEAD + clear.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Open what [`Key::seal`] sealed with the same `aad`; `None` when it was sealed under another
    /// key or for another `aad`, or has been damaged since.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < SEAL_OVERHEAD {
            return None;
        }
        let (nonce, body) = sealed.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().ok()?;
        self.seal.decrypt(&XNonce::from(nonce), Payload { msg: body, aad }).ok()
    }

    /// The hasher of input files for duplicate detection (keyed BLAKE3).
    pub(crate) fn input_hasher(&self) -> blake3::Hasher {
        blake3::Hasher::new_keyed(&self.input_hash)
    }

    /// A rejected row's text (from input `file`, line `line`) as a pseudonymised store's
    /// quarantine keeps it.
    pub(crate) fn seal_row(&self, file: &str, line: u64, raw: &str) -> Result<String> {
        Ok(format!("{SEALED_ROW}{}", hex::encode(self.seal(&row_aad(file, line), raw.as_bytes())?)))
    }

    /// A case's note as a pseudonymised register keeps it, bound to the case.
    pub(crate) fn seal_note(&self, case_id: &str, note: &str) -> Result<String> {
        Ok(format!("{SEALED_ROW}{}", hex::encode(self.seal(&note_aad(case_id), note.as_bytes())?)))
    }

    /// The text of a case's note: opened when sealed, as it is when not; `None` when it was
    /// sealed under another key, for another case, or has been damaged.
    pub fn open_note(&self, case_id: &str, note: &str) -> Option<String> {
        let Some(hex_text) = note.strip_prefix(SEALED_ROW) else { return Some(note.to_string()) };
        let clear = self.open(&note_aad(case_id), &hex::decode(hex_text).ok()?)?;
        String::from_utf8(clear).ok()
    }

    /// The original text of a quarantined row (as the quarantine names its file and line):
    /// opened when sealed, as it is when not; `None` when it was sealed under another key, for
    /// another row, or has been damaged.
    pub fn open_row(&self, file: &str, line: u64, raw: &str) -> Option<String> {
        let Some(hex_text) = raw.strip_prefix(SEALED_ROW) else { return Some(raw.to_string()) };
        let clear = self.open(&row_aad(file, line), &hex::decode(hex_text).ok()?)?;
        String::from_utf8(clear).ok()
    }

    /// Check that this key is the one a store was pseudonymised with (`recorded`).
    pub(crate) fn check(&self, store: &Path, recorded: Option<&Pseudonyms>) -> Result<()> {
        let refuse = |hint: String| Err(Error::InvalidArgument { what: "key", value: self.fingerprint.clone(), hint });
        match recorded {
            None => refuse(format!(
                "store {} holds clear person ids: a pseudonymisation key does not apply to it",
                store.display()
            )),
            Some(p) if p.scheme != SCHEME => Err(Error::store(
                store,
                format!("pseudonymised with scheme {:?}, which this truyvet does not know", p.scheme),
            )),
            Some(p) if p.key != self.fingerprint => refuse(format!(
                "store {} was pseudonymised with the key of fingerprint {}, not with this one",
                store.display(),
                p.key
            )),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn pseudonyms_are_the_documented_hmac() {
        // Expected values computed with OpenSSL, not with this code:
        //   KP=$(printf 'truyvet pseudonym v1' | openssl dgst -sha256 -mac hmac -macopt hexkey:$KEY -r | cut -c1-64)
        //   printf %s P000042 | openssl dgst -sha256 -mac hmac -macopt hexkey:$KP -r | cut -c1-32
        //   printf 'truyvet key fingerprint v1' | openssl dgst -sha256 -mac hmac -macopt hexkey:$KEY -r | cut -c1-16
        let key = Key::from_bytes(&hex::decode(KEY).unwrap()).unwrap();
        assert_eq!(key.pseudonym("P000042"), PSEUDONYM_P000042);
        assert_eq!(key.fingerprint(), FINGERPRINT);
        assert_ne!(key.pseudonym("P000043"), key.pseudonym("P000042"));
        let other = Key::from_bytes(&[7u8; 32]).unwrap();
        assert_ne!(other.pseudonym("P000042"), key.pseudonym("P000042"));
        assert!(Key::from_bytes(&[7u8; 31]).is_err());
    }

    const PSEUDONYM_P000042: &str = "fb4e981608b16eed643f0d45fb337be1";
    const FINGERPRINT: &str = "0f28507866c0c2ad";

    #[test]
    fn sealed_values_open_only_with_their_key_and_associated_data() {
        let key = Key::from_bytes(&[1u8; 32]).unwrap();
        let sealed = key.seal(b"abc", b"P000042").unwrap();
        assert_eq!(key.open(b"abc", &sealed).as_deref(), Some(&b"P000042"[..]));
        assert_eq!(key.open(b"abd", &sealed), None);
        assert_eq!(Key::from_bytes(&[2u8; 32]).unwrap().open(b"abc", &sealed), None);
        for i in 0..sealed.len() {
            let mut damaged = sealed.clone();
            damaged[i] ^= 0x10;
            assert_eq!(key.open(b"abc", &damaged), None, "byte {i}");
        }
        assert_eq!(key.open(b"abc", &sealed[..20]), None);
        let row = key.seal_row("in.csv", 7, "P000042,V1,2021-08-01T08:00:00Z,").unwrap();
        assert!(!row.contains("P000042"));
        assert_eq!(key.open_row("in.csv", 7, &row).as_deref(), Some("P000042,V1,2021-08-01T08:00:00Z,"));
        assert_eq!(key.open_row("in.csv", 8, &row), None, "moved to another line");
        assert_eq!(key.open_row("other.csv", 7, &row), None, "moved to another file");
        assert_eq!(Key::from_bytes(&[2u8; 32]).unwrap().open_row("in.csv", 7, &row), None);
        assert_eq!(key.open_row("in.csv", 7, "clear,row").as_deref(), Some("clear,row"));
    }

    #[test]
    fn key_files_are_private_hex_of_32_bytes_or_more() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let made = Key::generate(&path).unwrap();
        assert_eq!(Key::read(&path).unwrap().fingerprint(), made.fingerprint());
        assert!(Key::generate(&path).is_err(), "an existing key file is never overwritten");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(Key::read(&path).unwrap_err().to_string().contains("readable by others"));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(&path, "abcd\n").unwrap();
        assert!(Key::read(&path).unwrap_err().to_string().contains("too short"));
        std::fs::write(&path, "not hex at all").unwrap();
        assert!(Key::read(&path).unwrap_err().to_string().contains("not a key"));
    }
}
