//! `pullwatch formats`: the input formats this build recognizes, each with an example
//! record in that format's shape. A format is listed only when its example is
//! recognized as that format by the decoders in this very build, so the list can never
//! claim a format the binary does not read.

use pullwatch_decode::{DecodeOptions, DecodeStats, EventStream, Input};
use pullwatch_model::Format;
use std::fmt::Write;
use std::io::Cursor;
use std::sync::Arc;

/// Example records, written for pullwatch in each source's documented shape.
pub fn example(f: Format) -> &'static str {
    match f {
        Format::DockerEvents => {
            r#"{"status":"start","id":"4f1c9e0b7a3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b","from":"nginx:1.27","Type":"container","Action":"start","Actor":{"ID":"4f1c9e0b7a3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b","Attributes":{"image":"nginx:1.27","name":"web"}},"scope":"local","time":1795166102,"timeNano":1795166102000000000}"#
        }
        Format::PodmanEvents => {
            r#"{"ID":"4f1c9e0b7a3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b","Image":"docker.io/library/nginx:1.27","Name":"web","Status":"start","Time":"2026-11-20T09:00:02.123456789Z","Type":"container","Attributes":{"image":"docker.io/library/nginx:1.27","name":"web"}}"#
        }
        Format::ContainerdEvents => {
            r#"2026-11-20 09:00:02.1234567 +0000 UTC k8s.io /containers/create {"id":"4f1c9e0b7a3d","image":"docker.io/library/nginx:1.27","runtime":{"name":"io.containerd.runc.v2"}}"#
        }
        Format::K8sAudit => {
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"0b6a1f3e-3c43-4d5e-9a0f-6c2d1b8e7f10","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods/web/binding","verb":"create","user":{"username":"system:kube-scheduler"},"objectRef":{"resource":"pods","namespace":"default","name":"web","apiVersion":"v1","subresource":"binding"},"responseStatus":{"code":201},"requestObject":{"kind":"Binding","apiVersion":"v1","metadata":{"name":"web","namespace":"default"},"target":{"kind":"Node","name":"node-1"}},"requestReceivedTimestamp":"2026-11-20T09:00:01.000000Z","stageTimestamp":"2026-11-20T09:00:01.010000Z"}"#
        }
        Format::K8sEvents => {
            r#"{"kind":"Event","apiVersion":"v1","metadata":{"name":"web.1879a3f0c2d1e0b0","namespace":"default","uid":"8c1f0a7e-3b9d-4c62-a1e5-2f7d9b0c4e61"},"involvedObject":{"kind":"Pod","namespace":"default","name":"web","fieldPath":"spec.containers{web}"},"reason":"Pulling","message":"Pulling image \"nginx:1.27\"","source":{"component":"kubelet","host":"node-1"},"firstTimestamp":"2026-11-20T09:00:02Z","lastTimestamp":"2026-11-20T09:00:02Z","count":1,"type":"Normal"}"#
        }
        Format::Falco => {
            r#"{"hostname":"node-1","output":"09:00:41.518000000: Notice Shell spawned in a container","priority":"Notice","rule":"Terminal shell in container","source":"syscall","tags":["container","shell"],"time":"2026-11-20T09:00:41.518000000Z","output_fields":{"container.id":"4f1c9e0b7a3d","container.name":"web","container.image.repository":"nginx","proc.cmdline":"sh -c id","proc.exepath":"/bin/sh","proc.name":"sh","proc.pid":4242,"proc.ppid":4200,"user.name":"root"}}"#
        }
        Format::Tetragon => {
            r#"{"process_exec":{"process":{"exec_id":"bm9kZS0xOjQyNDI=","pid":4242,"uid":0,"cwd":"/","binary":"/usr/bin/curl","arguments":"-s http://198.51.100.23/","flags":"execve","start_time":"2026-11-20T09:00:41.518Z","pod":{"namespace":"default","name":"web","container":{"id":"containerd://4f1c9e0b7a3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b","name":"web","image":{"id":"docker.io/library/nginx@sha256:5f3a2b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a","name":"docker.io/library/nginx:1.27"},"start_time":"2026-11-20T09:00:02Z"}}},"parent":{"pid":4200,"binary":"/bin/sh"}},"node_name":"node-1","time":"2026-11-20T09:00:41.518Z"}"#
        }
        Format::Auditd => {
            r#"type=SYSCALL msg=audit(1795166441.518:2042): arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid=4200 pid=4242 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="curl" exe="/usr/bin/curl" key="exec""#
        }
        Format::ZeekConn => {
            r#"{"ts":1795166441.518,"uid":"C3xkHe1X5ZzYb6Ti8","id.orig_h":"10.0.3.17","id.orig_p":51514,"id.resp_h":"198.51.100.23","id.resp_p":80,"proto":"tcp","service":"http","duration":0.21,"conn_state":"SF"}"#
        }
        Format::SuricataEve => {
            r#"{"timestamp":"2026-11-20T09:00:41.518000+0000","flow_id":1480243016284619,"event_type":"flow","src_ip":"10.0.3.17","src_port":51514,"dest_ip":"198.51.100.23","dest_port":80,"proto":"TCP","flow":{"pkts_toserver":6,"pkts_toclient":5,"start":"2026-11-20T09:00:41.518000+0000","end":"2026-11-20T09:00:41.731000+0000","state":"closed"}}"#
        }
        Format::HubbleFlow => {
            r#"{"flow":{"time":"2026-11-20T09:00:41.518652Z","verdict":"FORWARDED","IP":{"source":"10.244.1.23","destination":"198.51.100.23","ipVersion":"IPv4"},"l4":{"TCP":{"source_port":51514,"destination_port":443,"flags":{"SYN":true}}},"source":{"ID":1234,"identity":5678,"namespace":"default","labels":["k8s:app=web"],"pod_name":"web"},"destination":{"identity":2,"labels":["reserved:world"]},"Type":"L3_L4","node_name":"node-1","traffic_direction":"EGRESS","is_reply":false},"node_name":"node-1","time":"2026-11-20T09:00:41.518652Z"}"#
        }
        Format::VpcFlow => {
            "2 123456789012 eni-0a1b2c3d4e5f60718 10.0.3.17 198.51.100.23 51514 80 6 6 840 1795166441 1795166500 ACCEPT OK"
        }
        Format::CloudTrail => {
            r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","accountId":"123456789012","userName":"ci"},"eventTime":"2026-11-20T09:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","requestParameters":{"instancesSet":{"items":[{"imageId":"ami-0abcdef1234567890","minCount":1,"maxCount":1}]},"instanceType":"t3.micro","userData":"<sensitiveDataRemoved>"},"responseElements":{"instancesSet":{"items":[{"instanceId":"i-0123456789abcdef0","imageId":"ami-0abcdef1234567890"}]}},"eventID":"5b1f0c2e-8d8a-4f0e-9b1d-2a6c3e7f9a10","eventType":"AwsApiCall","recipientAccountId":"123456789012"}"#
        }
        Format::GcpAudit => {
            r#"{"insertId":"-x1y2z3","logName":"projects/acme/logs/cloudaudit.googleapis.com%2Factivity","protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","authenticationInfo":{"principalEmail":"ci@acme.iam.gserviceaccount.com"},"serviceName":"compute.googleapis.com","methodName":"v1.compute.instances.insert","resourceName":"projects/acme/zones/us-central1-a/instances/vm-1","request":{"name":"vm-1","disks":[{"boot":true,"initializeParams":{"sourceImage":"projects/acme/global/images/custom-1"}}]}},"resource":{"type":"gce_instance","labels":{"instance_id":"4567890123456789012","project_id":"acme","zone":"us-central1-a"}},"operation":{"id":"operation-1","producer":"compute.googleapis.com","first":true},"timestamp":"2026-11-20T09:00:00.123Z","severity":"NOTICE"}"#
        }
        Format::AzureActivity => {
            r#"{"time":"2026-11-20T09:00:00.1234567Z","resourceId":"/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/VM-1","operationName":"MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE","category":"Administrative","resultType":"Start","resultSignature":"Started.","correlationId":"1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718","callerIpAddress":"203.0.113.9","level":"Information","properties":{"statusCode":"Created"}}"#
        }
        Format::AzureSyslog => {
            r#"{"TimeGenerated":"2026-11-20T09:00:42.001Z","Computer":"vm-1","Facility":"user","SeverityLevel":"info","SyslogMessage":"type=AUOMS_EXECVE audit(1795166441.518:2042): syscall=execve success=yes exit=0 ppid=4200 pid=4242 user=root uid=0 comm=\"curl\" exe=\"/usr/bin/curl\" cmdline=\"curl -s http://198.51.100.23/\" redactors= containerid=","ProcessName":"AUOMS_EXECVE","HostIP":"10.0.0.4","Type":"Syslog"}"#
        }
        Format::Sysmon => {
            r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"vm-1","TimeCreated":{"#attributes":{"SystemTime":"2026-11-20T09:00:41.518Z"}}},"EventData":{"UtcTime":"2026-11-20 09:00:41.518","ProcessId":4242,"Image":"C:\\Windows\\System32\\certutil.exe","CommandLine":"certutil -urlcache -f http://198.51.100.23/a a","ParentProcessId":4200,"ParentImage":"C:\\Windows\\System32\\cmd.exe","User":"VM-1\\ci"}}}"##
        }
        Format::CloudInit => {
            "2026-11-20 09:00:41,518 - util.py[DEBUG]: Cloud-init v. 23.4 running 'modules:final' at Fri, 20 Nov 2026 09:00:41 +0000. Up 38.12 seconds."
        }
        Format::UserData => {
            r#"{"InstanceId":"i-0123456789abcdef0","UserData":{"Value":"I2Nsb3VkLWNvbmZpZwpwYWNrYWdlczogW25naW54XQo="}}"#
        }
    }
}

