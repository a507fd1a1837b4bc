//! Azure Activity Log records as Diagnostic Settings export them (Storage `PT1H.json`
//! blobs and Event Hubs: `{"records":[…]}` or one record per line; the stream unwraps
//! the array): VM creation with its image reference, VM start and stop.
//!
//! One operation writes several records (Start, Accept, Success) under one
//! `correlationId`; they share a dedupe key. Only the record carrying
//! `properties.requestbody` (an escaped JSON string, usually on Start) says what the VM
//! boots from, so only it yields the launch. A PUT on an existing VM logs the same way
//! as a creation, so an update is reported as a launch too. ARM treats `customData` and
//! `userData` as secrets and the log normally drops them: their absence is "unknown".
//! Resource ids are upper-cased in the export and case-insensitive in ARM; pullwatch
//! lowercases them.

use crate::user_data::b64_text;
use crate::util::Pairs;
use crate::util::{nonblank, rfc3339, Text};
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{
    CloudAction, CloudEvent, CloudProvider, Event, EventKind, Format, UserDataState, VmImage,
    VmImageKind, VmLaunch,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    time: Option<Text<'a>>,
    #[serde(rename = "resourceId", borrow)]
    resource_id: Option<Text<'a>>,
    #[serde(rename = "operationName", borrow)]
    operation: Option<OperationName<'a>>,
    #[serde(rename = "resultType", borrow)]
    result_type: Option<Text<'a>>,
    #[serde(rename = "correlationId", borrow)]
    correlation_id: Option<Text<'a>>,
    #[serde(borrow)]
    location: Option<Text<'a>>,
    #[serde(borrow)]
    caller: Option<Text<'a>>,
    #[serde(borrow)]
    identity: Option<Identity<'a>>,
    #[serde(borrow)]
    properties: Option<Properties<'a>>,
}

/// A string in the export; `{"value":…,"localizedValue":…}` in the REST shape.
#[derive(Deserialize)]
#[serde(untagged)]
enum OperationName<'a> {
    #[serde(borrow)]
    Plain(Cow<'a, str>),
    Object {
        #[serde(borrow)]
        value: Cow<'a, str>,
    },
}

impl OperationName<'_> {
    fn as_str(&self) -> &str {
        match self {
            OperationName::Plain(s) | OperationName::Object { value: s } => s,
        }
    }
}

#[derive(Deserialize)]
struct Identity<'a> {
    #[serde(borrow)]
    claims: Option<Claims<'a>>,
    #[serde(borrow)]
    authorization: Option<Authorization<'a>>,
}

#[derive(Deserialize)]
struct Claims<'a> {
    #[serde(
        rename = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
        borrow
    )]
    upn_uri: Option<Cow<'a, str>>,
    #[serde(borrow)]
    upn: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    appid: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Authorization<'a> {
    #[serde(borrow)]
    evidence: Option<Evidence<'a>>,
}

#[derive(Deserialize)]
struct Evidence<'a> {
    #[serde(rename = "principalId", borrow)]
    principal_id: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Properties<'a> {
    #[serde(borrow, alias = "requestBody")]
    requestbody: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct VmBody<'a> {
    #[serde(borrow)]
    location: Option<Text<'a>>,
    #[serde(default)]
    tags: Pairs,
    #[serde(borrow)]
    plan: Option<Plan<'a>>,
    #[serde(borrow)]
    properties: Option<VmProperties<'a>>,
}

#[derive(Deserialize)]
struct Plan<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    publisher: Option<Text<'a>>,
    #[serde(borrow)]
    product: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct VmProperties<'a> {
    #[serde(rename = "storageProfile", borrow)]
    storage: Option<StorageProfile<'a>>,
    #[serde(rename = "osProfile", borrow)]
    os: Option<OsProfile<'a>>,
    #[serde(rename = "userData", borrow)]
    user_data: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct StorageProfile<'a> {
    #[serde(rename = "imageReference", borrow)]
    image: Option<ImageReference<'a>>,
}

#[derive(Deserialize)]
struct ImageReference<'a> {
    #[serde(borrow)]
    publisher: Option<Text<'a>>,
    #[serde(borrow)]
    offer: Option<Text<'a>>,
    #[serde(borrow)]
    sku: Option<Text<'a>>,
    #[serde(borrow)]
    version: Option<Text<'a>>,
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(rename = "sharedGalleryImageId", borrow)]
    shared: Option<Text<'a>>,
    #[serde(rename = "communityGalleryImageId", borrow)]
    community: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct OsProfile<'a> {
    #[serde(rename = "computerName", borrow)]
    computer_name: Option<Text<'a>>,
    #[serde(rename = "customData", borrow)]
    custom_data: Option<Text<'a>>,
}

