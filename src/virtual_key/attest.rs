//! Attestation chains for the virtual models, minted at runtime with rcgen:
//! one self-signed P-256 root per model and key directory
//! (`DIR/attestation-roots/model-a.pem`, its private key beside it), and one
//! leaf per key, shaped as FIDO packed attestation requires (subject OU
//! "Authenticator Attestation", CA:FALSE, the AAGUID extension
//! 1.3.6.1.4.1.45724.1.1.4). Nothing here ever chains to a real vendor.

use std::fmt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

use super::model::{Model, ModelId};
use super::state::AttestationKey;

const ROOTS_DIR: &str = "attestation-roots";
const OID_FIDO_AAGUID: &[u64] = &[1, 3, 6, 1, 4, 1, 45724, 1, 1, 4];

#[derive(Debug)]
pub enum AttestError {
    Mint(String),
    Io(PathBuf, String),
}

impl fmt::Display for AttestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttestError::Mint(e) => {
                write!(f, "could not mint a virtual attestation certificate: {e}")
            }
            AttestError::Io(p, e) => write!(f, "virtual attestation root {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for AttestError {}

impl From<AttestError> for crate::Error {
    fn from(e: AttestError) -> Self {
        crate::Error::input(
            e.to_string(),
            "check the key directory's attestation-roots/ folder (both the .pem and .key.pem of a model must be present and readable), or use a fresh directory",
        )
    }
}

fn mint_err(e: rcgen::Error) -> AttestError {
    AttestError::Mint(e.to_string())
}

fn root_params(model: &Model) -> CertificateParams {
    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::OrganizationName, "glasskey virtual keys");
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("{} attestation root (not a real vendor)", model.name),
    );
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca
}

fn root_paths(dir: &Path, model: &Model) -> (PathBuf, PathBuf) {
    let roots = dir.join(ROOTS_DIR);
    (
        roots.join(format!("{}.pem", model.short)),
        roots.join(format!("{}.key.pem", model.short)),
    )
}

/// The model's root signing identity in `dir`, minted on first use.
fn load_or_mint_root(dir: &Path, model: &Model) -> Result<Issuer<'static, KeyPair>, AttestError> {
    let (cert_path, key_path) = root_paths(dir, model);
    if key_path.exists() {
        let pem = std::fs::read_to_string(&key_path)
            .map_err(|e| AttestError::Io(key_path.clone(), e.to_string()))?;
        let key = KeyPair::from_pem(&pem).map_err(|e| AttestError::Io(key_path, e.to_string()))?;
        if !cert_path.exists() {
            return Err(AttestError::Io(cert_path, "missing".into()));
        }
        return Ok(Issuer::new(root_params(model), key));
    }
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e: std::io::Error| AttestError::Io(p, e.to_string())
    };
    let roots = dir.join(ROOTS_DIR);
    std::fs::create_dir_all(&roots).map_err(io(&roots))?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(mint_err)?;
    let cert = root_params(model).self_signed(&key).map_err(mint_err)?;
    write_private(&key_path, key.serialize_pem().as_bytes()).map_err(io(&key_path))?;
    std::fs::write(&cert_path, cert.pem()).map_err(io(&cert_path))?;
    Ok(Issuer::new(root_params(model), key))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// Mint the attestation leaf of a new key of `model`, signed by the model root in `dir`.
pub fn mint_leaf(dir: &Path, model: &Model, serial: &str) -> Result<AttestationKey, AttestError> {
    let issuer = load_or_mint_root(dir, model)?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(mint_err)?;
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name = DistinguishedName::new();
    for (t, v) in [
        (DnType::CountryName, "US".to_string()),
        (
            DnType::OrganizationName,
            "glasskey virtual keys".to_string(),
        ),
        (
            DnType::OrganizationalUnitName,
            "Authenticator Attestation".to_string(),
        ),
        (DnType::CommonName, format!("{} {serial}", model.name)),
    ] {
        leaf.distinguished_name.push(t, v);
    }
    leaf.is_ca = IsCa::ExplicitNoCa;
    let mut ext = vec![0x04, 0x10];
    ext.extend_from_slice(&model.aaguid.0);
    leaf.custom_extensions = vec![CustomExtension::from_oid_content(OID_FIDO_AAGUID, ext)];
    let cert = leaf.signed_by(&key, &issuer).map_err(mint_err)?;
    Ok(AttestationKey {
        cert_der: cert.der().to_vec(),
        key_pkcs8: key.serialize_der(),
    })
}

/// The root PEMs of every model minted in `dir` (for the verifier and the Graph emulator).
pub fn model_roots(dir: &Path) -> Result<Vec<String>, AttestError> {
    let mut out = Vec::new();
    for id in ModelId::ALL {
        let (cert_path, _) = root_paths(dir, id.model());
        match std::fs::read_to_string(&cert_path) {
            Ok(pem) => out.push(pem),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(AttestError::Io(cert_path, e.to_string())),
        }
    }
    Ok(out)
}
