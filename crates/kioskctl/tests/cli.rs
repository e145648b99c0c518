//! kioskctl end to end: the binary against real files.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

fn kioskctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kioskctl"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .unwrap()
}

fn simulate(db: &str, sessions: &str, seed: &str) -> Output {
    kioskctl(&[
        "ledger",
        "simulate",
        "--db",
        db,
        "--sessions",
        sessions,
        "--seed",
        seed,
    ])
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn simulate_then_verify_balances_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.db");
    let db = db.to_str().unwrap();
    let out = simulate(db, "120", "5");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("conserved"),
        "{}",
        text(&out.stdout)
    );
    let out = kioskctl(&["ledger", "verify", "--db", db]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = kioskctl(&["ledger", "balances", "--db", db, "--json"]);
    let balances: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let krw: i64 = balances
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["unit"] == "krw")
        .map(|b| b["posted"].as_i64().unwrap())
        .sum();
    assert_eq!(krw, 0, "won balances must sum to zero");
    let out = kioskctl(&["ledger", "export", "--db", db, "--since", "10"]);
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 100);
    assert_eq!(lines[0]["seq"], 11);
    for w in lines.windows(2) {
        assert_eq!(w[0]["hash"], w[1]["prev_hash"], "exported chain links");
    }
}

#[test]
fn the_same_seed_books_the_same_journal() {
    let dir = tempfile::tempdir().unwrap();
    let mut exports = Vec::new();
    for name in ["a.db", "b.db"] {
        let db = dir.path().join(name);
        let db = db.to_str().unwrap();
        assert!(
            kioskctl(&[
                "ledger",
                "simulate",
                "--db",
                db,
                "--sessions",
                "60",
                "--seed",
                "9"
            ])
            .status
            .success()
        );
        exports.push(kioskctl(&["ledger", "export", "--db", db]).stdout);
    }
    assert!(!exports[0].is_empty());
    assert_eq!(exports[0], exports[1]);
}

#[test]
fn simulate_refuses_an_existing_ledger_and_leaves_it_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kiosk.db");
    let db = db.to_str().unwrap();
    let sim = |db| kioskctl(&["ledger", "simulate", "--db", db, "--sessions", "5"]);
    assert!(sim(db).status.success());
    let before = kioskctl(&["ledger", "export", "--db", db]).stdout;
    let again = sim(db);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("exists"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(kioskctl(&["ledger", "export", "--db", db]).stdout, before);
}

#[test]
fn verify_fails_naming_the_first_tampered_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let dbs = db.to_str().unwrap();
    assert!(
        kioskctl(&[
            "ledger",
            "simulate",
            "--db",
            dbs,
            "--sessions",
            "30",
            "--seed",
            "2"
        ])
        .status
        .success()
    );
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "DROP TRIGGER journal_no_update; UPDATE journal SET amount = amount + 10 WHERE seq = 17;",
    )
    .unwrap();
    drop(c);
    let out = kioskctl(&["ledger", "verify", "--db", dbs]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("entry 17"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn reading_commands_never_create_a_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    let out = kioskctl(&["ledger", "verify", "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no such ledger"));
    assert!(!db.exists());
}

#[test]
fn catalog_check_reports_problems_with_lines() {
    let out = kioskctl(&[
        "catalog",
        "check",
        "--overrides",
        "config/overrides.example.toml",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("66 document types"));

    let dir = tempfile::tempdir().unwrap();
    let real = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/documents.toml"),
    )
    .unwrap();
    let bad = real.replacen("code = \"RES-ABSTRACT\"", "code = \"RES-COPY\"", 1);
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, &bad).unwrap();
    let out = kioskctl(&["catalog", "check", "--catalog", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    // The duplicate sits where RES-ABSTRACT's code was.
    let at = real.find("code = \"RES-ABSTRACT\"").unwrap();
    let dup_line = real[..at].lines().count() + 1;
    // Reported at the code's line or at its [[document]] header just above.
    let at_line = err.contains(&format!("bad.toml:{dup_line}:"))
        || err.contains(&format!("bad.toml:{}:", dup_line - 1));
    assert!(
        at_line && err.contains("duplicate") && err.contains("RES-COPY"),
        "{err}"
    );

    let overrides = dir.path().join("o.toml");
    std::fs::write(&overrides, "[documents]\nNO-SUCH-DOC = false\n").unwrap();
    let out = kioskctl(&[
        "catalog",
        "check",
        "--overrides",
        overrides.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("NO-SUCH-DOC"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn catalog_list_json_has_every_type() {
    let out = kioskctl(&["catalog", "list", "--json", "--on", "2026-11-23"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = v.as_array().unwrap();
    assert_eq!(all.len(), 66);
    let res = all.iter().find(|d| d["code"] == "RES-COPY").unwrap();
    assert_eq!(res["fee"], 200);
    assert_eq!(res["requires"], "identity");
}

#[test]
fn verify_expect_head_catches_a_ledger_rewritten_or_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let simulate = |db: &str, sessions: &str, seed: &str| {
        let out = simulate(db, sessions, seed);
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    simulate(&p("real.db"), "40", "5");
    std::fs::write(p("signing.key"), "11".repeat(32)).unwrap();
    let out = kioskctl(&[
        "ledger",
        "sign-head",
        "--db",
        &p("real.db"),
        "--kiosk",
        "K-9",
        "--key",
        &p("signing.key"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let head: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(head["kiosk"], "K-9");
    let public = head["public_key"].as_str().unwrap().to_owned();
    // Two heads in the file, as the kiosk keeps them: the ledger must reach both.
    let mut heads = text(&out.stdout);
    heads.push_str(&heads.clone());
    std::fs::write(p("heads.jsonl"), heads).unwrap();

    let verify = |db: &str, extra: &[&str]| {
        let mut args = vec!["ledger", "verify", "--db", db, "--expect-head"];
        let heads = p("heads.jsonl");
        args.push(&heads);
        args.extend_from_slice(extra);
        kioskctl(&args)
    };
    let out = verify(&p("real.db"), &["--public-key", &public]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("reaches 2 signed head(s)"));
    // The published key file works as well.
    std::fs::write(p("keys.txt"), format!("# kiosks\nK-9-2026 {public}\n")).unwrap();
    let out = verify(&p("real.db"), &["--keys", &p("keys.txt")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    // Cut short: the same kiosk's books with fewer sessions, consistent by themselves.
    simulate(&p("short.db"), "30", "5");
    assert_eq!(
        kioskctl(&["ledger", "verify", "--db", &p("short.db")])
            .status
            .code(),
        Some(0)
    );
    let out = verify(&p("short.db"), &["--public-key", &public]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("truncated"),
        "{}",
        text(&out.stdout)
    );

    // Rewritten consistently: other sessions, every hash recomputed, longer than the head.
    simulate(&p("forged.db"), "80", "6");
    let out = verify(&p("forged.db"), &["--public-key", &public]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("rewritten"),
        "{}",
        text(&out.stdout)
    );

    // A head signed by a key the verifier does not trust proves nothing.
    let other = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let out = verify(&p("real.db"), &["--public-key", other]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("not trusted"));
    // And without any trusted key the command refuses to judge.
    let out = verify(&p("real.db"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("whose signature"),
        "{}",
        text(&out.stderr)
    );
}
