//! IaaS facts: which VM was launched from which image with what user data, images
//! being built, copied, imported or shared, and the guest's own account of its first
//! boot. AWS, GCP and Azure name these differently; the engine only ever sees this
//! shape, so "launched from an unapproved image, then did something suspicious on first
//! boot" is one analytic across clouds.

use crate::time::Ts;
use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloudProvider {
    Aws,
    Gcp,
    Azure,
}

impl CloudProvider {
    pub fn name(self) -> &'static str {
        match self {
            CloudProvider::Aws => "aws",
            CloudProvider::Gcp => "gcp",
            CloudProvider::Azure => "azure",
        }
    }
}

/// One control-plane call that matters to AN0692, as the provider's audit log told it.
#[derive(Clone, Debug, PartialEq)]
pub struct CloudEvent {
    pub provider: CloudProvider,
    /// AWS account id, GCP project id, or Azure subscription id (lowercase).
    pub account: Option<String>,
    /// Region, or zone where the provider scopes the resource to one (GCP instances).
    pub region: Option<String>,
    /// Who made the call: IAM ARN, principal e-mail, UPN or application id.
    pub actor: Option<String>,
    pub action: CloudAction,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CloudAction {
    /// Boxed: a launch carries far more than the other actions.
    InstanceLaunch(Box<VmLaunch>),
    InstanceStart {
        instance_id: String,
    },
    InstanceStop {
        instance_id: String,
    },
    /// User data or a startup script was replaced on an existing instance: it runs on
    /// the next boot (AWS needs the instance stopped first, so a Stop, this, then a
    /// Start is the pattern).
    UserDataChanged {
        instance_id: String,
        user_data: UserDataState,
        /// GCP `startup-script-url`: the script is fetched at boot from here.
        startup_script_url: Option<String>,
    },
    /// An image came into being in the account: the provenance the "newly seen" and
    /// "self-built" image logic needs.
    ImageCreated {
        image_id: String,
        how: ImageOrigin,
    },
    /// Launch permissions of an image changed (shared out, or made public with `all`).
    ImagePermission {
        image_id: String,
        /// Account ids, or `all` for public.
        added: Vec<String>,
        removed: Vec<String>,
    },
}

/// A VM launch. Ids are normalized so that the same instance or image compares equal
/// wherever it is named: AWS ids lowercase (AWS issues them lowercase; anonymised
/// samples mix case), Azure resource ids lowercase (ARM ids are case-insensitive and
/// the Activity Log upper-cases them), GCP ids as given.
#[derive(Clone, Debug, PartialEq)]
pub struct VmLaunch {
    /// `i-…` (AWS), the numeric instance id (GCP), the VM resource id (Azure).
    pub instance_id: String,
    /// The image the boot disk came from, when the record says.
    pub image: Option<VmImage>,
    pub private_ips: Vec<IpAddr>,
    /// Names the guest may report itself under: AWS `privateDnsName`, GCP instance
    /// name and hostname, Azure `osProfile.computerName`.
    pub names: Vec<String>,
    pub subnet: Option<String>,
    /// VPC (AWS) or network (GCP).
    pub vpc: Option<String>,
    /// Instance tags (AWS), labels (GCP), tags (Azure), in the record's order.
    pub tags: Vec<(String, String)>,
    pub user_data: UserDataState,
    /// GCP `startup-script-url` metadata: a script fetched at every boot.
    pub startup_script_url: Option<String>,
    /// AWS launch template id or name, when the launch used one.
    pub launch_template: Option<String>,
    /// When the provider says the instance launched (AWS `launchTime`).
    pub launched_at: Option<Ts>,
}

/// What the control plane revealed about the user data a VM boots with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserDataState {
    /// The request certainly carried none.
    Absent,
    /// The request carried user data but the log withholds it (CloudTrail always
    /// writes `<sensitiveDataRemoved>`; a GCP metadata key logged without a value).
    Redacted,
    /// The content: decoded from base64 when the source encodes it and the result is
    /// text; binary content (gzip) stays base64, which `inspect_user_data` unwraps.
    Present(String),
    /// The source never shows user data, or it may come from elsewhere (an AWS launch
    /// template, Azure, whose Activity Log drops ARM secrets): absence says nothing.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmImage {
    /// `ami-…` (lowercase); `projects/<p>/global/images/<name>` or
    /// `projects/<p>/global/images/family/<family>` (GCP, URL prefixes removed);
    /// `publisher:offer:sku:version` (Azure Marketplace, lowercase); the lowercased
    /// resource id (Azure custom and gallery images).
    pub id: String,
    pub kind: VmImageKind,
    /// Owning account or project when the id names it (GCP project, Azure
    /// subscription).
    pub owner: Option<String>,
    /// Azure Marketplace coordinates (also the `plan` publisher when only that is known).
    pub publisher: Option<String>,
    pub offer: Option<String>,
    pub sku: Option<String>,
    pub version: Option<String>,
}

