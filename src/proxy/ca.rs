//! Switchboard's local certificate authority: made on first use, kept in a directory beside the
//! data, limited by a name constraint to `twilio.com`, and minting one short-lived leaf per
//! server name on demand (cached). It also writes the files that clients are pointed at: the
//! CA certificate, a bundle of the system roots plus the CA, a Java trust store and a PHP ini.

use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The CA's private key followed by its certificate (owner-only): the one file that makes the CA.
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// The CA certificate alone, for variables that add one CA (`NODE_EXTRA_CA_CERTS`).
pub const CA_CERT_FILE: &str = "ca.pem";
/// The system roots plus the CA, for variables that replace the default roots.
pub const BUNDLE_FILE: &str = "ca-bundle.pem";
/// The same certificates as a Java KeyStore (JKS) trust store.
pub const TRUSTSTORE_FILE: &str = "truststore.jks";
/// Password of [`TRUSTSTORE_FILE`]; it holds public certificates only, so the password guards
/// nothing (Java requires one to check the store's integrity).
pub const TRUSTSTORE_PASSWORD: &str = "changeit";
/// Directory holding `switchboard.ini` for `PHP_INI_SCAN_DIR`.
pub const PHP_DIR: &str = "php";
/// Where a running proxy writes its address, so `switchboard env` finds a port chosen at start.
pub const PROXY_ADDR_FILE: &str = "proxy-address";

/// The subject of the CA certificate.
const CA_COMMON_NAME: &str = "Switchboard local CA (twilio.com only)";
/// Leaves live 90 days: well under the 397 days Apple's verifier (Go, .NET on macOS) accepts.
const LEAF_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);
/// A cached leaf is replaced this long before it expires.
const LEAF_RENEW_BEFORE: Duration = Duration::from_secs(24 * 3600);
/// At most this many names are cached; past it the cache starts over (names come from local
/// clients, but nothing should let them grow memory without bound).
const MAX_CACHED_LEAVES: usize = 1024;
/// The CA itself lives ten years.
const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Validity starts an hour back, so a client whose clock is a little behind accepts it.
const BACKDATE: Duration = Duration::from_secs(3600);

