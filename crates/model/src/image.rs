//! Container image references, parsed once by the Docker reference grammar so that every
//! source (kubelet messages, Docker attributes, containerd names, Tetragon `repo@digest`)
//! compares on the same normalized form, and allowlist patterns that match whole path
//! segments so that look-alike registries cannot slip through.

use crate::memo::TextMemo;
use serde::Serialize;
use std::cell::RefCell;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

pub const DOCKER_HUB: &str = "docker.io";

/// A parsed image reference. Parsing never fails outright: a reference that breaks the
/// grammar keeps what could be read and records the problem, so the engine can treat it
/// as untrusted (an image nobody can verify) and say why.
///
/// The parts are shared: a node's records name the same few images thousands of times,
/// and every event, pod spec and tracked container holds one, so cloning a reference
/// costs a counter increment rather than four strings.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ImageRef(Arc<ImageParts>);

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ImageParts {
    /// Registry host, lowercased, with its port when one was given.
    pub registry: String,
    /// Repository path below the registry (`library/nginx`).
    pub path: String,
    pub tag: Option<String>,
    /// `algorithm:hex`, lowercased.
    pub digest: Option<String>,
    /// Why the reference breaks the grammar, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<&'static str>,
}

/// References longer than this are parsed every time rather than remembered: the
/// cache's memory stays bounded by count times this length.
const CACHED_LEN_MAX: usize = 256;

/// Parsed references remembered per thread; past this many the memory starts over.
const CACHED_MAX: usize = 4096;

thread_local! {
    static PARSED: RefCell<TextMemo<ImageRef>> =
        RefCell::new(TextMemo::new(CACHED_MAX, CACHED_LEN_MAX));
}

impl Deref for ImageRef {
    type Target = ImageParts;

    fn deref(&self) -> &ImageParts {
        &self.0
    }
}

impl fmt::Debug for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<ImageParts> for ImageRef {
    fn from(parts: ImageParts) -> ImageRef {
        ImageRef(Arc::new(parts))
    }
}

impl ImageRef {
    /// Parses a reference, or hands out the one this thread parsed from the same text.
    pub fn parse(raw: &str) -> ImageRef {
        PARSED.with(|cache| {
            cache
                .borrow_mut()
                .get_or(raw, || ImageRef::from(ImageParts::parse(raw)))
        })
    }

    /// Identifies the shared parse this reference points to: equal for clones of one
    /// parse, different for two live parses. Two equal references parsed apart have
    /// different ids; a memo keyed by it must hold the reference to keep it unique.
    pub fn parse_id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// Adds what `other` knows (a digest, a tag) when both name the same image.
    pub fn absorb(&mut self, other: &ImageRef) {
        let needs_digest = self.digest.is_none() && other.digest.is_some();
        let needs_tag = self.tag.is_none() && other.tag.is_some();
        if !(needs_digest || needs_tag) {
            return;
        }
        let parts = Arc::make_mut(&mut self.0);
        if needs_digest {
            parts.digest.clone_from(&other.digest);
        }
        if needs_tag {
            parts.tag.clone_from(&other.tag);
        }
    }
}