/// The format an example record is recognized as, if any.
pub fn recognize(text: &str) -> Option<Format> {
    let input = Input {
        path: Arc::from("example"),
        size: None,
        reader: Box::new(Cursor::new(text.as_bytes().to_vec())),
    };
    let mut stream = EventStream::new(input, DecodeOptions::default());
    let mut stats = DecodeStats::default();
    let mut out = Vec::new();
    while let Ok(true) = stream.fill(&mut out, &mut stats, 16) {}
    let mut found = stats.formats.keys().copied();
    match (found.next(), found.next()) {
        (Some(f), None) => Some(f),
        _ => None,
    }
}

/// Formats whose example this build recognizes as that format.
pub fn recognized() -> Vec<Format> {
    Format::ALL
        .into_iter()
        .filter(|f| recognize(example(*f)) == Some(*f))
        .collect()
}

pub fn render() -> String {
    let mut s = String::new();
    let list = recognized();
    let w = list.iter().map(|f| f.name().len()).max().unwrap_or(0);
    for f in list {
        let _ = writeln!(s, "{:<w$}  {}", f.name(), example(f));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decoded_format_is_listed_with_its_own_example() {
        let list = recognized();
        for f in [
            Format::DockerEvents,
            Format::PodmanEvents,
            Format::K8sAudit,
            Format::K8sEvents,
            Format::Falco,
            Format::Tetragon,
            Format::ZeekConn,
            Format::SuricataEve,
            Format::VpcFlow,
            Format::UserData,
        ] {
            assert!(list.contains(&f), "{f} not recognized from its example");
        }
    }

    /// A format whose decoder exists must recognize its example: otherwise `formats`
    /// would silently leave it out. Formats without a decoder in this build refuse
    /// every record with the "not decoded by this build" error.
    #[test]
    fn examples_of_formats_with_a_decoder_decode() {
        let ctx = pullwatch_decode::RecordCtx {
            path: Arc::from("example"),
            line: 1,
        };
        for f in Format::ALL {
            let text = example(f);
            let mut out = Vec::new();
            let mut state = pullwatch_decode::TextState::default();
            let res = if text.starts_with('{') {
                pullwatch_decode::decode_json_as(f, text, &ctx, &mut out)
            } else {
                pullwatch_decode::decode_text_as(f, text, &ctx, &mut state, &mut out)
            };
            match res {
                Ok(()) => assert!(
                    recognized().contains(&f),
                    "{f}: example decodes but the sniffer does not pick {f} for it"
                ),
                Err(e) => assert!(
                    e.to_string().contains("not decoded by this build"),
                    "{f}: example does not decode: {e}"
                ),
            }
        }
    }
}