const VM_WRITE: &str = "microsoft.compute/virtualmachines/write";

pub fn decode_json(text: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let r: Record = serde_json::from_str(text)?;
    let op = r
        .operation
        .as_ref()
        .ok_or(DecodeError::Missing("operationName"))?;
    let resource_id = r
        .resource_id
        .as_deref()
        .ok_or(DecodeError::Missing("resourceId"))?;
    let time = rfc3339(r.time.as_deref().ok_or(DecodeError::Missing("time"))?)?;
    let op = op.as_str().trim().to_ascii_lowercase();
    if r.result_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("failure"))
    {
        return Ok(());
    }
    let vm = resource_id.trim().to_ascii_lowercase();
    let record_region = nonblank(r.location.as_deref())
        .filter(|l| !l.eq_ignore_ascii_case("global"))
        .map(str::to_ascii_lowercase);
    let (action, region) = match op.as_str() {
        VM_WRITE => {
            let Some(raw) = r.properties.as_ref().and_then(|p| p.requestbody) else {
                return Ok(());
            };
            let Some((launch, location)) = vm_launch(&vm, raw)? else {
                return Ok(());
            };
            (
                CloudAction::InstanceLaunch(Box::new(launch)),
                location.or(record_region),
            )
        }
        "microsoft.compute/virtualmachines/start/action" => (
            CloudAction::InstanceStart {
                instance_id: vm.clone(),
            },
            record_region,
        ),
        "microsoft.compute/virtualmachines/deallocate/action"
        | "microsoft.compute/virtualmachines/poweroff/action" => (
            CloudAction::InstanceStop {
                instance_id: vm.clone(),
            },
            record_region,
        ),
        _ => return Ok(()),
    };
    let identity = r.identity.as_ref();
    let claims = identity.and_then(|i| i.claims.as_ref());
    let actor = nonblank(r.caller.as_deref())
        .or_else(|| {
            claims.and_then(|c| nonblank(c.upn_uri.as_deref()).or(nonblank(c.upn.as_deref())))
        })
        .or_else(|| {
            claims.and_then(|c| nonblank(c.name.as_deref()).or(nonblank(c.appid.as_deref())))
        })
        .or_else(|| {
            identity
                .and_then(|i| i.authorization.as_ref())
                .and_then(|a| a.evidence.as_ref())
                .and_then(|e| nonblank(e.principal_id.as_deref()))
        })
        .map(str::to_string);
    let mut e = Event::new(
        time,
        ctx.source(Format::AzureActivity),
        EventKind::Cloud(CloudEvent {
            provider: CloudProvider::Azure,
            account: subscription(&vm),
            region,
            actor,
            action,
        }),
    );
    e.dedupe = nonblank(r.correlation_id.as_deref())
        .map(|c| format!("azure:{}:{op}", c.to_ascii_lowercase()).into());
    out.push(e);
    Ok(())
}

/// The launch a VM PUT body describes, and the body's location.
fn vm_launch(vm: &str, raw: &RawValue) -> Result<Option<(VmLaunch, Option<String>)>, DecodeError> {
    let bad = |e: serde_json::Error| {
        DecodeError::Invalid(format!(
            "properties.requestbody is not a VM body (truncated?): {e}"
        ))
    };
    // Normally an escaped JSON string; some pipelines have already parsed it.
    let unescaped: Cow<str> = if raw.get().starts_with('"') {
        serde_json::from_str::<Cow<str>>(raw.get()).map_err(bad)?
    } else {
        Cow::Borrowed(raw.get())
    };
    if unescaped.trim().is_empty() {
        return Ok(None);
    }
    let body: VmBody = serde_json::from_str(&unescaped).map_err(bad)?;
    let props = body.properties.as_ref();
    let image_ref = props
        .and_then(|p| p.storage.as_ref())
        .and_then(|s| s.image.as_ref());
    let image = image_ref
        .and_then(azure_image)
        .or_else(|| body.plan.as_ref().and_then(plan_image));
    let os = props.and_then(|p| p.os.as_ref());
    let custom = os.and_then(|o| nonblank(o.custom_data.as_deref()));
    let user = props.and_then(|p| nonblank(p.user_data.as_deref()));
    let user_data = match custom.or(user) {
        Some(b64) => UserDataState::Present(b64_text(b64)),
        None => UserDataState::Unknown,
    };
    let launch = VmLaunch {
        instance_id: vm.to_string(),
        image,
        private_ips: Vec::new(),
        names: os
            .and_then(|o| nonblank(o.computer_name.as_deref()))
            .map(str::to_string)
            .into_iter()
            .collect(),
        subnet: None,
        vpc: None,
        tags: body.tags.0,
        user_data,
        startup_script_url: None,
        launch_template: None,
        launched_at: None,
    };
    let location = nonblank(body.location.as_deref()).map(str::to_ascii_lowercase);
    Ok(Some((launch, location)))
}

