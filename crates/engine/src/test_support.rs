//! Events the engine's unit tests share.

use pullwatch_model::{
    ContainerRef, Event, EventKind, Format, ImageRef, Placement, ProcessExec, SourceRef, Ts,
};
use std::sync::Arc;

/// A process in a container running `image`, the way Tetragon reports one.
pub(crate) fn exec_in(at: Ts, image: &str) -> Event {
    Event::new(
        at,
        SourceRef {
            format: Format::Tetragon,
            path: Arc::from("t"),
            line: 1,
        },
        EventKind::Process(ProcessExec {
            lineage: Default::default(),
            placement: Placement::Container(ContainerRef {
                id: Some("abc".into()),
                image: Some(ImageRef::parse(image)),
                ..ContainerRef::default()
            }),
            pid: None,
            ppid: None,
            exe: "/bin/sh".into(),
            cmdline: "sh".into(),
            parent_exe: None,
            user: None,
        }),
    )
}
