//! A Java KeyStore (JKS) trust store: the format every JVM reads, written by hand because it is
//! small (a list of certificates and a SHA-1 integrity digest) and no maintained crate writes it.

use sha1::{Digest, Sha1};

/// The JKS magic number and version 2.
const MAGIC: u32 = 0xFEED_FEED;
const VERSION: u32 = 2;
/// Entry tag of a trusted certificate.
const TRUSTED_CERT: u32 = 2;

/// A JKS file holding `certs` (DER) as trusted certificates, sealed with `password`.
/// The first certificate is named `switchboard-ca`, the others `root-N`.
pub fn trust_store(certs: &[Vec<u8>], password: &str, now_ms: i64) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&(certs.len() as u32).to_be_bytes());
    for (i, der) in certs.iter().enumerate() {
        let alias = if i == 0 { "switchboard-ca".to_string() } else { format!("root-{i}") };
        out.extend_from_slice(&TRUSTED_CERT.to_be_bytes());
        write_utf(&mut out, &alias);
        out.extend_from_slice(&now_ms.to_be_bytes());
        write_utf(&mut out, "X.509");
        out.extend_from_slice(&(der.len() as u32).to_be_bytes());
        out.extend_from_slice(der);
    }
    // The digest covers the password (UTF-16BE), a fixed phrase, and everything above.
    let mut hasher = Sha1::new();
    for unit in password.encode_utf16() {
        hasher.update(unit.to_be_bytes());
    }
    hasher.update(b"Mighty Aphrodite");
    hasher.update(&out);
    out.extend_from_slice(&hasher.finalize());
    out
}

/// Java's `DataOutput.writeUTF` for ASCII strings (aliases and "X.509" are ASCII).
fn write_utf(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trust_store_lists_each_certificate_and_ends_with_the_password_digest() {
        let store = trust_store(&[vec![1, 2, 3], vec![4]], "changeit", 0);
        assert_eq!(&store[..12], &[0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2, 0, 0, 0, 2]);
        let (body, digest) = store.split_at(store.len() - 20);
        let mut h = Sha1::new();
        for u in "changeit".encode_utf16() {
            h.update(u.to_be_bytes());
        }
        h.update(b"Mighty Aphrodite");
        h.update(body);
        assert_eq!(digest, &h.finalize()[..]);
        assert!(body.windows(14).any(|w| w == b"switchboard-ca"));
    }
}