impl ImageParts {
    fn parse(raw: &str) -> ImageParts {
        let s = raw.trim();
        let s = strip_scheme(s);
        let mut problem = None;
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (s, None),
        };
        let digest = digest.map(|d| {
            let lower = d.to_ascii_lowercase();
            if !valid_digest(&lower) {
                problem = Some("malformed digest");
            }
            lower
        });
        // A tag is a ':' after the last '/', so a registry port is never taken for one.
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let split = last_slash + i;
                (&name_tag[..split], Some(name_tag[split + 1..].to_string()))
            }
            None => (name_tag, None),
        };
        if let Some(t) = &tag {
            if !valid_tag(t) {
                problem.get_or_insert("malformed tag");
            }
        }
        let (registry, mut path) = split_registry(name);
        if registry == DOCKER_HUB && !path.contains('/') && !path.is_empty() {
            path = format!("library/{path}");
        }
        if path.is_empty() {
            problem.get_or_insert("empty repository name");
        } else if !path.split('/').all(valid_path_component) {
            problem.get_or_insert(if path.bytes().any(|b| b.is_ascii_uppercase()) {
                "repository name must be lowercase"
            } else {
                "malformed repository name"
            });
        }
        if !valid_registry(&registry) {
            problem.get_or_insert("malformed registry host");
        }
        ImageParts {
            registry,
            path,
            tag,
            digest,
            problem,
        }
    }

    /// `registry/path`, the unit the allowlist speaks about.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    /// The tag a runtime would resolve: the given tag, `latest` when neither tag nor
    /// digest was given, none for a digest-only reference.
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t.as_str()),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// True when the reference names content that can change under it: no digest pin.
    pub fn is_mutable(&self) -> bool {
        self.digest.is_none()
    }

    /// Whether two references can name the same image: same repository, the same tag
    /// where both resolve one, and the same digest where both carry one.
    pub fn same_image(&self, other: &ImageRef) -> bool {
        if self.registry != other.registry || self.path != other.path {
            return false;
        }
        if let (Some(a), Some(b)) = (&self.digest, &other.digest) {
            return a == b;
        }
        match (self.effective_tag(), other.effective_tag()) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

impl fmt::Display for ImageRef {
    /// The normalized reference: `docker.io/library/nginx:latest`,
    /// `ghcr.io/x/y@sha256:…`, or both tag and digest when both are known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)?;
        if let Some(t) = self.effective_tag() {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn strip_scheme(s: &str) -> &str {
    for p in [
        "docker-pullable://",
        "docker://",
        "containerd://",
        "cri-o://",
        "https://",
        "http://",
    ] {
        if let Some(r) = s.strip_prefix(p) {
            return r;
        }
    }
    s
}

/// Docker's rule: the first segment is a registry when it has a dot or a port, is
/// `localhost`, or has uppercase letters (which a repository path may not have).
fn split_registry(name: &str) -> (String, String) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (canonical_registry(first), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    }
}

fn canonical_registry(host: &str) -> String {
    let lower = host.to_ascii_lowercase();
    match lower.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_string()
        }
        _ => lower,
    }
}

fn valid_path_component(c: &str) -> bool {
    // [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-')
}

