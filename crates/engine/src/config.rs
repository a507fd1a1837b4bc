//! The strategy's tunables (DET0248's mutable elements), in one YAML file with built-in
//! defaults. Values are validated while they are read, so a bad value is reported with
//! the key, line and column it sits at, and unknown (misspelt) keys are rejected.

use ipnet::IpNet;
use pullwatch_model::time::Dur;
use pullwatch_model::RefPattern;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}:{line}:{column}: {message}")]
    Located {
        origin: String,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("{origin}: {message}")]
    Unlocated { origin: String, message: String },
}

/// The effective configuration. Field names are the YAML keys.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `extends: defaults` makes every list in the file add to the built-in one: an
    /// allow list that names only `registry.acme.internal` would otherwise stop trusting
    /// `docker.io/library`, and `nginx` would alert. Not shown: `config show` prints the
    /// lists as they result, which read back the same without it.
    #[serde(skip_serializing)]
    pub extends: Option<Extends>,
    /// Registries and repository prefixes whose images are trusted (ImageRegistryAllowList).
    pub image_registry_allow_list: Vec<Pattern>,
    /// How long after the pull (or start) activity still completes a chain (TimeWindow).
    pub time_window: DurationValue,
    /// Executable names that count as suspicious activity (SuspiciousBinaries).
    pub suspicious_binaries: Vec<String>,
    /// Kubernetes namespaces under closer watch; `*` globs allowed (NamespaceScope).
    pub namespace_scope: Vec<String>,
    /// Destinations that are suspicious wherever a new container connects to them
    /// (OutboundCIDRBlockList).
    pub outbound_cidr_block_list: Vec<Cidr>,
    /// VM images that are approved to launch (ApprovedImageCatalog).
    pub approved_image_catalog: ApprovedImageCatalog,
    /// Whether user data and startup scripts are inspected (UserDataInspection).
    pub user_data_inspection: bool,
    /// How long after launch in-guest activity counts as first boot (FirstBootWindow).
    pub first_boot_window: DurationValue,
    /// Which instances AN0692 considers (VMTagScope); empty means all.
    pub vm_tag_scope: VmTagScope,
    /// How late (in event time) a record may arrive and still be correlated in order.
    pub allowed_lateness: DurationValue,
    /// How far ahead of the latest record a record may be dated and still move the
    /// watermark; one further ahead (a bad clock, a forged date) is held and counted.
    pub max_future_skew: DurationValue,
    pub limits: Limits,
    /// `pullwatch run`'s inputs and outputs, read by the service; let through here so
    /// that one file configures both.
    #[serde(skip_serializing)]
    pub sources: ServiceSection,
    #[serde(skip_serializing)]
    pub sinks: ServiceSection,
    /// `pullwatch run` on Kafka (brokers, topics, group, alerts topic), read by the service.
    #[serde(skip_serializing)]
    pub kafka: ServiceSection,
}

/// A section the engine does not read (the live service's `sources:`, `sinks:` and `kafka:`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceSection;

impl<'de> Deserialize<'de> for ServiceSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| ServiceSection)
    }
}

