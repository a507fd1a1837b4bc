//! The HTML report in a real browser: headless Chromium (Debian's `chromium`, which
//! `scripts/test.sh` installs when missing) loads a report made from records whose
//! container name and command line are HTML and script, and the rendered DOM must show
//! them as text, with the report's own elements in place and no element injected.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HOSTILE_NAME: &str = "<img src=x onerror=alert(1)>";
const HOSTILE_CMD: &str = "</style><script>alert(1)</script>";

fn browser() -> Option<PathBuf> {
    let candidates = [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ];
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn fixture(dir: &Path) -> PathBuf {
    let id = "badc0ffee0ddf00d1234567890abcdef1234567890abcdef1234567890abcdef";
    let name = serde_json::to_string(HOSTILE_NAME).expect("json string");
    let action =
        serde_json::to_string(&format!("exec_start: sh -c '{HOSTILE_CMD}'")).expect("json string");
    let container = |status: &str, action: &str, t: u64| {
        format!(
            r#"{{"status":"{status}","id":"{id}","from":"evil.example/x:1","Type":"container","Action":{action},"Actor":{{"ID":"{id}","Attributes":{{"image":"evil.example/x:1","name":{name}}}}},"scope":"local","time":{t},"timeNano":{t}000000000}}"#
        )
    };
    let lines = [
        r#"{"status":"pull","id":"evil.example/x:1","Type":"image","Action":"pull","Actor":{"ID":"evil.example/x:1","Attributes":{"name":"evil.example/x"}},"scope":"local","time":1795166100,"timeNano":1795166100000000000}"#.to_string(),
        container("create", "\"create\"", 1795166101),
        container("start", "\"start\"", 1795166102),
        container("exec_start", &action, 1795166110),
    ];
    let path = dir.join("hostile.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write fixture");
    path
}

/// Runs the browser with a deadline, so a hung browser fails the test instead of
/// hanging the suite.
fn dump_dom(browser: &Path, profile: &Path, page: &Path) -> String {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the browser");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match child.try_wait().expect("wait for the browser") {
            Some(_) => break,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the browser did not finish within 120s");
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let out = child.wait_with_output().expect("browser output");
    String::from_utf8(out.stdout).expect("utf-8 DOM")
}

#[test]
fn hostile_strings_render_as_text_in_a_real_browser() {
    if std::env::var_os("PULLWATCH_SKIP_BROWSER").is_some_and(|v| v == "1") {
        println!("skipped: PULLWATCH_SKIP_BROWSER=1");
        return;
    }
    let Some(browser) = browser() else {
        println!(
            "skipped: no browser (install Debian's chromium; scripts/test.sh does when it can)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let input = fixture(dir.path());
    let report = dir.path().join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_pullwatch"))
        .args(["scan", "-q", "--format", "html", "--output"])
        .arg(&report)
        .arg(&input)
        .output()
        .expect("run pullwatch");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dom = dump_dom(&browser, &dir.path().join("profile"), &report);
    // The report's own structure rendered.
    assert!(
        dom.contains("<h1>pullwatch investigation report</h1>"),
        "{dom}"
    );
    assert!(
        dom.contains(r#"<span class="n" id="alerts-total">1</span>"#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"<article class="alert high" id="alert-1">"#),
        "{dom}"
    );
    assert_eq!(
        dom.matches(r#"<div class="stage stage-"#).count(),
        4,
        "pull, create, start, activity"
    );
    assert!(
        dom.contains("hostile.jsonl:4"),
        "the activity's source line is shown"
    );
    assert!(dom.contains(r#"<table id="alerts-by-severity">"#));

    // The hostile strings are text: serialized escaped, never as markup.
    assert!(dom.contains("&lt;img src=x onerror=alert(1)&gt;"), "{dom}");
    assert!(
        dom.contains("&lt;/style&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{dom}"
    );
    assert!(!dom.contains("<img"), "no image element injected");
    assert!(!dom.contains("<script"), "no script element at all");
    assert_eq!(
        dom.matches("<style").count(),
        1,
        "only the report's own style element"
    );
    assert_eq!(dom.matches("</style>").count(), 1);
}
