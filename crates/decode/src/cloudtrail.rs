//! AWS CloudTrail: the EC2 calls AN0692 needs — instance launches with their AMI and
//! user-data marker, start/stop, user data replaced on a stopped instance, and the
//! calls that make or share AMIs. S3 `{"Records":[…]}` objects, Stratus-style JSON
//! arrays and one-record-per-line exports (with or without Logstash's `@timestamp`)
//! all arrive here one record at a time; the stream unwraps the containers.
//!
//! Records that went through Logstash may carry the time only as `@timestamp`.
//!
//! Records that went through Logstash may carry the time only as `@timestamp`.
//!
//! Ids are lowercased: AWS issues them lowercase, and anonymised samples (Stratus Red
//! Team) scramble their case, which must not split one instance into two. Addresses
//! that do not parse (the same samples write `06.237.252.245`) are treated as absent.
//! Failed calls (`errorCode` set; `responseElements` is then `null`) changed nothing
//! and emit nothing.

use crate::user_data::b64_text;
use crate::util::{nonblank, rfc3339, Text};
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{
    CloudAction, CloudEvent, CloudProvider, Event, EventKind, Format, ImageOrigin, Ts,
    UserDataState, VmImage, VmImageKind, VmLaunch,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::net::IpAddr;

/// What CloudTrail writes in place of any user data it was given.
const REDACTED: &str = "<sensitiveDataRemoved>";

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(rename = "eventTime", borrow)]
    event_time: Option<Text<'a>>,
    /// Logstash pipelines move `eventTime` here (the OTRF datasets have no `eventTime`).
    #[serde(rename = "@timestamp", borrow)]
    at_timestamp: Option<Text<'a>>,
    #[serde(rename = "eventSource", borrow)]
    event_source: Option<Text<'a>>,
    #[serde(rename = "eventName", borrow)]
    event_name: Option<Text<'a>>,
    #[serde(rename = "eventID", borrow)]
    event_id: Option<Text<'a>>,
    #[serde(rename = "awsRegion", borrow)]
    region: Option<Text<'a>>,
    #[serde(rename = "recipientAccountId", borrow)]
    recipient_account: Option<Text<'a>>,
    #[serde(rename = "userIdentity", borrow)]
    identity: Option<Identity<'a>>,
    #[serde(rename = "errorCode", borrow)]
    error_code: Option<Text<'a>>,
    #[serde(rename = "requestParameters", borrow)]
    request: Option<&'a RawValue>,
    #[serde(rename = "responseElements", borrow)]
    response: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Identity<'a> {
    #[serde(borrow)]
    arn: Option<Text<'a>>,
    #[serde(rename = "userName", borrow)]
    user_name: Option<Text<'a>>,
    #[serde(rename = "principalId", borrow)]
    principal_id: Option<Text<'a>>,
    #[serde(rename = "invokedBy", borrow)]
    invoked_by: Option<Text<'a>>,
    #[serde(rename = "accountId", borrow)]
    account_id: Option<Text<'a>>,
}

/// CloudTrail's `{"items":[…]}` list wrapper.
#[derive(Deserialize)]
#[serde(bound = "T: Deserialize<'de>")]
struct Items<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

#[derive(Deserialize)]
struct Tag<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow)]
    value: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RunRequest<'a> {
    #[serde(rename = "instancesSet", borrow)]
    instances: Option<Items<RunRequestItem<'a>>>,
    #[serde(rename = "userData", borrow)]
    user_data: Option<UserDataField<'a>>,
    #[serde(rename = "subnetId", borrow)]
    subnet: Option<Text<'a>>,
    #[serde(rename = "tagSpecificationSet", borrow)]
    tag_specs: Option<Items<TagSpec<'a>>>,
    #[serde(rename = "launchTemplate", borrow)]
    launch_template: Option<LaunchTemplate<'a>>,
}

#[derive(Deserialize)]
struct RunRequestItem<'a> {
    #[serde(rename = "imageId", borrow)]
    image_id: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct TagSpec<'a> {
    #[serde(rename = "resourceType", borrow)]
    resource_type: Option<Text<'a>>,
    #[serde(borrow, default)]
    tags: Vec<Tag<'a>>,
}

#[derive(Deserialize)]
struct LaunchTemplate<'a> {
    #[serde(rename = "launchTemplateId", borrow)]
    id: Option<Text<'a>>,
    #[serde(rename = "launchTemplateName", borrow)]
    name: Option<Text<'a>>,
}

/// `userData` as a bare string, or as `{"value": …}` in the attribute-style calls.
#[derive(Deserialize)]
#[serde(untagged)]
enum UserDataField<'a> {
    #[serde(borrow)]
    Str(Cow<'a, str>),
    Obj {
        #[serde(borrow)]
        value: Option<Text<'a>>,
    },
}

impl UserDataField<'_> {
    fn state(&self) -> UserDataState {
        let s = match self {
            UserDataField::Str(s) => s.as_ref(),
            UserDataField::Obj { value: Some(s) } => s.as_ref(),
            UserDataField::Obj { value: None } => return UserDataState::Redacted,
        };
        let s = s.trim();
        if s == REDACTED {
            UserDataState::Redacted
        } else if s.is_empty() {
            UserDataState::Absent
        } else {
            UserDataState::Present(b64_text(s))
        }
    }
}

