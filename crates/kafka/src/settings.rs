//! The `kafka:` section of pullwatch's configuration.

use std::collections::BTreeMap;
use std::fmt;

use rdkafka::ClientConfig;
use serde::Deserialize;

use crate::Error;

/// Where pullwatch reads telemetry from and writes alerts to, when it runs as one member of
/// a consumer group.
///
/// `properties` passes librdkafka settings through untouched, so that SASL, TLS and tuning
/// need no pullwatch release. The keys pullwatch itself decides (the group, the offsets
/// policy, transactions) are refused there rather than silently overridden, because a
/// changed value would quietly break the exactly-once guarantee.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// `host:port[,host:port…]`, librdkafka's `bootstrap.servers`.
    pub bootstrap: String,
    /// Telemetry topics; every member of the group subscribes to all of them.
    pub topics: Vec<String>,
    /// The consumer group shared by every pullwatch instance of one deployment.
    #[serde(default = "default_group_id")]
    pub group_id: String,
    /// Alerts are written here, in the same transaction as the offsets of the records that
    /// raised them. Without it, alerts go to the other sinks and offsets are committed
    /// after those sinks accepted them (at least once).
    #[serde(default)]
    pub alerts_topic: Option<String>,
    /// Each instance's `transactional.id` is this prefix, a dash and the instance's own
    /// stable name.
    #[serde(default = "default_transactional_id_prefix")]
    pub transactional_id_prefix: String,
    /// librdkafka properties, e.g. `security.protocol`, `sasl.mechanisms`, `ssl.ca.location`.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn default_group_id() -> String {
    "pullwatch".to_owned()
}

fn default_transactional_id_prefix() -> String {
    "pullwatch".to_owned()
}

/// Properties that pullwatch sets from typed settings or that the delivery guarantee
/// depends on.
const RESERVED: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "group.id",
    "transactional.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "isolation.level",
    "enable.idempotence",
];

impl KafkaSettings {
    /// A minimal configuration: group and transactional id prefix take their defaults.
    pub fn new(bootstrap: impl Into<String>, topics: Vec<String>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            topics,
            group_id: default_group_id(),
            alerts_topic: None,
            transactional_id_prefix: default_transactional_id_prefix(),
            properties: BTreeMap::new(),
        }
    }

    /// Checks what librdkafka would only notice later (or never): an empty bootstrap, no
    /// topics, or a passthrough property that would undo pullwatch's own.
    pub fn validate(&self) -> Result<(), Error> {
        self.validate_client()?;
        if self.topics.is_empty() {
            return Err(setting("topics", "must name at least one topic"));
        }
        if let Some(t) = self.topics.iter().find(|t| t.trim().is_empty()) {
            return Err(setting("topics", &format!("has an empty topic name {t:?}")));
        }
        if self.group_id.trim().is_empty() {
            return Err(setting("group_id", "must not be empty"));
        }
        Ok(())
    }

    /// What every client needs, including producers that read no topic.
    fn validate_client(&self) -> Result<(), Error> {
        if self.bootstrap.trim().is_empty() {
            return Err(setting("bootstrap", "must name at least one broker"));
        }
        if let Some(key) = self
            .properties
            .keys()
            .find(|k| RESERVED.contains(&k.as_str()))
        {
            return Err(setting(
                &format!("properties.{key}"),
                "is set by pullwatch itself (use the typed setting, or leave it out: exactly-once depends on it)",
            ));
        }
        Ok(())
    }

    /// A client configuration: brokers, then the role's defaults, then the passthrough
    /// properties (which may override those defaults, never the reserved keys).
    pub(crate) fn client_config(&self, defaults: &[(&str, &str)]) -> Result<ClientConfig, Error> {
        self.validate_client()?;
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        for (k, v) in defaults {
            config.set(*k, *v);
        }
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        Ok(config)
    }
}

fn setting(key: &str, reason: &str) -> Error {
    Error::Setting {
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Whether a passthrough value is a credential, so that logs and `config show` never print it.
fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "sasl.oauthbearer.config",
        "ssl.key.pem",
        "ssl_key",
        "keystore",
    ]
    .iter()
    .any(|s| key.contains(s))
}

impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let properties: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret(k) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("KafkaSettings")
            .field("bootstrap", &self.bootstrap)
            .field("topics", &self.topics)
            .field("group_id", &self.group_id)
            .field("alerts_topic", &self.alerts_topic)
            .field("transactional_id_prefix", &self.transactional_id_prefix)
            .field("properties", &properties)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_properties_are_refused_with_their_key() {
        let mut s = KafkaSettings::new("127.0.0.1:9092", vec!["t".into()]);
        s.properties
            .insert("enable.auto.commit".into(), "true".into());
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("properties.enable.auto.commit"), "{err}");
    }

    #[test]
    fn empty_bootstrap_or_topics_are_refused() {
        assert!(KafkaSettings::new(" ", vec!["t".into()])
            .validate()
            .is_err());
        assert!(KafkaSettings::new("b:1", vec![]).validate().is_err());
        assert!(KafkaSettings::new("b:1", vec!["".into()])
            .validate()
            .is_err());
        assert!(KafkaSettings::new("b:1", vec!["t".into()])
            .validate()
            .is_ok());
    }

    #[test]
    fn the_config_section_takes_defaults_and_refuses_unknown_keys() {
        let s: KafkaSettings = serde_json::from_str(
            r#"{"bootstrap":"k1:9093,k2:9093","topics":["tetragon"],
                "properties":{"security.protocol":"SASL_SSL"}}"#,
        )
        .expect("valid section");
        assert_eq!(s.group_id, "pullwatch");
        assert_eq!(s.transactional_id_prefix, "pullwatch");
        assert_eq!(s.alerts_topic, None);
        assert_eq!(
            s.properties.get("security.protocol").map(String::as_str),
            Some("SASL_SSL")
        );
        let typo = serde_json::from_str::<KafkaSettings>(
            r#"{"bootstrap":"k:1","topics":["t"],"groupid":"x"}"#,
        );
        assert!(typo.is_err(), "a misspelt key is an error");
    }

    #[test]
    fn debug_hides_credentials() {
        let mut s = KafkaSettings::new("b:1", vec!["t".into()]);
        s.properties
            .insert("sasl.password".into(), "hunter2".into());
        s.properties
            .insert("sasl.username".into(), "svc-pullwatch".into());
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("svc-pullwatch"), "{shown}");
    }
}
