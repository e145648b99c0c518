//! Client round trips to the simulator over mutual TLS (docs/BENCHMARKS.md): on one
//! kept-alive connection, and with a fresh TLS handshake each time (a new client per
//! request, which also reads its certificate files: an upper bound on the handshake).

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use kiosk_egov::{BreakerConfig, EgovClient, EgovConfig, MessageId, Outcome};
use std::path::PathBuf;
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn config(dir: &std::path::Path, url: &str) -> EgovConfig {
    EgovConfig {
        endpoint: url.to_owned(),
        ca_cert: dir.join("ca.pem"),
        client_cert: dir.join("kiosk.pem"),
        client_key: dir.join("kiosk.key"),
        authority_key: dir.join("authority.pub"),
        kiosk_id: "KIOSK-BENCH-01".into(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        max_attempts: 1,
        backoff_base: Duration::from_millis(10),
        breaker: BreakerConfig::default(),
    }
}

fn roundtrip(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    egov_sim::certs::generate(dir.path(), "KIOSK-BENCH-01").unwrap();
    let sim = rt
        .block_on(egov_sim::serve(egov_sim::SimConfig {
            certs: dir.path().to_path_buf(),
            seed: 1,
            fingerprint_fail_rate: 0.0,
            listen: "127.0.0.1:0".parse().unwrap(),
            admin: "127.0.0.1:0".parse().unwrap(),
            documents: repo().join("config/documents.toml"),
            templates: repo().join("config/templates"),
        }))
        .unwrap();
    let client = EgovClient::new(config(dir.path(), &sim.url)).unwrap();
    let asked = MessageId::new_v4();
    let mut g = c.benchmark_group("egov");
    g.bench_function("kept-alive mutual-TLS round trip", |b| {
        b.to_async(&rt).iter(|| async {
            let o = client.message_status(asked).await;
            assert!(matches!(o, Outcome::Ok(_)));
        })
    });
    g.bench_function("fresh handshake round trip", |b| {
        b.to_async(&rt).iter(|| async {
            let fresh = EgovClient::new(config(dir.path(), &sim.url)).unwrap();
            let o = fresh.message_status(asked).await;
            assert!(matches!(o, Outcome::Ok(_)));
        })
    });
    g.finish();
}

criterion_group!(benches, roundtrip);
criterion_main!(benches);