#[derive(Deserialize)]
struct RunResponse<'a> {
    #[serde(rename = "instancesSet", borrow)]
    instances: Option<Items<Instance<'a>>>,
}

#[derive(Deserialize)]
struct Instance<'a> {
    #[serde(rename = "instanceId", borrow)]
    instance_id: Option<Text<'a>>,
    #[serde(rename = "imageId", borrow)]
    image_id: Option<Text<'a>>,
    #[serde(rename = "privateIpAddress", borrow)]
    private_ip: Option<Text<'a>>,
    #[serde(rename = "privateDnsName", borrow)]
    private_dns: Option<Text<'a>>,
    #[serde(rename = "subnetId", borrow)]
    subnet: Option<Text<'a>>,
    #[serde(rename = "vpcId", borrow)]
    vpc: Option<Text<'a>>,
    #[serde(rename = "tagSet", borrow)]
    tags: Option<Items<Tag<'a>>>,
    #[serde(rename = "launchTime", borrow)]
    launch_time: Option<LaunchTime<'a>>,
    #[serde(rename = "networkInterfaceSet", borrow)]
    nics: Option<Items<Nic<'a>>>,
}

#[derive(Deserialize)]
struct Nic<'a> {
    #[serde(rename = "privateIpAddress", borrow)]
    private_ip: Option<Text<'a>>,
}

/// Epoch milliseconds as a number, or a string (RFC 3339, or digits).
#[derive(Deserialize)]
#[serde(untagged)]
enum LaunchTime<'a> {
    Int(i64),
    Float(f64),
    #[serde(borrow)]
    Str(Cow<'a, str>),
}

impl LaunchTime<'_> {
    fn ts(&self) -> Option<Ts> {
        match self {
            LaunchTime::Int(ms) => Ts::from_millis(*ms),
            // Whole milliseconds that a JSON writer rendered with an exponent.
            LaunchTime::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                Ts::from_millis(*f as i64)
            }
            LaunchTime::Float(_) => None,
            LaunchTime::Str(s) => {
                let s = s.trim();
                if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                    s.parse().ok().and_then(Ts::from_millis)
                } else {
                    Ts::parse_rfc3339(s)
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct InstancesCall<'a> {
    #[serde(rename = "instancesSet", borrow)]
    instances: Option<Items<InstanceRef<'a>>>,
}

#[derive(Deserialize)]
struct InstanceRef<'a> {
    #[serde(rename = "instanceId", borrow)]
    instance_id: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct ModifyInstanceAttribute<'a> {
    #[serde(rename = "instanceId", borrow)]
    instance_id: Option<Text<'a>>,
    #[serde(rename = "userData", borrow)]
    user_data: Option<UserDataField<'a>>,
    /// The older form: `attribute: "userData"` with the content in `value`.
    #[serde(borrow)]
    attribute: Option<Text<'a>>,
    #[serde(borrow)]
    value: Option<UserDataField<'a>>,
}

#[derive(Deserialize)]
struct ImageRequest<'a> {
    #[serde(rename = "instanceId", borrow)]
    instance_id: Option<Text<'a>>,
    #[serde(rename = "sourceImageId", borrow)]
    source_image: Option<Text<'a>>,
    #[serde(rename = "sourceRegion", borrow)]
    source_region: Option<Text<'a>>,
    #[serde(rename = "diskContainerSet", borrow)]
    disks: Option<Items<DiskContainer<'a>>>,
}

#[derive(Deserialize)]
struct DiskContainer<'a> {
    #[serde(borrow)]
    url: Option<Text<'a>>,
    #[serde(rename = "userBucket", borrow)]
    bucket: Option<UserBucket<'a>>,
}

#[derive(Deserialize)]
struct UserBucket<'a> {
    #[serde(rename = "s3Bucket", borrow)]
    bucket: Option<Text<'a>>,
    #[serde(rename = "s3Key", borrow)]
    key: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct ImageResponse<'a> {
    #[serde(rename = "imageId", borrow)]
    image_id: Option<Text<'a>>,
    #[serde(rename = "importTaskId", borrow)]
    import_task: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct ModifyImageAttribute<'a> {
    #[serde(rename = "imageId", borrow)]
    image_id: Option<Text<'a>>,
    #[serde(rename = "attributeType", borrow)]
    attribute_type: Option<Text<'a>>,
    #[serde(rename = "launchPermission", borrow)]
    launch_permission: Option<LaunchPermission<'a>>,
}

#[derive(Deserialize)]
struct LaunchPermission<'a> {
    #[serde(borrow)]
    add: Option<Items<Grantee<'a>>>,
    #[serde(borrow)]
    remove: Option<Items<Grantee<'a>>>,
}