fn valid_digest(d: &str) -> bool {
    match d.split_once(':') {
        Some((alg, hex)) => {
            !alg.is_empty()
                && alg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
                && hex.len() >= 32
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

fn valid_registry(r: &str) -> bool {
    let (host, port) = match r.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || r.starts_with('[') => (h, Some(p)),
        _ => (r, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// One `image_registry_allow_list` entry: a registry, optionally followed by repository
/// path segments, each of which may use `*` to match within that one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefPattern {
    source: String,
    segments: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefPatternError {
    #[error("empty allowlist entry")]
    Empty,
    #[error("allowlist entry {0:?} names a tag or digest; entries name registries and repository prefixes")]
    HasTag(String),
    #[error("allowlist entry {0:?} has an empty path segment")]
    EmptySegment(String),
}

impl RefPattern {
    /// Reads an entry the way Docker reads a reference's name: `registry.acme.internal`
    /// is a registry, `docker.io/library` a registry and path prefix, and a bare `nginx`
    /// is the official Docker Hub image `docker.io/library/nginx`.
    pub fn parse(entry: &str) -> Result<RefPattern, RefPatternError> {
        let e = entry.trim().trim_end_matches('/');
        if e.is_empty() {
            return Err(RefPatternError::Empty);
        }
        if e.contains('@') {
            return Err(RefPatternError::HasTag(entry.to_string()));
        }
        let looks_like_host = |s: &str| s.contains('.') || s.contains(':') || s == "localhost";
        let mut segments: Vec<String> = Vec::new();
        match e.split_once('/') {
            Some((first, rest))
                if looks_like_host(first) || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                segments.push(canonical_registry(first));
                segments.extend(rest.split('/').map(str::to_ascii_lowercase));
            }
            Some(_) => {
                segments.push(DOCKER_HUB.into());
                segments.extend(e.split('/').map(str::to_ascii_lowercase));
            }
            None if looks_like_host(e) || e.contains('*') => segments.push(canonical_registry(e)),
            None => {
                segments.push(DOCKER_HUB.into());
                segments.push("library".into());
                segments.push(e.to_ascii_lowercase());
            }
        }
        if segments.iter().any(String::is_empty) {
            return Err(RefPatternError::EmptySegment(entry.to_string()));
        }
        if segments[1..].iter().any(|s| s.contains(':')) {
            return Err(RefPatternError::HasTag(entry.to_string()));
        }
        Ok(RefPattern {
            source: entry.to_string(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when the pattern's segments are a whole-segment prefix of the reference's
    /// `registry/path` segments. A malformed reference never matches.
    pub fn matches(&self, r: &ImageRef) -> bool {
        if r.problem.is_some() {
            return false;
        }
        let mut target = std::iter::once(r.registry.as_str()).chain(r.path.split('/'));
        self.segments.iter().all(|p| match target.next() {
            Some(seg) => glob_segment(p, seg),
            None => false,
        })
    }
}

/// `*` matches any run of characters inside one segment; everything else is literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    glob_segment(pattern, text)
}

fn glob_segment(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        ImageRef::parse(s).to_string()
    }

    #[test]
    fn remembered_parses_equal_fresh_ones() {
        let raw = "Registry.Example:5000/team/app:1.2@SHA256:ABCDEF";
        let first = ImageRef::parse(raw);
        let again = ImageRef::parse(raw);
        assert_eq!(first, again);
        assert_eq!(*first, ImageParts::parse(raw));
        assert!(
            Arc::ptr_eq(&first.0, &again.0),
            "the second parse is the remembered one"
        );
        // Too long to remember: parsed each time, to the same result.
        let long = format!("ghcr.io/{}/x:1", "a".repeat(CACHED_LEN_MAX));
        let (a, b) = (ImageRef::parse(&long), ImageRef::parse(&long));
        assert_eq!(a, b);
        assert!(!Arc::ptr_eq(&a.0, &b.0));
        // More distinct names than the cache keeps: it starts over, answers stay right.
        for i in 0..CACHED_MAX + 10 {
            let r = format!("docker.io/u/img{i}:v{i}");
            assert_eq!(
                ImageRef::parse(&r).tag.as_deref(),
                Some(format!("v{i}").as_str())
            );
        }
        PARSED.with(|c| assert!(c.borrow().len() <= CACHED_MAX));
    }

    #[test]
    fn absorbing_does_not_change_other_holders() {
        let mut tagged = ImageRef::parse("ghcr.io/a/b:1");
        let shared = ImageRef::parse("ghcr.io/a/b:1");
        tagged.absorb(&ImageRef::parse("ghcr.io/a/b@sha256:00"));
        assert_eq!(tagged.digest.as_deref(), Some("sha256:00"));
        assert_eq!(shared.digest, None);
        assert_eq!(ImageRef::parse("ghcr.io/a/b:1").digest, None);
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(norm("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(norm("bitnami/redis"), "docker.io/bitnami/redis:latest");
        assert_eq!(
            norm("index.docker.io/library/x"),
            "docker.io/library/x:latest"
        );
        assert_eq!(
            norm("registry-1.docker.io/library/x:2"),
            "docker.io/library/x:2"
        );
        assert_eq!(norm("docker.io/nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(
            norm("registry.acme.internal:5000/team/app:v1"),
            "registry.acme.internal:5000/team/app:v1"
        );
        assert_eq!(norm("10.0.0.5:5000/app"), "10.0.0.5:5000/app:latest");
        let d = "sha256:8e86f744bfea165fd4ce68caa05abc96500f40130b857773186401926af7e9e6";
        assert_eq!(
            norm(&format!("docker.io/tgraf/netperf@{d}")),
            format!("docker.io/tgraf/netperf@{d}")
        );
        assert_eq!(
            norm(&format!("nginx:1.25@{d}")),
            format!("docker.io/library/nginx:1.25@{d}")
        );
        assert_eq!(
            norm("docker-pullable://nginx:1"),
            "docker.io/library/nginx:1"
        );
        assert_eq!(
            norm("Registry.ACME.internal/app"),
            "registry.acme.internal/app:latest"
        );
    }

    #[test]
    fn grammar_violations_are_recorded() {
        assert_eq!(
            ImageRef::parse("docker.io/Library/nginx").problem,
            Some("repository name must be lowercase")
        );
        assert_eq!(ImageRef::parse("nginx:").problem, Some("malformed tag"));
        assert_eq!(
            ImageRef::parse("nginx@sha256:zz").problem,
            Some("malformed digest")
        );
        assert_eq!(ImageRef::parse("").problem, Some("empty repository name"));
        assert_eq!(
            ImageRef::parse("a..b/c").problem,
            Some("malformed registry host")
        );
        assert_eq!(
            ImageRef::parse("evil.com:/c").problem,
            Some("malformed registry host")
        );
        assert!(ImageRef::parse("ghcr.io/x/y:1").problem.is_none());
    }

    #[test]
    fn same_image_respects_tags_and_digests() {
        let d1 = "@sha256:1111111111111111111111111111111111111111111111111111111111111111";
        let d2 = "@sha256:2222222222222222222222222222222222222222222222222222222222222222";
        let a = ImageRef::parse("nginx");
        assert!(a.same_image(&ImageRef::parse("docker.io/library/nginx:latest")));
        assert!(!a.same_image(&ImageRef::parse("nginx:1.25")));
        assert!(ImageRef::parse(&format!("nginx{d1}")).same_image(&ImageRef::parse("nginx:1")));
        assert!(!ImageRef::parse(&format!("nginx:1{d1}"))
            .same_image(&ImageRef::parse(&format!("nginx:1{d2}"))));
        assert!(!a.same_image(&ImageRef::parse("evil/nginx")));
    }

    fn allowed(entry: &str, image: &str) -> bool {
        RefPattern::parse(entry)
            .unwrap()
            .matches(&ImageRef::parse(image))
    }

    #[test]
    fn allowlist_matches_whole_segments() {
        assert!(allowed("docker.io/library", "nginx"));
        assert!(allowed(
            "docker.io/library",
            "index.docker.io/library/nginx:1"
        ));
        assert!(allowed(
            "docker.io/library",
            "registry-1.docker.io/library/x"
        ));
        assert!(!allowed("docker.io/library", "docker.io/library-evil/x"));
        assert!(!allowed("docker.io/library", "evil/nginx"));
        assert!(allowed(
            "registry.acme.internal",
            "registry.acme.internal/team/app"
        ));
        assert!(allowed(
            "registry.acme.internal",
            "REGISTRY.ACME.INTERNAL/team/app"
        ));
        assert!(!allowed(
            "registry.acme.internal",
            "registry.acme.internal.evil.com/x"
        ));
        assert!(!allowed(
            "registry.acme.internal",
            "evil.com/registry.acme.internal/x"
        ));
        assert!(!allowed(
            "registry.acme.internal",
            "registry.acme.internal:5000/x"
        ));
        assert!(allowed(
            "registry.acme.internal:5000",
            "registry.acme.internal:5000/x"
        ));
        assert!(!allowed("docker.io", "docker.io.evil.com/x"));
        assert!(allowed("docker.io", "alpine"));
        assert!(allowed("nginx", "nginx:1.25"));
        assert!(!allowed("nginx", "nginx-evil"));
        assert!(!allowed("docker.io/library", "docker.io/Library/nginx"));
    }

    #[test]
    fn allowlist_star_stays_inside_one_segment() {
        let ecr = "123456789012.dkr.ecr.*.amazonaws.com";
        assert!(allowed(
            ecr,
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1"
        ));
        assert!(!allowed(
            ecr,
            "123456789012.dkr.ecr.evil.com/x.amazonaws.com/app"
        ));
        assert!(!allowed(
            ecr,
            "999999999999.dkr.ecr.eu-west-1.amazonaws.com/app"
        ));
        assert!(allowed("ghcr.io/acme-*", "ghcr.io/acme-platform/app"));
        assert!(!allowed("ghcr.io/acme-*", "ghcr.io/evil/acme-x"));
    }

    #[test]
    fn bad_entries_are_rejected() {
        assert_eq!(RefPattern::parse(" "), Err(RefPatternError::Empty));
        assert!(matches!(
            RefPattern::parse("nginx@sha256:ab"),
            Err(RefPatternError::HasTag(_))
        ));
        assert!(matches!(
            RefPattern::parse("docker.io/library/nginx:1"),
            Err(RefPatternError::HasTag(_))
        ));
        assert!(matches!(
            RefPattern::parse("ghcr.io//x"),
            Err(RefPatternError::EmptySegment(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let r = ImageRef::parse(&s);
            let _ = r.to_string();
        }
    }
}
