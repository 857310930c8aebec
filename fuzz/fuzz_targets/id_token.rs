//! An OIDC ID token and a JWKS, from any bytes: parsing and verification must answer, never
//! panic, and no token verifies against keys it was not signed with (the fuzzer cannot forge
//! a signature, so any `Ok` is a bug).
#![no_main]

use arkivo_core::ca::token::{Jwks, UnverifiedToken};
use libfuzzer_sys::fuzz_target;

/// A JWKS with an RSA and a P-256 key nobody holds the private half of.
const JWKS: &str = r#"{"keys":[
 {"kty":"RSA","kid":"r","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"},
 {"kty":"EC","kid":"e","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

fuzz_target!(|data: &[u8]| {
    let jwks = Jwks::parse(JWKS.as_bytes()).expect("the fixed JWKS parses");
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(token) = UnverifiedToken::parse(text) {
            let _ = token.issuer();
            assert!(
                token
                    .verify(&jwks, "https://issuer", "sigstore", 1_700_000_000)
                    .is_err()
            );
        }
    }
    let _ = Jwks::parse(data);
});
