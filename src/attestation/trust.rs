//! The trust store: which roots glasskey believes, and which certificates it
//! may use to build a path to them.
//!
//! Production anchors are the top-level `vendor-attestation/*.pem`, compiled into
//! the binary so a verification on an air-gapped laptop uses exactly the roots
//! that were reviewed in the repository. `vendor-attestation/intermediates/` is an
//! untrusted pool: a certificate there only helps when it chains up to an anchor.
//! `preview/` and `platform/` are deliberately absent: pre-release and platform
//! (TPM, Apple) roots must never make a security key look genuine.
//! Deployments add their own roots at run time ([`TrustStore::add_root_pem`]),
//! e.g. from the kit's `roots/` folder, or the roots minted for virtual keys.

use std::io::Read;
use std::path::Path;

use base64::Engine;

use super::certs::Cert;
use super::AttestError;

/// Most certificates read from one PEM text (a bundle of roots is small).
const MAX_PEM_CERTS: usize = 64;

/// Largest root file read (a PEM bundle of MAX_PEM_CERTS is far below this).
const MAX_ROOT_FILE: u64 = 512 * 1024;

/// Most files read from one roots folder.
const MAX_ROOT_FILES: usize = 256;

/// (file name, contents) of every production anchor.
const SHIPPED_ROOTS: &[(&str, &str)] = &[
    (
        "feitian-fido-root-ca-cn.pem",
        include_str!("../../vendor-attestation/feitian-fido-root-ca-cn.pem"),
    ),
    (
        "feitian-fido-root-ca-us.pem",
        include_str!("../../vendor-attestation/feitian-fido-root-ca-us.pem"),
    ),
    (
        "feitian-u2f-root-ft-fido-0200.pem",
        include_str!("../../vendor-attestation/feitian-u2f-root-ft-fido-0200.pem"),
    ),
    (
        "hyperfido-u2f-root-0200.pem",
        include_str!("../../vendor-attestation/hyperfido-u2f-root-0200.pem"),
    ),
    (
        "hyperfido-u2f-root-ft-fido-0100.pem",
        include_str!("../../vendor-attestation/hyperfido-u2f-root-ft-fido-0100.pem"),
    ),
    (
        "nitrokey-fido2-root-ca.pem",
        include_str!("../../vendor-attestation/nitrokey-fido2-root-ca.pem"),
    ),
    (
        "nitrokey-u2f-root-ca-2.pem",
        include_str!("../../vendor-attestation/nitrokey-u2f-root-ca-2.pem"),
    ),
    (
        "solokeys-solo1-root-ca.pem",
        include_str!("../../vendor-attestation/solokeys-solo1-root-ca.pem"),
    ),
    (
        "yubico-attestation-root-1.pem",
        include_str!("../../vendor-attestation/yubico-attestation-root-1.pem"),
    ),
    (
        "yubico-fido-root-ca-serial-450203556.pem",
        include_str!("../../vendor-attestation/yubico-fido-root-ca-serial-450203556.pem"),
    ),
    (
        "yubico-u2f-root-ca-serial-457200631.pem",
        include_str!("../../vendor-attestation/yubico-u2f-root-ca-serial-457200631.pem"),
    ),
];

/// Untrusted intermediates shipped for path building.
const SHIPPED_INTERMEDIATES: &[(&str, &str)] = &[
    ("intermediates/feitian-fido2-ca-1.pem", include_str!("../../vendor-attestation/intermediates/feitian-fido2-ca-1.pem")),
    (
        "intermediates/yubico-intermediate-yubico-attestation-intermediate-a-1.pem",
        include_str!("../../vendor-attestation/intermediates/yubico-intermediate-yubico-attestation-intermediate-a-1.pem"),
    ),
    (
        "intermediates/yubico-intermediate-yubico-attestation-intermediate-b-1.pem",
        include_str!("../../vendor-attestation/intermediates/yubico-intermediate-yubico-attestation-intermediate-b-1.pem"),
    ),
    (
        "intermediates/yubico-intermediate-yubico-fido-attestation-a-1.pem",
        include_str!("../../vendor-attestation/intermediates/yubico-intermediate-yubico-fido-attestation-a-1.pem"),
    ),
    (
        "intermediates/yubico-intermediate-yubico-fido-attestation-b-1.pem",
        include_str!("../../vendor-attestation/intermediates/yubico-intermediate-yubico-fido-attestation-b-1.pem"),
    ),
    (
        "intermediates/yubico-intermediate-yubico-fido-attestation-b2-1.pem",
        include_str!("../../vendor-attestation/intermediates/yubico-intermediate-yubico-fido-attestation-b2-1.pem"),
    ),
];