#[derive(Deserialize)]
struct Grantee<'a> {
    #[serde(rename = "userId", borrow)]
    user_id: Option<Text<'a>>,
    #[serde(borrow)]
    group: Option<Text<'a>>,
    #[serde(rename = "organizationArn", borrow)]
    org: Option<Text<'a>>,
    #[serde(rename = "organizationalUnitArn", borrow)]
    ou: Option<Text<'a>>,
}

/// What every event of one record shares.
struct Common<'c> {
    time: Ts,
    ctx: &'c RecordCtx,
    event_id: Option<String>,
    account: Option<String>,
    region: Option<String>,
    actor: Option<String>,
}

impl Common<'_> {
    fn push(&self, out: &mut Vec<Event>, action: CloudAction, key: &str) {
        let mut e = Event::new(
            self.time,
            self.ctx.source(Format::CloudTrail),
            EventKind::Cloud(CloudEvent {
                provider: CloudProvider::Aws,
                account: self.account.clone(),
                region: self.region.clone(),
                actor: self.actor.clone(),
                action,
            }),
        );
        // The same record reaches pullwatch twice when a trail is read from S3 and
        // from CloudWatch Logs, or when CloudTrail redelivers it.
        e.dedupe = self
            .event_id
            .as_ref()
            .map(|id| format!("cloudtrail:{id}:{key}").into());
        out.push(e);
    }
}

pub fn decode_json(text: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let r: Record = serde_json::from_str(text)?;
    let source = r.event_source.ok_or(DecodeError::Missing("eventSource"))?;
    let name = r.event_name.ok_or(DecodeError::Missing("eventName"))?;
    let time = rfc3339(
        r.event_time
            .as_deref()
            .or(r.at_timestamp.as_deref())
            .ok_or(DecodeError::Missing("eventTime"))?,
    )?;
    if source != "ec2.amazonaws.com"
        || r.error_code
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty())
    {
        return Ok(());
    }
    let identity = r.identity.as_ref();
    let common = Common {
        time,
        ctx,
        event_id: nonblank(r.event_id.as_deref()).map(str::to_string),
        account: nonblank(r.recipient_account.as_deref())
            .or_else(|| identity.and_then(|i| nonblank(i.account_id.as_deref())))
            .map(str::to_string),
        region: nonblank(r.region.as_deref()).map(str::to_string),
        actor: identity
            .and_then(|i| {
                nonblank(i.arn.as_deref())
                    .or(nonblank(i.user_name.as_deref()))
                    .or(nonblank(i.principal_id.as_deref()))
                    .or(nonblank(i.invoked_by.as_deref()))
            })
            .map(str::to_string),
    };
    match name.as_ref() {
        "RunInstances" => run_instances(&common, r.request, r.response, out),
        "StartInstances" | "StopInstances" => {
            let start = name == "StartInstances";
            let ids = instance_ids(r.request, r.response)?;
            for id in ids {
                let action = if start {
                    CloudAction::InstanceStart {
                        instance_id: id.clone(),
                    }
                } else {
                    CloudAction::InstanceStop {
                        instance_id: id.clone(),
                    }
                };
                common.push(out, action, &id);
            }
            Ok(())
        }
        "ModifyInstanceAttribute" => {
            let Some(req) = parse::<ModifyInstanceAttribute>(r.request, "requestParameters")?
            else {
                return Ok(());
            };
            let field = match (&req.user_data, req.attribute.as_deref()) {
                (Some(f), _) => f,
                (None, Some("userData")) => match &req.value {
                    Some(v) => v,
                    None => return Ok(()),
                },
                _ => return Ok(()),
            };
            let id = lower_id(req.instance_id.as_deref())
                .ok_or(DecodeError::Missing("requestParameters.instanceId"))?;
            let action = CloudAction::UserDataChanged {
                instance_id: id.clone(),
                user_data: field.state(),
                startup_script_url: None,
            };
            common.push(out, action, &id);
            Ok(())
        }
        "CreateImage" | "CopyImage" | "RegisterImage" | "ImportImage" => {
            let req = parse::<ImageRequest>(r.request, "requestParameters")?;
            let resp = parse::<ImageResponse>(r.response, "responseElements")?;
            let req = req.as_ref();
            let how = match name.as_ref() {
                "CreateImage" => ImageOrigin::Created {
                    from_instance: lower_id(req.and_then(|q| q.instance_id.as_deref())),
                    from_disk: None,
                },
                "CopyImage" => ImageOrigin::Copied {
                    source_image: lower_id(req.and_then(|q| q.source_image.as_deref()))
                        .ok_or(DecodeError::Missing("requestParameters.sourceImageId"))?,
                    source_region: req
                        .and_then(|q| nonblank(q.source_region.as_deref()))
                        .map(str::to_string),
                },
                "RegisterImage" => ImageOrigin::Registered,
                _ => ImageOrigin::Imported {
                    source: req.and_then(import_source),
                },
            };
            // An import's AMI id only exists once the task finishes; the task id is
            // what the call returns.
            let image_id = resp.as_ref().and_then(|p| {
                lower_id(p.image_id.as_deref()).or_else(|| lower_id(p.import_task.as_deref()))
            });
            if let Some(image_id) = image_id {
                let key = image_id.clone();
                common.push(out, CloudAction::ImageCreated { image_id, how }, &key);
            }
            Ok(())
        }
        "ModifyImageAttribute" => {
            let Some(req) = parse::<ModifyImageAttribute>(r.request, "requestParameters")? else {
                return Ok(());
            };
            let Some(perm) = req.launch_permission else {
                return Ok(());
            };
            if req
                .attribute_type
                .as_deref()
                .is_some_and(|t| t != "launchPermission")
            {
                return Ok(());
            }
            let image_id = lower_id(req.image_id.as_deref())
                .ok_or(DecodeError::Missing("requestParameters.imageId"))?;
            let added = grantees(perm.add);
            let removed = grantees(perm.remove);
            if added.is_empty() && removed.is_empty() {
                return Ok(());
            }
            let key = image_id.clone();
            common.push(
                out,
                CloudAction::ImagePermission {
                    image_id,
                    added,
                    removed,
                },
                &key,
            );
            Ok(())
        }
        _ => Ok(()),
    }
}