/// Whether `name` is a host name under `twilio.com` (not `twilio.com` itself): the only names
/// the proxy intercepts and the CA signs.
pub fn is_twilio_host(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let Some(prefix) = name.strip_suffix(".twilio.com") else {
        return false;
    };
    !prefix.is_empty()
        && prefix.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The files written for clients, by absolute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFiles {
    /// The CA certificate (PEM).
    pub ca_cert: PathBuf,
    /// System roots plus the CA (PEM).
    pub bundle: PathBuf,
    /// System roots plus the CA (JKS).
    pub truststore: PathBuf,
    /// Directory with `switchboard.ini` (`curl.cainfo`, `openssl.cafile`).
    pub php_dir: PathBuf,
}

/// The local CA and its cache of minted leaves.
pub struct LocalCa {
    dir: PathBuf,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    leaves: Mutex<HashMap<String, (i64, Arc<CertifiedKey>)>>,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl LocalCa {
    /// Loads the CA kept in `dir`, creating the directory and the CA if there is none yet.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<LocalCa> {
        let dir = std::path::absolute(dir).with_context(|| format!("CA directory {}", dir.display()))?;
        std::fs::create_dir_all(&dir).with_context(|| format!("creating CA directory {}", dir.display()))?;
        let key_path = dir.join(CA_KEY_FILE);
        if !key_path.exists() {
            create(&key_path)?;
        }
        let text = std::fs::read_to_string(&key_path).with_context(|| format!("reading {}", key_path.display()))?;
        restrict_to_owner(&key_path)?;
        let Some(at) = text.find("-----BEGIN CERTIFICATE-----") else {
            bail!("{} holds no certificate after its key; delete it to make a new CA", key_path.display());
        };
        let (key_pem, cert_pem) = text.split_at(at);
        let key = KeyPair::from_pem(key_pem).with_context(|| format!("the key in {}", key_path.display()))?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)
            .with_context(|| format!("the certificate in {}", key_path.display()))?;
        let cert_der = pem_blocks(cert_pem, "CERTIFICATE").into_iter().next().map(CertificateDer::from);
        let Some(cert_der) = cert_der else {
            bail!("{}: unreadable certificate; delete it to make a new CA", key_path.display());
        };
        let cert_pem = cert_pem.trim().to_string() + "\n";
        write_atomically(&dir.join(CA_CERT_FILE), cert_pem.as_bytes())?;
        Ok(LocalCa { dir, cert_pem, cert_der, issuer, leaves: Mutex::new(HashMap::new()) })
    }

    /// The directory the CA lives in (absolute).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// A certificate and key for `name` (a host under `twilio.com`), minted on first use and
    /// cached until a day before it expires.
    pub fn leaf(&self, name: &str) -> anyhow::Result<Arc<CertifiedKey>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if !is_twilio_host(&name) {
            bail!("the local CA signs names under twilio.com only, not {name:?}");
        }
        let now = crate::clock::now_ms();
        let mut leaves = self.leaves.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((expires, key)) = leaves.get(&name) {
            if now + (LEAF_RENEW_BEFORE.as_millis() as i64) < *expires {
                return Ok(key.clone());
            }
        }
        let (expires, key) = self.mint(&name, now)?;
        let key = Arc::new(key);
        if leaves.len() >= MAX_CACHED_LEAVES {
            leaves.clear();
        }
        leaves.insert(name, (expires, key.clone()));
        Ok(key)
    }

    /// Signs a new leaf for `name`; returns its expiry (ms) and the certified key.
    fn mint(&self, name: &str, now_ms: i64) -> anyhow::Result<(i64, CertifiedKey)> {
        let mut params = CertificateParams::new(vec![name.to_string()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        let (not_before, not_after) = validity(now_ms, LEAF_LIFETIME)?;
        params.not_before = not_before;
        params.not_after = not_after;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signer = rustls::crypto::ring::sign::any_supported_type(&der)?;
        let expires = not_after.unix_timestamp() * 1000;
        Ok((expires, CertifiedKey::new(vec![cert.der().clone()], signer)))
    }

    /// Writes the CA certificate, the bundle (system roots plus the CA), the Java trust store and
    /// the PHP ini into the CA directory, and returns their paths.
    pub fn write_client_files(&self) -> anyhow::Result<ClientFiles> {
        let mut roots: Vec<Vec<u8>> = vec![self.cert_der.to_vec()];
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            if !roots.iter().any(|r| r[..] == cert[..]) {
                roots.push(cert.to_vec());
            }
        }
        if roots.len() == 1 {
            tracing::warn!("no system root certificates found: {BUNDLE_FILE} holds only Switchboard's CA");
        }
        let mut bundle = String::new();
        for der in &roots {
            bundle.push_str(&to_pem("CERTIFICATE", der));
        }
        let files = ClientFiles {
            ca_cert: self.dir.join(CA_CERT_FILE),
            bundle: self.dir.join(BUNDLE_FILE),
            truststore: self.dir.join(TRUSTSTORE_FILE),
            php_dir: self.dir.join(PHP_DIR),
        };
        write_atomically(&files.ca_cert, self.cert_pem.as_bytes())?;
        write_atomically(&files.bundle, bundle.as_bytes())?;
        write_atomically(
            &files.truststore,
            &super::jks::trust_store(&roots, TRUSTSTORE_PASSWORD, crate::clock::now_ms()),
        )?;
        std::fs::create_dir_all(&files.php_dir)?;
        let bundle_path = files.bundle.display().to_string().replace('"', "");
        let ini = format!(
            "; Written by Switchboard: PHP's curl and openssl trust its local CA (and the system roots).\n\
             curl.cainfo=\"{bundle_path}\"\nopenssl.cafile=\"{bundle_path}\"\n"
        );
        write_atomically(&files.php_dir.join("switchboard.ini"), ini.as_bytes())?;
        Ok(files)
    }
}

/// Makes a new CA into `key_path`, unless another process made one first.
fn create(key_path: &Path) -> anyhow::Result<()> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    dn.push(DnType::OrganizationName, "Switchboard");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    // If the key ever leaks, certificates it signs are good for Twilio's names only (in the
    // clients that enforce constraints on a trust anchor: OpenSSL, Go, Java, Node do).
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("twilio.com".into())],
        excluded_subtrees: vec![],
    });
    params.serial_number = Some(random_serial());
    let (not_before, not_after) = validity(crate::clock::now_ms(), CA_LIFETIME)?;
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params.self_signed(&key)?;
    let contents = format!("{}{}", key.serialize_pem(), cert.pem());
    // Written under a temporary name, then linked into place: the link fails if another process
    // created the CA meanwhile, and that one wins.
    let tmp = key_path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = owner_only_file(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
    }
    let linked = std::fs::hard_link(&tmp, key_path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %key_path.display(), "created Switchboard's local CA");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("writing {}", key_path.display())),
    }
}

/// Opens a new file that only its owner may read.
fn owner_only_file(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).with_context(|| format!("creating {}", path.display()))
}