/// The names of the shipped anchor files (for tests and `--json` output).
pub fn shipped_root_files() -> impl Iterator<Item = &'static str> {
    SHIPPED_ROOTS.iter().map(|(name, _)| *name)
}

/// A trusted root and where it came from.
#[derive(Debug, Clone)]
pub struct Anchor {
    /// File name or caller-given label ("vendor-attestation/yubico-...pem", "kit roots/x.pem").
    pub label: String,
    pub cert: Cert,
}

/// Anchors plus an untrusted pool of intermediates.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: Vec<Anchor>,
    pool: Vec<Cert>,
}

impl TrustStore {
    /// A store that trusts nothing (tests, or a deployment that wants only its own roots).
    pub fn empty() -> TrustStore {
        TrustStore::default()
    }

    /// The production store: shipped vendor roots and intermediates.
    pub fn production() -> TrustStore {
        let mut store = TrustStore::empty();
        for (name, pem) in SHIPPED_ROOTS {
            // The shipped files are tested to parse (tests below); a broken one is skipped, not fatal.
            let _ = store.add_root_pem(&format!("vendor-attestation/{name}"), pem);
        }
        for (_, pem) in SHIPPED_INTERMEDIATES {
            if let Ok(certs) = parse_pem_certs(pem) {
                store.pool.extend(certs);
            }
        }
        store
    }

    /// Trust every certificate in a PEM text (`#` comment lines are allowed around
    /// the blocks). Returns how many were added.
    pub fn add_root_pem(&mut self, label: &str, pem: &str) -> Result<usize, AttestError> {
        let certs = parse_pem_certs(pem)?;
        if certs.is_empty() {
            return Err(AttestError::Malformed(format!(
                "{label} holds no PEM CERTIFICATE block"
            )));
        }
        let n = certs.len();
        for cert in certs {
            self.push_anchor(label, cert);
        }
        Ok(n)
    }

    /// Trust every certificate in a PEM file; the label is the path.
    pub fn add_root_file(&mut self, path: &Path) -> Result<usize, AttestError> {
        let shown = path.display();
        let file = std::fs::File::open(path)
            .map_err(|e| AttestError::BadRoot(format!("cannot open root file {shown}: {e}")))?;
        let mut bytes = Vec::new();
        file.take(MAX_ROOT_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| AttestError::BadRoot(format!("cannot read root file {shown}: {e}")))?;
        if bytes.len() as u64 > MAX_ROOT_FILE {
            return Err(AttestError::BadRoot(format!(
                "root file {shown} is larger than {MAX_ROOT_FILE} bytes"
            )));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| AttestError::BadRoot(format!("root file {shown} is not PEM text")))?;
        self.add_root_pem(&shown.to_string(), &text)
            .map_err(|e| AttestError::BadRoot(format!("root file {shown}: {e}")))
    }

    /// Trust every `*.pem` in a folder (a kit's `roots/`), in name order. A missing
    /// folder adds nothing; an unreadable file is an error, never skipped silently,
    /// so an operator cannot believe a root is trusted when it is not.
    pub fn add_roots_dir(&mut self, dir: &Path) -> Result<usize, AttestError> {
        if !dir.is_dir() {
            return Ok(0);
        }
        let entries = std::fs::read_dir(dir)
            .map_err(|e| AttestError::BadRoot(format!("cannot list {}: {e}", dir.display())))?;
        let mut files: Vec<std::path::PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pem"))
            .take(MAX_ROOT_FILES + 1)
            .collect();
        if files.len() > MAX_ROOT_FILES {
            return Err(AttestError::BadRoot(format!(
                "{} holds more than {MAX_ROOT_FILES} .pem files",
                dir.display()
            )));
        }
        files.sort();
        let mut added = 0;
        for path in files {
            added += self.add_root_file(&path)?;
        }
        Ok(added)
    }

    /// Trust one DER certificate.
    pub fn add_root_der(&mut self, label: &str, der: &[u8]) -> Result<(), AttestError> {
        let cert = Cert::from_der(der)?;
        self.push_anchor(label, cert);
        Ok(())
    }

    /// Offer an untrusted intermediate for path building.
    pub fn add_intermediate_der(&mut self, der: &[u8]) -> Result<(), AttestError> {
        self.pool.push(Cert::from_der(der)?);
        Ok(())
    }

