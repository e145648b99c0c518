//! `egov-sim --gen-certs DIR`: a CA, the server's certificate (127.0.0.1 and localhost),
//! the kiosk's client certificate, and the issuing authority's ed25519 key, for a test or
//! demo setup. Nothing here is for a real network.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::path::Path;

/// Writes `ca.pem`, `ca.key`, `server.pem`, `server.key`, `kiosk.pem`, `kiosk.key`,
/// `authority.key` (hex secret) and `authority.pub` (hex public key) into `dir`.
pub fn generate(dir: &Path, kiosk_id: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (ca_pem, ca_key, ca_params) = ca("e-government test CA")?;
    let issuer = Issuer::new(ca_params, ca_key);
    // Private keys (`*.key`) readable by their owner only: the kiosk refuses others.
    let write = |name: &str, text: &str| -> Result<()> {
        let mode = if name.ends_with(".key") { 0o600 } else { 0o644 };
        write_mode(&dir.join(name), text, mode).with_context(|| format!("writing {name}"))
    };
    write("ca.pem", &ca_pem)?;
    write("ca.key", &issuer.key().serialize_pem())?;

    let mut server = CertificateParams::new(vec!["localhost".to_owned()])?;
    server
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse()?));
    server
        .distinguished_name
        .push(DnType::CommonName, "egov-sim");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate()?;
    let server_cert = server.signed_by(&server_key, &issuer)?;
    write("server.pem", &server_cert.pem())?;
    write("server.key", &server_key.serialize_pem())?;

    let mut kiosk = CertificateParams::new(Vec::<String>::new())?;
    kiosk.distinguished_name.push(DnType::CommonName, kiosk_id);
    kiosk.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let kiosk_key = KeyPair::generate()?;
    let kiosk_cert = kiosk.signed_by(&kiosk_key, &issuer)?;
    write("kiosk.pem", &kiosk_cert.pem())?;
    write("kiosk.key", &kiosk_key.serialize_pem())?;

    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    let authority = ed25519_dalek::SigningKey::from_bytes(&seed);
    write("authority.key", &hex::encode(authority.to_bytes()))?;
    write(
        "authority.pub",
        &hex::encode(authority.verifying_key().to_bytes()),
    )?;
    Ok(())
}

fn ca(name: &str) -> Result<(String, KeyPair, CertificateParams)> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate()?;
    let cert = p.self_signed(&key)?;
    Ok((cert.pem(), key, p))
}

fn write_mode(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.write_all(text.as_bytes())
}

/// A second, unrelated CA with a client certificate signed by it (for tests that a kiosk
/// certificate from elsewhere is refused): writes `ca.pem`, `kiosk.pem`, `kiosk.key`.
pub fn generate_foreign(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let (ca_pem, ca_key, ca_params) = ca("someone else's CA")?;
    let issuer = Issuer::new(ca_params, ca_key);
    std::fs::write(dir.join("ca.pem"), ca_pem)?;
    let mut kiosk = CertificateParams::new(vec!["localhost".to_owned()])?;
    kiosk
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse()?));
    kiosk
        .distinguished_name
        .push(DnType::CommonName, "intruder");
    kiosk.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let key = KeyPair::generate()?;
    let cert = kiosk.signed_by(&key, &issuer)?;
    std::fs::write(dir.join("kiosk.pem"), cert.pem())?;
    write_mode(&dir.join("kiosk.key"), &key.serialize_pem(), 0o600)?;
    std::fs::write(dir.join("server.pem"), cert.pem())?;
    write_mode(&dir.join("server.key"), &key.serialize_pem(), 0o600)?;
    Ok(())
}