fn azure_image(r: &ImageReference) -> Option<VmImage> {
    if let Some(id) = nonblank(r.community.as_deref()) {
        return Some(VmImage::new(
            id.to_ascii_lowercase(),
            VmImageKind::AzureCommunityGallery,
        ));
    }
    if let Some(id) = nonblank(r.shared.as_deref()) {
        return Some(VmImage::new(
            id.to_ascii_lowercase(),
            VmImageKind::AzureSharedGallery,
        ));
    }
    if let Some(id) = nonblank(r.id.as_deref()) {
        let id = id.to_ascii_lowercase();
        let kind = if id.contains("/galleries/") {
            VmImageKind::AzureGallery
        } else {
            VmImageKind::AzureCustom
        };
        let mut img = VmImage::new(id, kind);
        img.owner = subscription(&img.id);
        return Some(img);
    }
    let publisher = nonblank(r.publisher.as_deref())?;
    let offer = nonblank(r.offer.as_deref()).unwrap_or("");
    let sku = nonblank(r.sku.as_deref()).unwrap_or("");
    let version = nonblank(r.version.as_deref()).unwrap_or("latest");
    let mut img = VmImage::new(
        format!("{publisher}:{offer}:{sku}:{version}").to_ascii_lowercase(),
        VmImageKind::AzureMarketplace,
    );
    img.publisher = Some(publisher.to_string());
    img.offer = nonblank(r.offer.as_deref()).map(str::to_string);
    img.sku = nonblank(r.sku.as_deref()).map(str::to_string);
    img.version = nonblank(r.version.as_deref()).map(str::to_string);
    Some(img)
}

/// A Marketplace plan without an image reference: the plan still names the publisher.
fn plan_image(p: &Plan) -> Option<VmImage> {
    let publisher = nonblank(p.publisher.as_deref())?;
    let product = nonblank(p.product.as_deref()).unwrap_or("");
    let name = nonblank(p.name.as_deref()).unwrap_or("");
    let mut img = VmImage::new(
        format!("{publisher}:{product}:{name}:latest").to_ascii_lowercase(),
        VmImageKind::AzureMarketplace,
    );
    img.publisher = Some(publisher.to_string());
    img.offer = nonblank(p.product.as_deref()).map(str::to_string);
    img.sku = nonblank(p.name.as_deref()).map(str::to_string);
    Some(img)
}

