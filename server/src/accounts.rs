//! Accounts: a `users.toml` of names and SCRAM-SHA-256 verifiers (RFC 5802 / RFC 7677, in the
//! form PostgreSQL stores them: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`,
//! base64), so one account signs in over HTTP and, later, over Postgres wire. No password is
//! stored; checking one costs one PBKDF2 (4,096 rounds), so a verified credential is
//! remembered by its SHA-256 for the life of the process.
//!
//! Each user has a role: `tracer` (traces, exposures, itineraries, occupancy, cases, status,
//! hotspots, clusters, the trace page), `epidemiologist` (also SQL) or `admin` (also the store's
//! figures and overview).
//!
//! ```toml
//! [[user]]
//! name = "lan"
//! role = "tracer"
//! scram = "SCRAM-SHA-256$4096:...$...:..."
//! ```

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Rounds of PBKDF2 for new verifiers (PostgreSQL's default).
pub const ITERATIONS: u32 = 4096;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(rename = "user", default)]
    users: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    role: Role,
    scram: String,
}

/// What a user may do; each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Traces, exposures, itineraries, occupancy, cases, status, hotspots, clusters.
    Tracer,
    /// And SQL.
    Epidemiologist,
    /// And the store's figures.
    Admin,
}

impl Role {
    /// Its name in users.toml.
    pub fn name(self) -> &'static str {
        match self {
            Role::Tracer => "tracer",
            Role::Epidemiologist => "epidemiologist",
            Role::Admin => "admin",
        }
    }

    /// The role of a name in users.toml.
    pub fn parse(text: &str) -> Option<Role> {
        [Role::Tracer, Role::Epidemiologist, Role::Admin].into_iter().find(|r| r.name() == text)
    }
}

/// A SCRAM-SHA-256 verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    m.update(message);
    m.finalize().into_bytes().into()
}

impl Verifier {
    /// The verifier of `password` with `salt` and `iterations`.
    pub fn new(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        let salted = Self::salted(password, salt, iterations);
        Verifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: Sha256::digest(hmac(&salted, b"Client Key")).into(),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// The verifier of `password` with a fresh random salt.
    pub fn generate(password: &str) -> Result<Verifier> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness for a salt: {e}"))?;
        Ok(Verifier::new(password, &salt, ITERATIONS))
    }

