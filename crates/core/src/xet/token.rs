//! Xet access tokens: what `xet-read-token`/`xet-write-token` hand out and every CAS call carries.
//!
//! A token is self-contained and sealed with the server's key: scope, repository, and who obtained it
//! (user and Hub token), plus its expiry. It is not trusted on its own: each CAS call re-derives the
//! caller from the user and Hub token it names and asks the one decision function again, so a revoked
//! token, a removed member or a repository made private stops Xet access within the cache lifetime, as
//! it does for every other route.

use crate::signing;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "r",
            Scope::Write => "w",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grant {
    pub scope: Scope,
    pub repo_id: i64,
    /// None for an anonymous reader of a public repository.
    pub user_id: Option<i64>,
    /// The Hub token the user presented, if any (None for other kinds of sign-in).
    pub token_id: Option<i64>,
    /// Unix seconds.
    pub exp: i64,
}

const PREFIX: &str = "xet1";

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn parse_opt(s: &str) -> Option<Option<i64>> {
    if s == "-" {
        Some(None)
    } else {
        s.parse().ok().map(Some)
    }
}

impl Grant {
    fn purpose(&self) -> String {
        format!("{PREFIX}.{}.{}.{}.{}", self.scope.as_str(), self.repo_id, opt(self.user_id), opt(self.token_id))
    }

    /// `xet1.<scope>.<repo>.<user>.<token>.<exp>.<mac>`.
    pub fn encode(&self, key: &[u8]) -> String {
        format!("{}.{}.{}", self.purpose(), self.exp, signing::sign(key, &self.purpose(), self.exp))
    }

    /// The grant a token carries, if its seal is intact and it has not expired.
    pub fn decode(key: &[u8], token: &str, now_secs: i64) -> Option<Grant> {
        let parts: Vec<&str> = token.split('.').collect();
        let [prefix, scope, repo, user, tok, exp, mac] = parts.as_slice() else { return None };
        if *prefix != PREFIX {
            return None;
        }
        let scope = match *scope {
            "r" => Scope::Read,
            "w" => Scope::Write,
            _ => return None,
        };
        let grant = Grant {
            scope,
            repo_id: repo.parse().ok()?,
            user_id: parse_opt(user)?,
            token_id: parse_opt(tok)?,
            exp: exp.parse().ok()?,
        };
        signing::verify(key, &grant.purpose(), grant.exp, mac, now_secs).then_some(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_resist_tampering() {
        let key = b"k";
        let g = Grant { scope: Scope::Read, repo_id: 7, user_id: Some(3), token_id: None, exp: 1000 };
        let t = g.encode(key);
        assert_eq!(Grant::decode(key, &t, 999), Some(g.clone()));
        assert_eq!(Grant::decode(key, &t, 1001), None, "expired");
        assert_eq!(Grant::decode(b"other", &t, 999), None, "another server's key");
        for (from, to) in [(".r.", ".w."), (".7.", ".8."), (".3.", ".4."), (".-.", ".5."), (".1000.", ".2000.")] {
            assert_eq!(Grant::decode(key, &t.replacen(from, to, 1), 999), None, "{from} -> {to}");
        }
        assert_eq!(Grant::decode(key, "xet1.r.7", 0), None);
        assert_eq!(Grant::decode(key, "", 0), None);
    }
}