fn run_instances(
    common: &Common,
    request: Option<&RawValue>,
    response: Option<&RawValue>,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    let req = parse::<RunRequest>(request, "requestParameters")?;
    let Some(resp) = parse::<RunResponse>(response, "responseElements")? else {
        // Without the response there is no instance to follow: nothing was launched
        // (or CloudTrail left the response out).
        return Ok(());
    };
    let req_image = req
        .as_ref()
        .and_then(|q| q.instances.as_ref())
        .and_then(|s| s.items.iter().find_map(|i| lower_id(i.image_id.as_deref())));
    let launch_template = req
        .as_ref()
        .and_then(|q| q.launch_template.as_ref())
        .and_then(|t| {
            lower_id(t.id.as_deref()).or_else(|| nonblank(t.name.as_deref()).map(str::to_string))
        });
    let user_data = match req.as_ref().and_then(|q| q.user_data.as_ref()) {
        Some(f) => f.state(),
        // A launch template may carry user data the request does not show.
        None if launch_template.is_some() => UserDataState::Unknown,
        None => UserDataState::Absent,
    };
    let mut req_tags: Vec<(String, String)> = Vec::new();
    if let Some(specs) = req.as_ref().and_then(|q| q.tag_specs.as_ref()) {
        for spec in specs
            .items
            .iter()
            .filter(|s| s.resource_type.as_deref().is_none_or(|t| t == "instance"))
        {
            add_tags(&mut req_tags, &spec.tags);
        }
    }
    let req_subnet = req.as_ref().and_then(|q| lower_id(q.subnet.as_deref()));
    for inst in resp.instances.iter().flat_map(|s| s.items.iter()) {
        let Some(instance_id) = lower_id(inst.instance_id.as_deref()) else {
            continue;
        };
        // With a launch template the request may name no image; the response does.
        let image = lower_id(inst.image_id.as_deref())
            .or_else(|| req_image.clone())
            .map(|id| VmImage::new(id, VmImageKind::Ami));
        let mut private_ips: Vec<IpAddr> = Vec::new();
        let nic_ips = inst
            .nics
            .iter()
            .flat_map(|n| n.items.iter())
            .map(|n| n.private_ip.as_deref());
        for ip in std::iter::once(inst.private_ip.as_deref())
            .chain(nic_ips)
            .flatten()
        {
            if let Ok(ip) = ip.trim().parse::<IpAddr>() {
                if !private_ips.contains(&ip) {
                    private_ips.push(ip);
                }
            }
        }
        let mut tags = Vec::new();
        if let Some(t) = &inst.tags {
            add_tags(&mut tags, &t.items);
        }
        for t in &req_tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        let launch = VmLaunch {
            instance_id: instance_id.clone(),
            image,
            private_ips,
            names: nonblank(inst.private_dns.as_deref())
                .map(str::to_string)
                .into_iter()
                .collect(),
            subnet: lower_id(inst.subnet.as_deref()).or_else(|| req_subnet.clone()),
            vpc: lower_id(inst.vpc.as_deref()),
            tags,
            user_data: user_data.clone(),
            startup_script_url: None,
            launch_template: launch_template.clone(),
            launched_at: inst.launch_time.as_ref().and_then(LaunchTime::ts),
        };
        common.push(
            out,
            CloudAction::InstanceLaunch(Box::new(launch)),
            &instance_id,
        );
    }
    Ok(())
}

/// Instance ids of a Start/Stop call: the response's (what actually changed state),
/// else the request's.
fn instance_ids(
    request: Option<&RawValue>,
    response: Option<&RawValue>,
) -> Result<Vec<String>, DecodeError> {
    for (raw, field) in [
        (response, "responseElements"),
        (request, "requestParameters"),
    ] {
        if let Some(call) = parse::<InstancesCall>(raw, field)? {
            let ids: Vec<String> = call
                .instances
                .iter()
                .flat_map(|s| s.items.iter())
                .filter_map(|i| lower_id(i.instance_id.as_deref()))
                .collect();
            if !ids.is_empty() {
                return Ok(ids);
            }
        }
    }
    Ok(Vec::new())
}