impl VmImage {
    pub fn new(id: impl Into<String>, kind: VmImageKind) -> VmImage {
        VmImage {
            id: id.into(),
            kind,
            owner: None,
            publisher: None,
            offer: None,
            sku: None,
            version: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VmImageKind {
    Ami,
    GcpImage,
    /// The newest image of a family at launch time: the concrete image is not logged.
    GcpImageFamily,
    GcpMachineImage,
    AzureMarketplace,
    /// A managed image (`…/providers/Microsoft.Compute/images/<name>`).
    AzureCustom,
    /// An Azure Compute Gallery image or version in some subscription.
    AzureGallery,
    /// Shared directly with this tenant (`sharedGalleryImageId`).
    AzureSharedGallery,
    /// Published to everyone (`communityGalleryImageId`): anyone can publish there.
    AzureCommunityGallery,
}

impl VmImageKind {
    pub fn name(self) -> &'static str {
        match self {
            VmImageKind::Ami => "ami",
            VmImageKind::GcpImage => "gcp-image",
            VmImageKind::GcpImageFamily => "gcp-image-family",
            VmImageKind::GcpMachineImage => "gcp-machine-image",
            VmImageKind::AzureMarketplace => "azure-marketplace",
            VmImageKind::AzureCustom => "azure-custom",
            VmImageKind::AzureGallery => "azure-gallery",
            VmImageKind::AzureSharedGallery => "azure-shared-gallery",
            VmImageKind::AzureCommunityGallery => "azure-community-gallery",
        }
    }
}

/// How an image came to exist in the account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageOrigin {
    /// Captured from a running system: an instance (AWS `CreateImage`) or a disk or
    /// snapshot (GCP `sourceDisk`/`sourceSnapshot`).
    Created {
        from_instance: Option<String>,
        from_disk: Option<String>,
    },
    /// Copied from another image, possibly from another region or project.
    Copied {
        source_image: String,
        source_region: Option<String>,
    },
    /// Registered from snapshots or a manifest (AWS `RegisterImage`).
    Registered,
    /// Imported from an uploaded disk (AWS `ImportImage`, whose AMI id only exists
    /// once the task completes, so `image_id` is then the `import-ami-…` task id; GCP
    /// `rawDisk.source`, the storage URL in `source`).
    Imported { source: Option<String> },
    /// Another account shared the image into this one.
    SharedIn,
}

/// User data handed to pullwatch directly rather than through an audit log: cloud-init's
/// `user-data.txt`, or `aws ec2 describe-instance-attribute --attribute userData`
/// output. Such input has no time of its own; decoders stamp it at the Unix epoch so it
/// sorts before every event of the instance it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserDataSeen {
    pub instance_id: Option<String>,
    /// Decoded from base64 when that gives text; otherwise as given.
    pub content: String,
    /// Where it came from (`aws ec2 describe-instance-attribute`, a file path).
    pub origin: String,
}

/// The guest's boot-stage marker from cloud-init: the anchor of the first-boot window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestBoot {
    /// The cloud-init instance id (`i-…` on AWS; UUIDs, serials or a datasource marker
    /// elsewhere), when the log named it before this line.
    pub instance_id: Option<String>,
    pub hostname: Option<String>,
    /// Time since the kernel booted, in milliseconds (cloud-init's `Up N seconds`).
    pub uptime_ms: Option<u64>,
    /// `init-local`, `init`, `modules:config`, `modules:final`, or `finished`.
    pub stage: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, EventKind, Placement, ProcessExec};
    use crate::source::{Format, SourceRef};
    use std::sync::Arc;

    fn ev(kind: EventKind) -> Event {
        let src = SourceRef {
            format: Format::CloudTrail,
            path: Arc::from("t"),
            line: 1,
        };
        Event::new(Ts(0), src, kind)
    }

    fn cloud(action: CloudAction) -> EventKind {
        EventKind::Cloud(CloudEvent {
            provider: CloudProvider::Aws,
            account: None,
            region: None,
            actor: None,
            action,
        })
    }

    /// At one timestamp a launch sorts before its start, the start before the guest's
    /// boot marker, and that before the first process: the order the engine needs.
    #[test]
    fn same_time_order_follows_the_boot_sequence() {
        let launch = ev(cloud(CloudAction::InstanceLaunch(Box::new(VmLaunch {
            instance_id: "i-1".into(),
            image: Some(VmImage::new("ami-1", VmImageKind::Ami)),
            private_ips: vec![],
            names: vec![],
            subnet: None,
            vpc: None,
            tags: vec![],
            user_data: UserDataState::Redacted,
            startup_script_url: None,
            launch_template: None,
            launched_at: None,
        }))));
        let start = ev(cloud(CloudAction::InstanceStart {
            instance_id: "i-1".into(),
        }));
        let boot = ev(EventKind::GuestBoot(GuestBoot {
            instance_id: Some("i-1".into()),
            hostname: None,
            uptime_ms: Some(19_410),
            stage: "init-local".into(),
        }));
        let proc_ = ev(EventKind::Process(ProcessExec {
            lineage: Default::default(),
            placement: Placement::Host { host: None },
            pid: None,
            ppid: None,
            exe: "sh".into(),
            cmdline: "sh".into(),
            parent_exe: None,
            user: None,
        }));
        let ranks: Vec<u8> = [&launch, &start, &boot, &proc_]
            .iter()
            .map(|e| e.stage_rank())
            .collect();
        assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{ranks:?}");
        assert_eq!(launch.kind_name(), "instance-launch");
        assert_eq!(boot.kind_name(), "guest-boot");
        let img = ev(cloud(CloudAction::ImageCreated {
            image_id: "ami-2".into(),
            how: ImageOrigin::Registered,
        }));
        assert!(img.stage_rank() < launch.stage_rank());
    }
}