/// What the lists of a configuration file are read against.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Extends {
    /// Each list is the built-in one with the file's entries added.
    Defaults,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovedImageCatalog {
    pub aws: AwsCatalog,
    pub gcp: GcpCatalog,
    pub azure: AzureCatalog,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AwsCatalog {
    pub image_ids: Vec<String>,
    pub owners: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GcpCatalog {
    pub projects: Vec<String>,
    pub images: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AzureCatalog {
    pub publishers: Vec<String>,
    pub images: Vec<String>,
}

/// The built-in catalog approves the operating-system vendors' public images where the
/// control plane names the vendor (GCP image projects, Azure Marketplace publishers).
/// CloudTrail does not name an AMI's owner, so AWS approval needs `image_ids` (or
/// images this account built, whose owner pullwatch learns from `CreateImage`).
impl Default for ApprovedImageCatalog {
    fn default() -> Self {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ApprovedImageCatalog {
            aws: AwsCatalog {
                image_ids: Vec::new(),
                owners: v(&[
                    "137112412989",
                    "801119661308",
                    "099720109477",
                    "309956199498",
                    "136693071363",
                    "125523088429",
                    "013907871322",
                ]),
            },
            gcp: GcpCatalog {
                projects: v(&[
                    "debian-cloud",
                    "ubuntu-os-cloud",
                    "ubuntu-os-pro-cloud",
                    "centos-cloud",
                    "rhel-cloud",
                    "rhel-sap-cloud",
                    "rocky-linux-cloud",
                    "almalinux-cloud",
                    "cos-cloud",
                    "windows-cloud",
                    "windows-sql-cloud",
                    "suse-cloud",
                    "suse-sap-cloud",
                    "opensuse-cloud",
                    "fedora-coreos-cloud",
                    "oracle-linux-cloud",
                ]),
                images: Vec::new(),
            },
            azure: AzureCatalog {
                publishers: v(&[
                    "Canonical",
                    "MicrosoftWindowsServer",
                    "MicrosoftWindowsDesktop",
                    "MicrosoftSQLServer",
                    "MicrosoftCBLMariner",
                    "RedHat",
                    "Debian",
                    "SUSE",
                    "OpenLogic",
                    "Oracle",
                    "AlmaLinux",
                    "kinvolk",
                ]),
                images: Vec::new(),
            },
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VmTagScope {
    pub tags: BTreeMap<String, Vec<String>>,
    pub subnets: Vec<String>,
}

/// Caps on keyed state. Reaching one evicts (and counts) rather than growing.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_tracked_containers: usize,
    pub max_tracked_pulls: usize,
    pub max_tracked_processes: usize,
    pub max_tracked_instances: usize,
    pub max_pending_events: usize,
    pub max_dedupe_keys: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tracked_containers: 200_000,
            max_tracked_pulls: 200_000,
            max_tracked_processes: 1_000_000,
            max_tracked_instances: 100_000,
            max_pending_events: 2_000_000,
            max_dedupe_keys: 500_000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let patterns = |xs: &[&str]| {
            xs.iter()
                .filter_map(|s| RefPattern::parse(s).ok().map(Pattern))
                .collect::<Vec<_>>()
        };
        Config {
            extends: None,
            image_registry_allow_list: patterns(&[
                "docker.io/library",
                "registry.k8s.io",
                "k8s.gcr.io",
                "gcr.io/distroless",
                "mcr.microsoft.com",
                "public.ecr.aws/eks",
                "public.ecr.aws/eks-distro",
                "quay.io/cilium",
                "ghcr.io/falcosecurity",
                "docker.io/falcosecurity",
            ]),
            time_window: DurationValue(Dur::from_secs(15 * 60)),
            suspicious_binaries: [
                "curl",
                "wget",
                "sh",
                "bash",
                "dash",
                "ash",
                "zsh",
                "ksh",
                "busybox",
                "python",
                "perl",
                "ruby",
                "php",
                "lua",
                "node",
                "nc",
                "ncat",
                "netcat",
                "socat",
                "telnet",
                "tftp",
                "nmap",
                "masscan",
                "xmrig",
                "minerd",
                "base64",
                "chmod",
                "powershell",
                "pwsh",
                "certutil",
                "bitsadmin",
                "mshta",
                "rundll32",
                "regsvr32",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            namespace_scope: vec!["kube-system".into(), "kube-public".into(), "default".into()],
            outbound_cidr_block_list: [
                "169.254.169.254/32",
                "fd00:ec2::254/128",
                "169.254.170.2/32",
            ]
            .iter()
            .filter_map(|s| s.parse().ok().map(Cidr))
            .collect(),
            approved_image_catalog: ApprovedImageCatalog::default(),
            user_data_inspection: true,
            first_boot_window: DurationValue(Dur::from_secs(30 * 60)),
            vm_tag_scope: VmTagScope::default(),
            allowed_lateness: DurationValue(Dur::from_secs(120)),
            max_future_skew: DurationValue(Dur::from_secs(3600)),
            limits: Limits::default(),
            sources: ServiceSection,
            sinks: ServiceSection,
            kafka: ServiceSection,
        }
    }
}

impl Config {
    /// Reads a YAML document; keys left out keep their built-in defaults.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        match serde_saphyr::from_str::<Config>(text) {
            Ok(mut c) => {
                if c.extends == Some(Extends::Defaults) {
                    c.add_to_defaults();
                }
                c.check().map_err(|message| ConfigError::Unlocated {
                    origin: origin.to_string(),
                    message,
                })?;
                Ok(c)
            }
            Err(e) => {
                let message = first_line_of(&e.to_string());
                match e.location() {
                    Some(loc) => Err(ConfigError::Located {
                        origin: origin.to_string(),
                        line: loc.line(),
                        column: loc.column(),
                        message,
                    }),
                    None => Err(ConfigError::Unlocated {
                        origin: origin.to_string(),
                        message,
                    }),
                }
            }
        }
    }

    /// Checks that need the whole document.
    fn check(&self) -> Result<(), String> {
        if self.time_window.0 .0 <= 0 {
            return Err("time_window must be positive".into());
        }
        if self.first_boot_window.0 .0 <= 0 {
            return Err("first_boot_window must be positive".into());
        }
        if self.allowed_lateness.0 .0 < 0 {
            return Err("allowed_lateness must not be negative".into());
        }
        if self.max_future_skew.0 .0 < 0 {
            return Err("max_future_skew must not be negative".into());
        }
        if self.suspicious_binaries.iter().any(|b| b.trim().is_empty()) {
            return Err("suspicious_binaries has an empty entry".into());
        }
        Ok(())
    }

    /// Puts the built-in entries back before the file's own, in every list. A list the
    /// file leaves out already holds the defaults, and adding them again changes
    /// nothing, so which keys the file set need not be known.
    fn add_to_defaults(&mut self) {
        let d = Config::default();
        union(
            &mut self.image_registry_allow_list,
            d.image_registry_allow_list,
        );
        union(&mut self.suspicious_binaries, d.suspicious_binaries);
        union(&mut self.namespace_scope, d.namespace_scope);
        union(
            &mut self.outbound_cidr_block_list,
            d.outbound_cidr_block_list,
        );
        let (c, dc) = (&mut self.approved_image_catalog, d.approved_image_catalog);
        union(&mut c.aws.image_ids, dc.aws.image_ids);
        union(&mut c.aws.owners, dc.aws.owners);
        union(&mut c.gcp.projects, dc.gcp.projects);
        union(&mut c.gcp.images, dc.gcp.images);
        union(&mut c.azure.publishers, dc.azure.publishers);
        union(&mut c.azure.images, dc.azure.images);
        union(&mut self.vm_tag_scope.subnets, d.vm_tag_scope.subnets);
        for (k, values) in d.vm_tag_scope.tags {
            union(self.vm_tag_scope.tags.entry(k).or_default(), values);
        }
    }

    /// The effective configuration as YAML, for `pullwatch config show`, after a
    /// comment that says how the lists were arrived at.
    pub fn to_yaml(&self) -> String {
        let how = match self.extends {
            Some(Extends::Defaults) => {
                "# extends: defaults: each list below is the built-in one with the file's entries added\n"
            }
            None => {
                "# a list set in the file replaces the built-in one; `extends: defaults` at the top adds to it instead\n"
            }
        };
        match serde_saphyr::to_string(self) {
            Ok(y) => format!("{how}{y}"),
            Err(e) => format!("# cannot render configuration: {e}\n"),
        }
    }
}

/// `defaults` followed by the entries of `list` it lacks, in their order.
fn union<T: PartialEq>(list: &mut Vec<T>, defaults: Vec<T>) {
    let own = std::mem::replace(list, defaults);
    for x in own {
        if !list.contains(&x) {
            list.push(x);
        }
    }
}

/// serde-saphyr renders a source snippet after the message; the summary line is what a
/// located error needs.
fn first_line_of(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_string()
}

/// A duration written as `15m`, `1h30m`, `90s` or a number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationValue(pub Dur);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DurationValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 15m, 90s or 1h30m")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DurationValue, E> {
                Dur::parse(s).map(DurationValue).ok_or_else(|| {
                    E::custom(format!("{s:?} is not a duration such as 15m, 90s or 1h30m"))
                })
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<DurationValue, E> {
                i64::try_from(n)
                    .map(|n| DurationValue(Dur::from_secs(n)))
                    .map_err(|_| E::custom("duration too large"))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<DurationValue, E> {
                Ok(DurationValue(Dur::from_secs(n)))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for DurationValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

/// An allowlist entry, parsed when read so a malformed one is reported in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern(pub RefPattern);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RefPattern::parse(&s)
            .map(Pattern)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

/// A CIDR block; a bare address means just that address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(pub IpNet);

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Ok(n) = t.parse::<IpNet>() {
            return Ok(Cidr(n.trunc()));
        }
        t.parse::<std::net::IpAddr>()
            .map(|ip| Cidr(IpNet::from(ip)))
            .map_err(|_| format!("{s:?} is not a CIDR block or IP address"))
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::from_yaml("", "x").unwrap();
        assert_eq!(c.time_window.0, Dur::from_secs(900));
        assert!(c.suspicious_binaries.contains(&"curl".to_string()));
    }

    #[test]
    fn values_are_read() {
        let c = Config::from_yaml(
            "time_window: 5m\nimage_registry_allow_list: [registry.acme.internal]\noutbound_cidr_block_list: [203.0.113.0/24, 198.51.100.7]\nnamespace_scope: ['prod-*']\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.time_window.0, Dur::from_secs(300));
        assert_eq!(c.image_registry_allow_list.len(), 1);
        assert_eq!(
            c.outbound_cidr_block_list[1].0.to_string(),
            "198.51.100.7/32"
        );
        assert_eq!(c.namespace_scope, vec!["prod-*"]);
    }

    #[test]
    fn misspelt_key_is_located() {
        let err = Config::from_yaml("time_window: 5m\ntime_windw: 10m\n", "cfg.yaml").unwrap_err();
        let ConfigError::Located { line, message, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(*line, 2, "{err}");
        assert!(message.contains("time_windw"), "{message}");
    }

    #[test]
    fn bad_values_are_located() {
        for (doc, line, needle) in [
            ("time_window: soon\n", 1, "soon"),
            (
                "outbound_cidr_block_list:\n  - 10.0.0.0/8\n  - 10.0.0.0/99\n",
                3,
                "10.0.0.0/99",
            ),
            (
                "image_registry_allow_list:\n  - nginx@sha256:ab\n",
                2,
                "tag or digest",
            ),
        ] {
            let err = Config::from_yaml(doc, "cfg.yaml").unwrap_err();
            let ConfigError::Located {
                line: l, message, ..
            } = &err
            else {
                panic!("{err}")
            };
            assert_eq!(*l, line, "{doc}: {err}");
            assert!(message.contains(needle), "{doc}: {message}");
        }
    }

    #[test]
    fn extends_defaults_adds_every_list_to_the_built_in_one() {
        let d = Config::default();
        let c = Config::from_yaml(
            "extends: defaults\n\
             image_registry_allow_list: [registry.acme.internal, docker.io/library]\n\
             suspicious_binaries: [kubectl]\n\
             namespace_scope: ['prod-*']\n\
             outbound_cidr_block_list: [203.0.113.0/24]\n\
             approved_image_catalog:\n  aws: {image_ids: [ami-0abc]}\n  gcp: {projects: [acme-images]}\n  azure: {publishers: [Acme]}\n\
             vm_tag_scope: {tags: {env: [prod]}, subnets: [subnet-1]}\n",
            "x",
        )
        .unwrap();
        let allow: Vec<&str> = c
            .image_registry_allow_list
            .iter()
            .map(|p| p.0.as_str())
            .collect();
        assert_eq!(
            allow.len(),
            d.image_registry_allow_list.len() + 1,
            "{allow:?}"
        );
        assert_eq!(allow[0], "docker.io/library");
        assert_eq!(allow.last(), Some(&"registry.acme.internal"));
        assert_eq!(c.suspicious_binaries.len(), d.suspicious_binaries.len() + 1);
        assert!(c.suspicious_binaries.contains(&"curl".to_string()));
        assert_eq!(
            c.namespace_scope,
            ["kube-system", "kube-public", "default", "prod-*"]
        );
        assert_eq!(
            c.outbound_cidr_block_list.len(),
            d.outbound_cidr_block_list.len() + 1
        );
        let cat = &c.approved_image_catalog;
        assert_eq!(cat.aws.image_ids, ["ami-0abc"]);
        assert_eq!(cat.aws.owners, d.approved_image_catalog.aws.owners);
        assert!(cat.gcp.projects.contains(&"debian-cloud".to_string()));
        assert!(cat.gcp.projects.contains(&"acme-images".to_string()));
        assert!(cat.azure.publishers.contains(&"Canonical".to_string()));
        assert_eq!(c.vm_tag_scope.tags["env"], ["prod"]);
        assert_eq!(c.vm_tag_scope.subnets, ["subnet-1"]);
        // Shown without `extends`, the result reads back as itself.
        let y = c.to_yaml();
        assert!(y.starts_with("# extends: defaults"), "{y}");
        let back = Config::from_yaml(&y, "shown").unwrap();
        assert_eq!(back.image_registry_allow_list, c.image_registry_allow_list);
        assert_eq!(back.namespace_scope, c.namespace_scope);
    }

    #[test]
    fn without_extends_a_list_replaces_the_default_and_show_says_so() {
        let c = Config::from_yaml("namespace_scope: ['prod-*']\n", "x").unwrap();
        assert_eq!(c.namespace_scope, ["prod-*"]);
        assert!(c.to_yaml().starts_with("# a list set in the file replaces"));
        let err = Config::from_yaml("\nextends: everything\n", "cfg.yaml").unwrap_err();
        let ConfigError::Located { line, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(*line, 2, "{err}");
    }

    #[test]
    fn show_round_trips() {
        let c = Config::default();
        let y = c.to_yaml();
        let back = Config::from_yaml(&y, "shown").unwrap();
        assert_eq!(back.to_yaml(), y);
        assert!(y.contains("time_window: 15m"), "{y}");
    }
}