fn import_source(req: &ImageRequest) -> Option<String> {
    let disk = req.disks.as_ref()?.items.first()?;
    if let Some(url) = nonblank(disk.url.as_deref()) {
        return Some(url.to_string());
    }
    let b = disk.bucket.as_ref()?;
    let bucket = nonblank(b.bucket.as_deref())?;
    Some(format!("s3://{bucket}/{}", b.key.as_deref().unwrap_or("")))
}

fn grantees(list: Option<Items<Grantee>>) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for g in list.into_iter().flat_map(|l| l.items) {
        let who = nonblank(g.user_id.as_deref())
            .or(nonblank(g.group.as_deref()))
            .or(nonblank(g.org.as_deref()))
            .or(nonblank(g.ou.as_deref()));
        if let Some(w) = who {
            if !v.iter().any(|x| x == w) {
                v.push(w.to_string());
            }
        }
    }
    v
}

fn add_tags(into: &mut Vec<(String, String)>, tags: &[Tag]) {
    for t in tags {
        let pair = (
            t.key.to_string(),
            t.value.as_deref().unwrap_or("").to_string(),
        );
        if !into.contains(&pair) {
            into.push(pair);
        }
    }
}

/// Parses an embedded request or response object; `null` or absent is `None`.
fn parse<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<Option<T>, DecodeError> {
    match raw {
        None => Ok(None),
        Some(r) if r.get() == "null" => Ok(None),
        Some(r) => serde_json::from_str(r.get())
            .map(Some)
            .map_err(|e| DecodeError::Invalid(format!("{field}: {e}"))),
    }
}