/// A CA key file that others can read is made owner-only again.
fn restrict_to_owner(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the CA key was readable by others: made it owner-only");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// Replaces `path` with `contents` in one step (readers never see half a file).
fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// From an hour ago to `lifetime` after now.
fn validity(now_ms: i64, lifetime: Duration) -> anyhow::Result<(time::OffsetDateTime, time::OffsetDateTime)> {
    let now = time::OffsetDateTime::from_unix_timestamp(now_ms / 1000)?;
    Ok((now - BACKDATE, now + lifetime))
}

/// A random positive 128-bit serial number.
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

/// DER as PEM with 64-character lines.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER contents of every `label` block in `pem`.
pub fn pem_blocks(pem: &str, label: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let Some(stop) = after.find(&end) else { break };
        let b64: String = after[..stop].chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.push(der);
        }
        rest = &after[stop + end.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    use x509_parser::prelude::*;

    #[test]
    fn only_names_under_twilio_com_are_twilio_hosts() {
        for yes in ["api.twilio.com", "API.Twilio.com.", "messaging.twilio.com", "api.sydney.au1.twilio.com"] {
            assert!(is_twilio_host(yes), "{yes}");
        }
        for no in [
            "twilio.com",
            "eviltwilio.com",
            "api.twilio.com.evil.net",
            ".twilio.com",
            "a..twilio.com",
            "x_y.twilio.com",
            "",
        ] {
            assert!(!is_twilio_host(no), "{no}");
        }
    }

    #[test]
    fn the_ca_is_made_once_with_an_owner_only_key_and_reloaded_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalCa::load_or_create(&dir.path().join("ca")).unwrap();
        let again = LocalCa::load_or_create(&dir.path().join("ca")).unwrap();
        assert_eq!(first.cert_pem(), again.cert_pem());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("ca").join(CA_KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (_, ca) = X509Certificate::from_der(first.cert_der()).unwrap();
        assert!(ca.is_ca());
        let bc = ca.basic_constraints().unwrap().unwrap();
        assert!(bc.critical);
        assert_eq!(bc.value.path_len_constraint, Some(0));
        let nc = ca.name_constraints().unwrap().expect("name constraints");
        assert!(nc.critical);
        let permitted = nc.value.permitted_subtrees.as_ref().unwrap();
        assert!(matches!(permitted[0].base, GeneralName::DNSName("twilio.com")));
        assert!(has_ext(&ca, "SKI"));
    }

    fn has_ext(cert: &X509Certificate<'_>, what: &str) -> bool {
        cert.extensions().iter().any(|e| {
            matches!(
                (what, e.parsed_extension()),
                ("SKI", ParsedExtension::SubjectKeyIdentifier(_)) | ("AKI", ParsedExtension::AuthorityKeyIdentifier(_))
            )
        })
    }

    #[test]
    fn a_leaf_names_its_host_points_to_the_ca_key_and_lives_at_most_397_days() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::load_or_create(dir.path()).unwrap();
        let leaf = ca.leaf("Messaging.Twilio.com").unwrap();
        let (_, cert) = X509Certificate::from_der(&leaf.cert[0]).unwrap();
        let (_, issuer) = X509Certificate::from_der(ca.cert_der()).unwrap();
        assert_eq!(cert.issuer(), issuer.subject());
        assert!(cert.verify_signature(Some(issuer.public_key())).is_ok());
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(san.value.general_names, vec![GeneralName::DNSName("messaging.twilio.com")]);
        // AKI of the leaf is the CA's SKI: OpenSSL's X509_STRICT (Python 3.13+) requires it.
        let aki = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.clone(),
                _ => None,
            })
            .expect("authority key identifier");
        let ski = issuer
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.clone()),
                _ => None,
            })
            .expect("CA subject key identifier");
        assert_eq!(aki.0, ski.0);
        let eku = cert.extended_key_usage().unwrap().unwrap();
        assert!(eku.value.server_auth);
        assert!(!cert.is_ca());
        let days = (cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp()) / 86400;
        assert!(days <= 397, "{days} days");
        let now = crate::clock::now_ms() / 1000;
        assert!(cert.validity().not_before.timestamp() < now && now < cert.validity().not_after.timestamp());
        // Cached: the same name gets the same certificate.
        assert_eq!(ca.leaf("messaging.twilio.com").unwrap().cert[0], leaf.cert[0]);
    }

    #[test]
    fn the_ca_refuses_to_sign_names_outside_twilio_com() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::load_or_create(dir.path()).unwrap();
        assert!(ca.leaf("example.com").is_err());
        assert!(ca.leaf("twilio.com.example.com").is_err());
    }

    #[test]
    fn client_files_hold_the_ca_first_in_the_bundle_and_point_php_at_it() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::load_or_create(dir.path()).unwrap();
        let files = ca.write_client_files().unwrap();
        let bundle = std::fs::read_to_string(&files.bundle).unwrap();
        assert_eq!(pem_blocks(&bundle, "CERTIFICATE")[0], ca.cert_der().to_vec());
        let ini = std::fs::read_to_string(files.php_dir.join("switchboard.ini")).unwrap();
        assert!(ini.contains(&format!("curl.cainfo=\"{}\"", files.bundle.display())));
        assert!(std::fs::read(&files.truststore).unwrap().starts_with(&[0xfe, 0xed, 0xfe, 0xed]));
        assert_eq!(std::fs::read_to_string(&files.ca_cert).unwrap(), ca.cert_pem());
    }
}
