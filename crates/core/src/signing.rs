//! Self-authorising URLs. The LFS client PUTs content without any credentials (spec §4.4), so the URL
//! itself carries what it allows and until when, sealed with an HMAC over the server's secret key.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// `exp` (unix seconds) and the hex MAC over `purpose` and `exp`.
pub fn sign(key: &[u8], purpose: &str, exp: i64) -> String {
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else { return String::new() };
    mac.update(purpose.as_bytes());
    mac.update(b"\n");
    mac.update(exp.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time check of a signature, and that it has not expired.
pub fn verify(key: &[u8], purpose: &str, exp: i64, sig: &str, now_secs: i64) -> bool {
    if exp < now_secs {
        return false;
    }
    let Ok(sig) = hex::decode(sig) else { return false };
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else { return false };
    mac.update(purpose.as_bytes());
    mac.update(b"\n");
    mac.update(exp.to_string().as_bytes());
    mac.verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_purpose_and_expiry() {
        let k = b"k3y";
        let s = sign(k, "upload 1 abc 5", 100);
        assert!(verify(k, "upload 1 abc 5", 100, &s, 50));
        assert!(!verify(k, "upload 1 abc 6", 100, &s, 50));
        assert!(!verify(k, "upload 1 abc 5", 101, &s, 50));
        assert!(!verify(k, "upload 1 abc 5", 100, &s, 101));
        assert!(!verify(b"other", "upload 1 abc 5", 100, &s, 50));
        assert!(!verify(k, "upload 1 abc 5", 100, "zz", 50));
    }
}
