//! The touchscreen's browser as shipped (config/kiosk-browser.sh and its enterprise
//! policies): its profile is removed when it stops, and the policies allow nothing but the
//! daemon's page.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_policies_allow_only_the_daemons_page() {
    let text = std::fs::read_to_string(repo().join("config/kiosk-browser/policies.json")).unwrap();
    let p: serde_json::Value = serde_json::from_str(&text).unwrap();
    let list = |k: &str| -> Vec<String> {
        p[k].as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert!(list("URLBlocklist").contains(&"*".to_owned()));
    assert!(list("URLBlocklist").contains(&"file://*".to_owned()));
    assert_eq!(
        list("URLAllowlist"),
        vec!["http://127.0.0.1:7300/".to_owned()]
    );
    assert_eq!(p["DeveloperToolsAvailability"], 2, "DevTools off");
    assert_eq!(p["DownloadRestrictions"], 3, "no downloads");
    assert_eq!(p["PrintingEnabled"], false);
    assert_eq!(list("ExtensionInstallBlocklist"), vec!["*".to_owned()]);
    // The script's default page is the one allowed.
    let script = std::fs::read_to_string(repo().join("config/kiosk-browser.sh")).unwrap();
    assert!(script.contains("http://127.0.0.1:7300/"));
}

#[test]
fn the_browser_profile_is_removed_when_the_unit_stops() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("no curl here: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The daemon's state endpoint, answered by a bare server.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        }
    });
    // A stand-in browser that notes its profile and waits to be stopped.
    let fake = dir.path().join("chromium");
    let noted = dir.path().join("profile-was");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in --user-data-dir=*) echo \"${{a#--user-data-dir=}}\" > {noted:?};; esac; done\nexec sleep 60\n"
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    let mut child = Command::new("sh")
        .arg(repo().join("config/kiosk-browser.sh"))
        .env("KIOSK_UI_URL", &url)
        .env("CHROMIUM", &fake)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let profile = loop {
        if let Ok(p) = std::fs::read_to_string(&noted) {
            break PathBuf::from(p.trim());
        }
        assert!(Instant::now() < deadline, "the browser never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(profile.is_dir(), "a fresh profile while it runs");
    // systemd stops the unit with SIGTERM.
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    // Ended (by the TERM itself or the trap's exit: shells differ), its profile gone.
    child.wait().unwrap();
    assert!(
        !profile.exists(),
        "the profile outlived the browser: {}",
        profile.display()
    );
}