/// The subscription id of a (lowercased) ARM resource id.
fn subscription(id: &str) -> Option<String> {
    let mut it = id.split('/');
    while let Some(seg) = it.next() {
        if seg.eq_ignore_ascii_case("subscriptions") {
            return it
                .next()
                .filter(|s| !s.is_empty())
                .map(str::to_ascii_lowercase);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DecodeStats;
    use pullwatch_model::Ts;
    use std::sync::Arc;

    const SUB: &str = "8A4DE8B5-095C-47D0-A96F-A75130C61D53";

    fn stream(data: &str) -> (Vec<Event>, DecodeStats) {
        crate::test_support::stream_bytes("mem", data.as_bytes().to_vec())
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

    /// One record in the export's shape; `extra` goes inside `properties`.
    fn record(op: &str, result: &str, corr: &str, extra: &str) -> String {
        format!(
            r#"{{"time":"2024-03-01T10:00:00.1234567Z","resourceId":"/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/RG1/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/VM-WEB1","operationName":"{op}","category":"Administrative","resultType":"{result}","resultSignature":"Started.","durationMs":0,"callerIpAddress":"198.51.100.30","correlationId":"{corr}","identity":{{"claims":{{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"ops@contoso.example","appid":"app-1"}}}},"level":"Information","location":"eastus","properties":{{"statusCode":"Created","serviceRequestId":"s"{extra}}}}}"#
        )
    }

    fn body_with(image_reference: &str, os_extra: &str) -> String {
        let body = format!(
            r#"{{"location":"westeurope","tags":{{"env":"prod","owner":"ops"}},"properties":{{"hardwareProfile":{{"vmSize":"Standard_B2s"}},"storageProfile":{{"imageReference":{image_reference},"osDisk":{{"createOption":"FromImage"}}}},"osProfile":{{"computerName":"web1","adminUsername":"azureuser"{os_extra}}},"networkProfile":{{"networkInterfaces":[{{"id":"/subscriptions/x/nic1"}}]}}}}}}"#
        );
        // The export carries the body as an escaped JSON string.
        format!(
            r#","requestbody":{}"#,
            serde_json::to_string(&body).unwrap()
        )
    }

    #[test]
    fn marketplace_vm_write_from_the_record_with_a_body() {
        let start = record(
            "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE",
            "Start",
            "C0FFEE00-0000-0000-0000-000000000001",
            &body_with(
                r#"{"publisher":"Canonical","offer":"0001-com-ubuntu-server-jammy","sku":"22_04-lts-gen2","version":"latest"}"#,
                "",
            ),
        );
        let accept = record(
            "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE",
            "Accept",
            "C0FFEE00-0000-0000-0000-000000000001",
            "",
        );
        let (ev, st) = stream(&format!("{{\"records\":[\n{start},\n{accept}\n]}}\n"));
        assert_eq!(st.formats[&Format::AzureActivity].records, 2);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].source.line, 2);
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2024-03-01T10:00:00.1234567Z").unwrap()
        );
        assert_eq!(
            ev[0].dedupe.as_deref(),
            Some("azure:c0ffee00-0000-0000-0000-000000000001:microsoft.compute/virtualmachines/write")
        );
        let c = cloud(&ev[0]);
        assert_eq!(c.provider, CloudProvider::Azure);
        assert_eq!(
            c.account.as_deref(),
            Some("8a4de8b5-095c-47d0-a96f-a75130c61d53")
        );
        assert_eq!(c.region.as_deref(), Some("westeurope"));
        assert_eq!(c.actor.as_deref(), Some("ops@contoso.example"));
        let l = launch(&ev[0]);
        assert_eq!(
            l.instance_id,
            "/subscriptions/8a4de8b5-095c-47d0-a96f-a75130c61d53/resourcegroups/rg1/providers/microsoft.compute/virtualmachines/vm-web1"
        );
        let img = l.image.as_ref().unwrap();
        assert_eq!(
            img.id,
            "canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest"
        );
        assert_eq!(img.kind, VmImageKind::AzureMarketplace);
        assert_eq!(
            (
                img.publisher.as_deref(),
                img.offer.as_deref(),
                img.sku.as_deref(),
                img.version.as_deref()
            ),
            (
                Some("Canonical"),
                Some("0001-com-ubuntu-server-jammy"),
                Some("22_04-lts-gen2"),
                Some("latest")
            )
        );
        assert_eq!(l.names, ["web1"]);
        assert_eq!(
            l.tags,
            [
                ("env".into(), "prod".into()),
                ("owner".into(), "ops".into())
            ]
        );
        // Nothing said about custom data: ARM drops it from the log.
        assert_eq!(l.user_data, UserDataState::Unknown);
    }

    #[test]
    fn gallery_custom_and_community_images_and_custom_data() {
        let one = |image_ref: &str, os_extra: &str| -> VmLaunch {
            let rec = record(
                "Microsoft.Compute/virtualMachines/write",
                "Start",
                "c1",
                &body_with(image_ref, os_extra),
            );
            let (ev, st) = stream(&format!("{rec}\n"));
            assert_eq!(ev.len(), 1, "{st:?}");
            launch(&ev[0]).clone()
        };
        let l = one(
            r#"{"id":"/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/imgs/providers/Microsoft.Compute/galleries/gal1/images/golden/versions/1.0.3"}"#,
            &format!(
                r#","customData":"{}""#,
                crate::user_data::tests_b64("#cloud-config\nruncmd: [id]\n")
            ),
        );
        let img = l.image.unwrap();
        assert_eq!(
            img.id,
            "/subscriptions/11111111-2222-3333-4444-555555555555/resourcegroups/imgs/providers/microsoft.compute/galleries/gal1/images/golden/versions/1.0.3"
        );
        assert_eq!(img.kind, VmImageKind::AzureGallery);
        assert_eq!(
            img.owner.as_deref(),
            Some("11111111-2222-3333-4444-555555555555")
        );
        assert_eq!(
            l.user_data,
            UserDataState::Present("#cloud-config\nruncmd: [id]\n".into())
        );
        let l = one(
            r#"{"id":"/subscriptions/s9/resourceGroups/r/providers/Microsoft.Compute/images/myimg"}"#,
            "",
        );
        assert_eq!(l.image.unwrap().kind, VmImageKind::AzureCustom);
        let l = one(
            r#"{"communityGalleryImageId":"/CommunityGalleries/Pub-1a2b/Images/Miner/Versions/latest"}"#,
            "",
        );
        let img = l.image.unwrap();
        assert_eq!(
            (img.id.as_str(), img.kind),
            (
                "/communitygalleries/pub-1a2b/images/miner/versions/latest",
                VmImageKind::AzureCommunityGallery
            )
        );
        let l = one(
            r#"{"sharedGalleryImageId":"/SharedGalleries/abc-123/Images/x/Versions/1"}"#,
            "",
        );
        assert_eq!(l.image.unwrap().kind, VmImageKind::AzureSharedGallery);
    }

    /// `properties.userData` (base64) and a Marketplace `plan` without an image
    /// reference, as a body some pipelines have already parsed into an object.
    #[test]
    fn user_data_plan_and_parsed_bodies() {
        let body = format!(
            r#"{{"location":"eastus","plan":{{"name":"miner-sku","publisher":"shady-pub","product":"miner-offer"}},"properties":{{"userData":"{}","osProfile":{{"computerName":"w2"}}}}}}"#,
            crate::user_data::tests_b64("#!/bin/sh\necho hi\n")
        );
        let rec = record(
            "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE",
            "Start",
            "c7",
            &format!(r#","requestBody":{body}"#),
        );
        let (ev, st) = stream(&rec);
        assert_eq!(ev.len(), 1, "{st:?}");
        let l = launch(&ev[0]);
        assert_eq!(
            l.user_data,
            UserDataState::Present("#!/bin/sh\necho hi\n".into())
        );
        let img = l.image.as_ref().unwrap();
        assert_eq!(img.id, "shady-pub:miner-offer:miner-sku:latest");
        assert_eq!(img.kind, VmImageKind::AzureMarketplace);
        assert_eq!(img.publisher.as_deref(), Some("shady-pub"));
        assert_eq!(cloud(&ev[0]).region.as_deref(), Some("eastus"));
    }

    #[test]
    fn start_stop_failures_and_other_operations() {
        let corr = "c2";
        let start_rec = record(
            "MICROSOFT.COMPUTE/VIRTUALMACHINES/START/ACTION",
            "Start",
            corr,
            "",
        );
        let success = record(
            "MICROSOFT.COMPUTE/VIRTUALMACHINES/START/ACTION",
            "Success",
            corr,
            "",
        );
        let (ev, _) = stream(&format!("{start_rec}\n{success}\n"));
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].dedupe, ev[1].dedupe);
        assert!(matches!(
            cloud(&ev[0]).action,
            CloudAction::InstanceStart { .. }
        ));
        assert_eq!(cloud(&ev[0]).region.as_deref(), Some("eastus"));
        let (ev, _) = stream(&record(
            "Microsoft.Compute/virtualMachines/deallocate/action",
            "Accept",
            "c3",
            "",
        ));
        assert!(matches!(
            cloud(&ev[0]).action,
            CloudAction::InstanceStop { .. }
        ));
        let failed = record(
            "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE",
            "Failure",
            "c4",
            &body_with(r#"{"publisher":"p","offer":"o","sku":"s"}"#, ""),
        );
        assert!(stream(&failed).0.is_empty());
        let other = record(
            "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WRITE",
            "Start",
            "c5",
            "",
        );
        let (ev, st) = stream(&other);
        assert!(ev.is_empty());
        assert_eq!(st.formats[&Format::AzureActivity].records, 1);
        // A truncated body is a located, explained skip.
        let truncated = record(
            "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE",
            "Start",
            "c6",
            r##","requestbody":"{\"properties\":{\"storageProfile\":{\"imageRef""##,
        );
        let (ev, st) = stream(&truncated);
        assert!(ev.is_empty());
        assert_eq!(
            st.skipped["azure-activity: invalid record"].count, 1,
            "{st:?}"
        );
        let ctx = RecordCtx {
            path: Arc::from("t"),
            line: 1,
        };
        let mut out = Vec::new();
        assert_eq!(
            decode_json(r#"{"protoPayload":{},"timestamp":"x"}"#, &ctx, &mut out),
            Err(DecodeError::Missing("operationName"))
        );
    }

    #[test]
    fn shared_samples() {
        let Some(dir) = crate::test_support::samples("azure-activity") else {
            return;
        };
        let (ev, st) = crate::test_support::stream_file(&dir.join("activitylogs.log"));
        // One pretty-printed Event Hub listKeys record: recognized, of no interest.
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(st.formats[&Format::AzureActivity].records, 1);
        assert!(ev.is_empty());
    }
}