fn lower_id(s: Option<&str>) -> Option<String> {
    nonblank(s).map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DecodeStats;

    use crate::test_support::ctx;

    fn decode(s: &str) -> Vec<Event> {
        let mut out = Vec::new();
        decode_json(s, &ctx(), &mut out).unwrap();
        out
    }

    fn stream(data: Vec<u8>) -> (Vec<Event>, DecodeStats) {
        crate::test_support::stream_bytes("mem", data)
    }

    fn cloud(e: &Event) -> &CloudEvent {
        match &e.kind {
            EventKind::Cloud(c) => c,
            other => panic!("not a cloud event: {other:?}"),
        }
    }

    fn launch(e: &Event) -> &VmLaunch {
        match &cloud(e).action {
            CloudAction::InstanceLaunch(l) => l,
            other => panic!("not a launch: {other:?}"),
        }
    }

    /// A successful RunInstances in the shape the EC2 API reference and CloudTrail docs
    /// give (no real one was found as a data file): two instances, user data, tags in
    /// the request and the response, `launchTime` as epoch milliseconds.
    const RUN_OK: &str = r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/dev","accountId":"111122223333","userName":"dev"},"eventTime":"2024-08-01T11:30:23Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.0","requestParameters":{"instancesSet":{"items":[{"imageId":"ami-0ABCdef1234567890","minCount":2,"maxCount":2,"keyName":"k"}]},"userData":"<sensitiveDataRemoved>","instanceType":"t3.micro","subnetId":"subnet-0aa","tagSpecificationSet":{"items":[{"resourceType":"instance","tags":[{"key":"Name","value":"web"},{"key":"team","value":"blue"}]},{"resourceType":"volume","tags":[{"key":"vol","value":"x"}]}]}},"responseElements":{"requestId":"r-1","reservationId":"r-0123","ownerId":"111122223333","groupSet":{},"instancesSet":{"items":[{"instanceId":"i-0AAA1111bbbb22223","imageId":"ami-0abcdef1234567890","instanceState":{"code":0,"name":"pending"},"privateDnsName":"ip-10-0-1-5.eu-west-1.compute.internal","privateIpAddress":"10.0.1.5","subnetId":"subnet-0aa","vpcId":"vpc-0BB","instanceType":"t3.micro","launchTime":1722511823000,"tagSet":{"items":[{"key":"Name","value":"web"}]},"networkInterfaceSet":{"items":[{"networkInterfaceId":"eni-1","privateIpAddress":"10.0.1.5"},{"networkInterfaceId":"eni-2","privateIpAddress":"10.0.2.9"}]},"placement":{"availabilityZone":"eu-west-1a"}},{"instanceId":"i-0ccc3333dddd44445","imageId":"ami-0abcdef1234567890","privateDnsName":"ip-10-0-1-6.eu-west-1.compute.internal","privateIpAddress":"06.0.1.6","subnetId":"subnet-0aa","vpcId":"vpc-0bb","launchTime":1722511823000}]}},"requestID":"r-1","eventID":"e-run-1","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#;

    #[test]
    fn successful_run_instances_emits_one_launch_per_instance() {
        let ev = decode(RUN_OK);
        assert_eq!(ev.len(), 2);
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2024-08-01T11:30:23Z").unwrap()
        );
        assert_eq!(
            ev[0].dedupe.as_deref(),
            Some("cloudtrail:e-run-1:i-0aaa1111bbbb22223")
        );
        let c = cloud(&ev[0]);
        assert_eq!(c.provider, CloudProvider::Aws);
        assert_eq!(c.account.as_deref(), Some("111122223333"));
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            c.actor.as_deref(),
            Some("arn:aws:iam::111122223333:user/dev")
        );
        let l = launch(&ev[0]);
        assert_eq!(l.instance_id, "i-0aaa1111bbbb22223");
        assert_eq!(
            l.image,
            Some(VmImage::new("ami-0abcdef1234567890", VmImageKind::Ami))
        );
        let ips: Vec<String> = l.private_ips.iter().map(|i| i.to_string()).collect();
        assert_eq!(ips, ["10.0.1.5", "10.0.2.9"]);
        assert_eq!(l.names, ["ip-10-0-1-5.eu-west-1.compute.internal"]);
        assert_eq!(l.subnet.as_deref(), Some("subnet-0aa"));
        assert_eq!(l.vpc.as_deref(), Some("vpc-0bb"));
        // Response tags first, then the request's instance tags not already there;
        // volume tags are not the instance's.
        let tags: Vec<(&str, &str)> = l
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(tags, [("Name", "web"), ("team", "blue")]);
        assert_eq!(l.user_data, UserDataState::Redacted);
        assert_eq!(l.launch_template, None);
        assert_eq!(l.launched_at, Ts::from_millis(1_722_511_823_000));
        // A scrambled address with a leading zero is dropped, not an error.
        let l2 = launch(&ev[1]);
        assert_eq!(l2.instance_id, "i-0ccc3333dddd44445");
        assert!(l2.private_ips.is_empty());
        assert_eq!(
            l2.tags,
            [
                ("Name".to_string(), "web".to_string()),
                ("team".to_string(), "blue".to_string())
            ]
        );
    }

    #[test]
    fn launch_template_run_takes_the_image_from_the_response() {
        let rec = r#"{"eventTime":"2024-09-02T08:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"us-east-1","recipientAccountId":"111122223333","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/asg/x"},"requestParameters":{"instancesSet":{"items":[{"minCount":1,"maxCount":1}]},"launchTemplate":{"launchTemplateId":"lt-0ABC123","version":"3"}},"responseElements":{"instancesSet":{"items":[{"instanceId":"i-0123","imageId":"ami-0feed","privateIpAddress":"172.31.5.4","launchTime":"2024-09-02T08:00:01.000Z"}]}},"eventID":"e2"}"#;
        let ev = decode(rec);
        assert_eq!(ev.len(), 1);
        let l = launch(&ev[0]);
        assert_eq!(l.image.as_ref().unwrap().id, "ami-0feed");
        assert_eq!(l.launch_template.as_deref(), Some("lt-0abc123"));
        // The template may carry user data the request does not show.
        assert_eq!(l.user_data, UserDataState::Unknown);
        assert_eq!(l.launched_at, Ts::parse_rfc3339("2024-09-02T08:00:01Z"));
        assert_eq!(l.private_ips, ["172.31.5.4".parse::<IpAddr>().unwrap()]);
        // A request image and no response image: the request's is used; a plain
        // request without userData certainly had none.
        let rec = r#"{"eventTime":"2024-09-02T08:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","requestParameters":{"instancesSet":{"items":[{"imageId":"ami-0REQ"}]}},"responseElements":{"instancesSet":{"items":[{"instanceId":"i-9","launchTime":"not a time"}]}}}"#;
        let ev = decode(rec);
        let l = launch(&ev[0]);
        assert_eq!(l.image.as_ref().unwrap().id, "ami-0req");
        assert_eq!(l.user_data, UserDataState::Absent);
        assert_eq!(l.launched_at, None);
        assert_eq!(ev[0].dedupe, None);
    }

    /// A JSON writer may render epoch milliseconds with an exponent or a fraction. Whole
    /// milliseconds are the same instant; a fraction of one, or a value past any
    /// plausible date, leaves the launch time unknown without losing the launch.
    #[test]
    fn launch_time_written_as_a_float() {
        let run = |t: &str| {
            let rec = format!(
                r#"{{"eventTime":"2024-08-01T11:30:23Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","requestParameters":{{"instancesSet":{{"items":[{{"imageId":"ami-0abc"}}]}}}},"responseElements":{{"instancesSet":{{"items":[{{"instanceId":"i-1","launchTime":{t}}}]}}}}}}"#
            );
            let ev = decode(&rec);
            assert_eq!(ev.len(), 1, "{t}");
            launch(&ev[0]).launched_at
        };
        let at = Ts::from_millis(1_722_511_823_000);
        assert_eq!(run("1.722511823E12"), at);
        assert_eq!(run("1722511823000.0"), at);
        assert_eq!(run("1722511823000.5"), None);
        assert_eq!(run("1e300"), None);
    }

    #[test]
    fn failed_calls_emit_nothing() {
        let failed = r#"{"eventTime":"2024-08-01T11:30:23Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","errorCode":"Client.UnauthorizedOperation","requestParameters":{"instancesSet":{"items":[{"imageId":"ami-aCBbfd13bdb1d1E4b"}]}},"responseElements":null}"#;
        assert!(decode(failed).is_empty());
        let failed_start = r#"{"eventTime":"2024-08-01T11:30:23Z","eventSource":"ec2.amazonaws.com","eventName":"StartInstances","errorCode":"IncorrectInstanceState","requestParameters":{"instancesSet":{"items":[{"instanceId":"i-1"}]}},"responseElements":null}"#;
        assert!(decode(failed_start).is_empty());
        // No response and no error: nothing to follow either.
        let no_resp = r#"{"eventTime":"2024-08-01T11:30:23Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","requestParameters":{"instancesSet":{"items":[{"imageId":"ami-1"}]}},"responseElements":null}"#;
        assert!(decode(no_resp).is_empty());
    }

    #[test]
    fn start_stop_and_user_data_change() {
        let stop = r#"{"eventTime":"2024-08-01T12:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"StopInstances","requestParameters":{"instancesSet":{"items":[{"instanceId":"i-DDd6c7B0e18F0E35f"},{"instanceId":"i-2"}]},"force":false},"responseElements":{"instancesSet":{"items":[{"instanceId":"i-DDd6c7B0e18F0E35f","currentState":{"code":64,"name":"stopping"}},{"instanceId":"i-2"}]}},"eventID":"s"}"#;
        let ev = decode(stop);
        assert_eq!(ev.len(), 2);
        assert_eq!(
            cloud(&ev[0]).action,
            CloudAction::InstanceStop {
                instance_id: "i-ddd6c7b0e18f0e35f".into()
            }
        );
        assert_eq!(ev[1].dedupe.as_deref(), Some("cloudtrail:s:i-2"));
        let modify = r#"{"eventTime":"2024-08-01T12:01:00Z","eventSource":"ec2.amazonaws.com","eventName":"ModifyInstanceAttribute","requestParameters":{"instanceId":"i-DDd6c7B0e18F0E35f","userData":"<sensitiveDataRemoved>"},"responseElements":{"_return":true}}"#;
        let ev = decode(modify);
        assert_eq!(
            cloud(&ev[0]).action,
            CloudAction::UserDataChanged {
                instance_id: "i-ddd6c7b0e18f0e35f".into(),
                user_data: UserDataState::Redacted,
                startup_script_url: None
            }
        );
        // The attribute/value form, and a change of another attribute.
        let older = r#"{"eventTime":"2024-08-01T12:01:00Z","eventSource":"ec2.amazonaws.com","eventName":"ModifyInstanceAttribute","requestParameters":{"instanceId":"i-3","attribute":"userData","value":"<sensitiveDataRemoved>"}}"#;
        assert_eq!(decode(older).len(), 1);
        let other = r#"{"eventTime":"2024-08-01T12:01:00Z","eventSource":"ec2.amazonaws.com","eventName":"ModifyInstanceAttribute","requestParameters":{"instanceId":"i-3","instanceType":{"value":"t3.large"}}}"#;
        assert!(decode(other).is_empty());
    }

    #[test]
    fn image_provenance_and_sharing() {
        let t = r#""eventTime":"2024-08-01T12:00:00Z","eventSource":"ec2.amazonaws.com""#;
        let create = format!(
            r#"{{{t},"eventName":"CreateImage","requestParameters":{{"instanceId":"i-ABC","name":"golden"}},"responseElements":{{"imageId":"ami-NEW1"}}}}"#
        );
        assert_eq!(
            cloud(&decode(&create)[0]).action,
            CloudAction::ImageCreated {
                image_id: "ami-new1".into(),
                how: ImageOrigin::Created {
                    from_instance: Some("i-abc".into()),
                    from_disk: None
                }
            }
        );
        let copy = format!(
            r#"{{{t},"eventName":"CopyImage","requestParameters":{{"sourceImageId":"ami-SRC","sourceRegion":"us-west-2","name":"c"}},"responseElements":{{"imageId":"ami-copy"}}}}"#
        );
        assert_eq!(
            cloud(&decode(&copy)[0]).action,
            CloudAction::ImageCreated {
                image_id: "ami-copy".into(),
                how: ImageOrigin::Copied {
                    source_image: "ami-src".into(),
                    source_region: Some("us-west-2".into())
                }
            }
        );
        let register = format!(
            r#"{{{t},"eventName":"RegisterImage","requestParameters":{{"name":"r","rootDeviceName":"/dev/xvda","architecture":"x86_64"}},"responseElements":{{"imageId":"ami-reg"}}}}"#
        );
        assert_eq!(
            cloud(&decode(&register)[0]).action,
            CloudAction::ImageCreated {
                image_id: "ami-reg".into(),
                how: ImageOrigin::Registered
            }
        );
        let import = format!(
            r#"{{{t},"eventName":"ImportImage","requestParameters":{{"diskContainerSet":{{"items":[{{"format":"vmdk","userBucket":{{"s3Bucket":"b","s3Key":"disk.vmdk"}}}}]}}}},"responseElements":{{"importTaskId":"import-ami-0ABC","status":"active"}}}}"#
        );
        assert_eq!(
            cloud(&decode(&import)[0]).action,
            CloudAction::ImageCreated {
                image_id: "import-ami-0abc".into(),
                how: ImageOrigin::Imported {
                    source: Some("s3://b/disk.vmdk".into())
                }
            }
        );
        let public = format!(
            r#"{{{t},"eventName":"ModifyImageAttribute","requestParameters":{{"imageId":"ami-X","launchPermission":{{"add":{{"items":[{{"group":"all"}}]}},"remove":{{"items":[{{"userId":"123456789012"}}]}}}}}}}}"#
        );
        assert_eq!(
            cloud(&decode(&public)[0]).action,
            CloudAction::ImagePermission {
                image_id: "ami-x".into(),
                added: vec!["all".into()],
                removed: vec!["123456789012".into()]
            }
        );
        let desc = format!(
            r#"{{{t},"eventName":"ModifyImageAttribute","requestParameters":{{"imageId":"ami-X","attributeType":"description","description":{{"value":"d"}}}}}}"#
        );
        assert!(decode(&desc).is_empty());
    }

    #[test]
    fn other_calls_are_of_no_interest_and_other_formats_fail() {
        let describe = r#"{"eventTime":"2024-08-01T12:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","requestParameters":{"instancesSet":{}},"responseElements":null}"#;
        assert!(decode(describe).is_empty());
        let s3 = r#"{"eventTime":"2024-08-01T12:00:00Z","eventSource":"s3.amazonaws.com","eventName":"RunInstances"}"#;
        assert!(decode(s3).is_empty());
        let mut out = Vec::new();
        let docker = r#"{"Type":"container","Action":"start","Actor":{"ID":"a"},"timeNano":1}"#;
        assert_eq!(
            decode_json(docker, &ctx(), &mut out),
            Err(DecodeError::Missing("eventSource"))
        );
        let bad_time =
            r#"{"eventTime":"yesterday","eventSource":"ec2.amazonaws.com","eventName":"X"}"#;
        assert!(matches!(
            decode_json(bad_time, &ctx(), &mut out),
            Err(DecodeError::Time(_))
        ));
    }

    /// The three containers (Records object, JSON array, one per line) through the
    /// stream, with the record's own line numbers.
    #[test]
    fn containers_through_the_stream() {
        let records = format!("{{\"Records\":[\n{RUN_OK},\n{RUN_OK}\n]}}\n");
        let (ev, st) = stream(records.into_bytes());
        assert_eq!(ev.len(), 4, "{st:?}");
        assert_eq!(ev[2].source.line, 3);
        assert_eq!(st.formats[&Format::CloudTrail].records, 2);
        let lines = format!(
            "{}\n{RUN_OK}\n",
            RUN_OK.replacen(
                '{',
                "{\"@timestamp\":\"2024-08-01T11:30:24.000Z\",\"@version\":\"1\",",
                1
            )
        );
        let (ev, st) = stream(lines.into_bytes());
        assert_eq!(ev.len(), 4);
        assert_eq!(ev[3].source.line, 2);
        assert_eq!(st.skipped_total(), 0);
    }

    #[test]
    fn shared_samples() {
        let Some(dir) = crate::test_support::samples("cloudtrail") else {
            return;
        };
        let run = |name: &str| {
            let (out, stats) = crate::test_support::stream_file(&dir.join(name));
            assert_eq!(stats.skipped_total(), 0, "{name}: {stats:?}");
            (out, stats.formats[&Format::CloudTrail].records)
        };
        let (ev, n) = run("alice_start_instances.json");
        assert_eq!((ev.len(), n), (1, 1));
        assert_eq!(
            cloud(&ev[0]).action,
            CloudAction::InstanceStart {
                instance_id: "i-ebeaf9e2".into()
            }
        );
        assert_eq!(
            cloud(&ev[0]).actor.as_deref(),
            Some("arn:aws:iam::123456789012:user/Alice")
        );
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2014-03-06T21:22:54Z").unwrap()
        );
        // The failed RunInstances and two STS calls: recognized, nothing launched.
        let (ev, n) = run("aws.execution.ec2-launch-unusual-instances.json");
        assert_eq!((ev.len(), n), (0, 3));
        let (ev, n) = run("aws.exfiltration.ec2-share-ami.json");
        assert_eq!((ev.len(), n), (1, 1));
        assert_eq!(
            cloud(&ev[0]).action,
            CloudAction::ImagePermission {
                image_id: "ami-de1fbcab6ccb03e6d".into(),
                added: vec!["846424999548".into()],
                removed: vec![]
            }
        );
        assert_eq!(cloud(&ev[0]).account.as_deref(), Some("118238665043"));
        assert_eq!(ev[0].source.line, 2);
        // User-data read-backs (denied) are reads: nothing.
        let (ev, n) = run("aws.discovery.ec2-download-user-data.json");
        assert_eq!((ev.len(), n), (0, 19));
        let (ev, n) = run("ec2_proxy_s3_exfiltration_2020-09-14011940.json");
        assert_eq!((ev.len(), n), (0, 103));
    }
}