    fn salted(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out);
        out
    }

    /// Parse `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
    pub fn parse(text: &str) -> std::result::Result<Verifier, String> {
        let bad = |why: &str| format!("not a SCRAM-SHA-256 verifier ({why})");
        let rest = text.strip_prefix("SCRAM-SHA-256$").ok_or_else(|| bad("no SCRAM-SHA-256$ prefix"))?;
        let (params, keys) = rest.split_once('$').ok_or_else(|| bad("no keys"))?;
        let (iterations, salt) = params.split_once(':').ok_or_else(|| bad("no salt"))?;
        let (stored, server) = keys.split_once(':').ok_or_else(|| bad("no server key"))?;
        let key = |k: &str| -> std::result::Result<[u8; 32], String> {
            B64.decode(k).ok().and_then(|v| v.try_into().ok()).ok_or_else(|| bad("a key is not 32 bytes of base64"))
        };
        Ok(Verifier {
            iterations: iterations.parse().ok().filter(|&n| n >= 1).ok_or_else(|| bad("bad iteration count"))?,
            salt: B64.decode(salt).map_err(|_| bad("the salt is not base64"))?,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }

    /// The text form [`Verifier::parse`] reads.
    pub fn encode(&self) -> String {
        format!(
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(self.stored_key),
            B64.encode(self.server_key)
        )
    }

    /// Whether `password` is the one this verifier was made from (constant-time compare).
    pub fn check(&self, password: &str) -> bool {
        let salted = Self::salted(password, &self.salt, self.iterations);
        let stored: [u8; 32] = Sha256::digest(hmac(&salted, b"Client Key")).into();
        stored.ct_eq(&self.stored_key).into()
    }
}

/// A SCRAM-SHA-256 exchange after the server's first message (RFC 5802 §3): what the proof
/// is checked against. Channel binding is not offered (no TLS), so the client's GS2 header
/// must be `n,,` or `y,,`.
#[derive(Debug, Clone)]
pub struct ScramExchange {
    auth_prefix: String,
    gs2: String,
    nonce: String,
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

impl Verifier {
    /// Answer `client_first` (`n,,n=...,r=<client nonce>`) with the server-first message,
    /// appending `server_nonce` (printable, no comma) to the client's nonce.
    pub fn scram_first(
        &self,
        client_first: &str,
        server_nonce: &str,
    ) -> std::result::Result<(ScramExchange, String), String> {
        let (gs2, bare) = match client_first.split_once(',').and_then(|(cb, rest)| Some((cb, rest.split_once(',')?))) {
            Some((cb @ ("n" | "y"), ("", bare))) => (format!("{cb},,"), bare),
            Some(("n" | "y", _)) => return Err("SCRAM authorization identities are not supported".into()),
            Some(_) => return Err("channel binding is not supported (no TLS): use SCRAM-SHA-256".into()),
            None => return Err("malformed SCRAM client-first message".into()),
        };
        let client_nonce = bare
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .filter(|n| !n.is_empty())
            .ok_or("SCRAM client-first message without a nonce")?;
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!("r={nonce},s={},i={}", B64.encode(&self.salt), self.iterations);
        let exchange = ScramExchange {
            auth_prefix: format!("{bare},{server_first}"),
            gs2,
            nonce,
            stored_key: self.stored_key,
            server_key: self.server_key,
        };
        Ok((exchange, server_first))
    }
}

impl ScramExchange {
    /// Check `client_final` (`c=...,r=...,p=<proof>`): the server-final message (`v=...`)
    /// when the proof is right.
    pub fn finish(&self, client_final: &str) -> std::result::Result<String, String> {
        let (without_proof, proof) =
            client_final.rsplit_once(",p=").ok_or("SCRAM client-final message without a proof")?;
        let mut attrs = without_proof.split(',');
        if attrs.next() != Some(&format!("c={}", B64.encode(&self.gs2))) {
            return Err("SCRAM channel binding does not match".into());
        }
        if attrs.next() != Some(&format!("r={}", self.nonce)) {
            return Err("SCRAM nonce does not match".into());
        }
        let proof: [u8; 32] =
            B64.decode(proof).ok().and_then(|p| p.try_into().ok()).ok_or("SCRAM proof is not 32 bytes of base64")?;
        let auth = format!("{},{without_proof}", self.auth_prefix);
        let signature = hmac(&self.stored_key, auth.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        let stored: [u8; 32] = Sha256::digest(&client_key).into();
        if !bool::from(stored.ct_eq(&self.stored_key)) {
            return Err("wrong password".into());
        }
        Ok(format!("v={}", B64.encode(hmac(&self.server_key, auth.as_bytes()))))
    }
}

/// The accounts of a running server.
#[derive(Debug)]
pub struct Users {
    by_name: HashMap<String, (Role, Verifier)>,
    /// SHA-256 of `name \0 password` of credentials already verified.
    verified: Mutex<HashSet<[u8; 32]>>,
}

fn read_file(path: &Path) -> Result<UsersFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

impl Users {
    /// Read a users file; a bad entry is refused with the file and the name.
    pub fn read(path: &Path) -> Result<Users> {
        let file = read_file(path)?;
        let mut by_name = HashMap::new();
        for e in file.users {
            let v = Verifier::parse(&e.scram)
                .map_err(|why| anyhow::anyhow!("{}: user {:?}: {why}", path.display(), e.name))?;
            if by_name.insert(e.name.clone(), (e.role, v)).is_some() {
                bail!("{}: user {:?} is listed twice", path.display(), e.name);
            }
        }
        if by_name.is_empty() {
            bail!("{}: no [[user]] entries: add one with `truyvet users add`", path.display());
        }
        Ok(Users { by_name, verified: Mutex::new(HashSet::new()) })
    }

    /// The role of `name` if it signs in with `password`.
    pub fn verify(&self, name: &str, password: &str) -> Option<Role> {
        let (role, v) = self.by_name.get(name)?;
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        let fingerprint: [u8; 32] = h.finalize().into();
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.contains(&fingerprint) {
            return Some(*role);
        }
        if !v.check(password) {
            return None;
        }
        verified.insert(fingerprint);
        Some(*role)
    }

    /// The role of `name` (a session's user).
    pub fn role(&self, name: &str) -> Option<Role> {
        self.by_name.get(name).map(|(r, _)| *r)
    }

    /// The verifier of `name`, for protocols that run SCRAM themselves.
    pub fn verifier(&self, name: &str) -> Option<&Verifier> {
        self.by_name.get(name).map(|(_, v)| v)
    }
}

/// Add `name` with `role` and `password` to the users file at `path` (created if missing); an
/// existing name is refused unless `replace`.
pub fn add(path: &PathBuf, name: &str, role: Role, password: &str, replace: bool) -> Result<()> {
    if name.is_empty() || name.chars().any(|c| c.is_control() || c == ':') {
        bail!("user name {name:?}: give a name without ':' or control characters");
    }
    if password.chars().count() < 8 {
        bail!("the password of {name:?} is shorter than 8 characters");
    }
    let mut file = if path.exists() { read_file(path)? } else { UsersFile::default() };
    let entry = Entry { name: name.to_string(), role, scram: Verifier::generate(password)?.encode() };
    match file.users.iter_mut().find(|e| e.name == name) {
        Some(e) if replace => *e = entry,
        Some(_) => bail!("{}: user {name:?} exists (use --replace to set a new password)", path.display()),
        None => file.users.push(entry),
    }
    write_file(path, &file)
}

/// Remove `name` from the users file at `path`.
pub fn remove(path: &PathBuf, name: &str) -> Result<()> {
    let mut file = read_file(path)?;
    let before = file.users.len();
    file.users.retain(|e| e.name != name);
    if file.users.len() == before {
        bail!("{}: no user {name:?}", path.display());
    }
    write_file(path, &file)
}

/// The names and roles in the users file at `path`.
pub fn names(path: &Path) -> Result<Vec<(String, Role)>> {
    Ok(read_file(path)?.users.into_iter().map(|e| (e.name, e.role)).collect())
}

fn write_file(path: &PathBuf, file: &UsersFile) -> Result<()> {
    let text = toml::to_string(file).context("encoding the users file")?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example exchange: user "user", password "pencil", salt and 4096 rounds; the
    /// server signature over the exchange's AuthMessage must be the RFC's.
    #[test]
    fn verifiers_match_the_rfc_7677_example_and_round_trip() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = Verifier::new("pencil", &salt, 4096);
        let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let auth =
            format!("n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={nonce}");
        assert_eq!(B64.encode(hmac(&v.server_key, auth.as_bytes())), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        assert_eq!(Verifier::parse(&v.encode()).unwrap(), v);
        assert!(v.check("pencil"));
        assert!(!v.check("pencil "));
        assert!(Verifier::parse("md5$abc").is_err());

        // The whole exchange, as a server: RFC 7677's messages, verbatim.
        let (exchange, server_first) =
            v.scram_first("n,,n=user,r=rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0").unwrap();
        assert_eq!(server_first, format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
        let client_final = format!("c=biws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        assert_eq!(exchange.finish(&client_final).unwrap(), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        // Another password's proof, a changed nonce, and channel binding are refused.
        let wrong = format!("c=biws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVE=");
        assert_eq!(exchange.finish(&wrong).unwrap_err(), "wrong password");
        assert!(exchange.finish("c=biws,r=other,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=").is_err());
        assert!(v.scram_first("p=tls-server-end-point,,n=,r=abc", "x").is_err());
    }
}
