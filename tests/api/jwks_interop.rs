//! authgate's tokens verify against its published JWK Set with PyJWT, an
//! implementation that shares no code with authgate's
//! (`tests/interop/pyjwt_verify.py`; installed into a venv under
//! `target/tmp` on first use).

use std::process::Command;

use authgate::crypto::signing::JwtAlgorithm;

use super::helpers::*;
use super::keys::{jwks, with};

#[tokio::test]
async fn pyjwt_verifies_tokens_against_the_published_jwks() {
    for alg in [JwtAlgorithm::EdDsa, JwtAlgorithm::Es256, JwtAlgorithm::Rs256] {
        // Arrange
        let app = spawn_app_with(with(alg)).await;
        let (user_id, access, refresh) = app.signed_in(EMAIL).await;
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        let file = dir.join(format!("jwks-{}-{}.json", alg.as_str(), app.addr.port()));
        std::fs::write(&file, jwks(&app).await.to_string()).expect("the JWKS is written");
        let (head, rest) = access.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged = format!("{head}.{}.{signature}", refresh.split('.').nth(1).unwrap());

        // Act
        let out = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/pyjwt_verify.py"))
            .arg(dir.join("pyjwt-venv"))
            .arg(&file)
            .args([&access, &refresh, &forged])
            .output()
            .expect("python3 runs");

        // Assert
        if out.status.code() == Some(77) {
            eprintln!(
                "SKIPPED: pip could not install pyjwt and cryptography: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<String> = stdout.lines().map(String::from).collect();
        assert_eq!(
            lines,
            [format!("ok {user_id} access"), format!("ok {user_id} refresh"), "fail InvalidSignatureError".to_string()],
            "{alg}"
        );
        std::fs::remove_file(&file).ok();
    }
}