    fn push_anchor(&mut self, label: &str, cert: Cert) {
        if !self.anchors.iter().any(|a| a.cert.der() == cert.der()) {
            self.anchors.push(Anchor {
                label: label.to_string(),
                cert,
            });
        }
    }

    pub fn anchors(&self) -> &[Anchor] {
        &self.anchors
    }

    pub fn intermediates(&self) -> &[Cert] {
        &self.pool
    }
}

/// Every CERTIFICATE block in a PEM text. Lines outside blocks (the `#` provenance
/// headers of vendor-attestation/) are ignored; a damaged block is an error.
pub fn parse_pem_certs(pem: &str) -> Result<Vec<Cert>, AttestError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut certs = Vec::new();
    let mut body: Option<String> = None;
    for line in pem.lines() {
        let line = line.trim();
        match (&mut body, line) {
            (None, BEGIN) => body = Some(String::new()),
            (None, _) => {}
            (Some(b), END) => {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b.as_bytes())
                    .map_err(|e| {
                        AttestError::Malformed(format!("PEM certificate block is not base64: {e}"))
                    })?;
                certs.push(Cert::from_der(&der)?);
                body = None;
                if certs.len() > MAX_PEM_CERTS {
                    return Err(AttestError::Malformed(format!(
                        "more than {MAX_PEM_CERTS} certificates in one PEM text"
                    )));
                }
            }
            (Some(b), l) => {
                if b.len() > 4 * super::certs::MAX_CERT_LEN {
                    return Err(AttestError::Malformed(
                        "PEM certificate block is too long".into(),
                    ));
                }
                b.push_str(l);
            }
        }
    }
    if body.is_some() {
        return Err(AttestError::Malformed(
            "PEM certificate block has no END line".into(),
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_root_and_intermediate_parses() {
        for (name, pem) in SHIPPED_ROOTS.iter().chain(SHIPPED_INTERMEDIATES) {
            let certs = parse_pem_certs(pem).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(certs.len(), 1, "{name}");
            assert!(certs[0].public_key().is_ok(), "{name}: key unreadable");
        }
        let store = TrustStore::production();
        assert_eq!(store.anchors().len(), SHIPPED_ROOTS.len());
        assert_eq!(store.intermediates().len(), SHIPPED_INTERMEDIATES.len());
    }

    #[test]
    fn shipped_list_matches_the_folder() {
        // A root dropped into vendor-attestation/ but not listed here would silently not be trusted.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/vendor-attestation");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".pem"))
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = shipped_root_files().map(String::from).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
    }

    #[test]
    fn header_fingerprint_matches_der() {
        // The `# SHA-256 fingerprint of DER:` header must describe the certificate below it.
        for (name, pem) in SHIPPED_ROOTS {
            let want = pem
                .lines()
                .find_map(|l| l.strip_prefix("# SHA-256 fingerprint of DER: "))
                .unwrap_or_else(|| panic!("{name} has no fingerprint header"));
            let cert = &parse_pem_certs(pem).unwrap()[0];
            assert_eq!(cert.sha256_hex(), want.trim(), "{name}");
        }
    }

    #[test]
    fn roots_folder_adds_pem_files_and_refuses_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TrustStore::empty();
        assert_eq!(store.add_roots_dir(&dir.path().join("absent")).unwrap(), 0);
        let (name, pem) = SHIPPED_ROOTS[0];
        std::fs::write(dir.path().join(name), pem).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a root, not read").unwrap();
        assert_eq!(store.add_roots_dir(dir.path()).unwrap(), 1);
        assert_eq!(store.anchors().len(), 1);
        assert!(store.anchors()[0].label.ends_with(name));
        std::fs::write(
            dir.path().join("zz-broken.pem"),
            "-----BEGIN CERTIFICATE-----\nAAAA\n",
        )
        .unwrap();
        match store.add_roots_dir(dir.path()) {
            Err(AttestError::BadRoot(m)) => assert!(m.contains("zz-broken.pem"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn damaged_pem_is_an_error() {
        assert!(parse_pem_certs(
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"
        )
        .is_err());
        assert!(parse_pem_certs("-----BEGIN CERTIFICATE-----\nMIIB\n").is_err());
        assert!(parse_pem_certs("# only comments\n").unwrap().is_empty());
        let mut s = TrustStore::empty();
        assert!(s.add_root_pem("x", "nothing here").is_err());
    }
}
