//! Key reload (what SIGHUP triggers) on a running accept side, in-process: a rotated key
//! takes effect without a restart, and a bad reload keeps the old keys.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rmq_ha_guard::app::{Reloader, run};
use rmq_ha_guard::config::Config;
use rmq_protocol::sign::{SigningKey, ha_v1};
use rmq_testkit::tap::Tap;
use support::{free_addr, key_file};

fn answered(addr: std::net::SocketAddr, secret: &str, nonce: u8) -> bool {
    let now = u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
    let mut n = [nonce; ha_v1::NONCE_LEN];
    n[1..9].copy_from_slice(&now.to_be_bytes());
    let hello = ha_v1::encode_hello("ha-1", &SigningKey::new(secret.as_bytes()), now, n, "broker-a").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&hello).unwrap();
    let mut answer = [0u8; ha_v1::ACCEPT_LEN];
    s.read_exact(&mut answer).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_rotates_keys_and_a_bad_reload_keeps_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "ha-1", "first-secret");
    // Any listener will do upstream: tunnels are opened and dropped at once.
    let tap = Tap::start(free_addr()).unwrap();
    let accept = free_addr();
    let path = dir.path().join("guard.toml");
    std::fs::write(
        &path,
        format!(
            "[http]\nlisten = \"127.0.0.1:0\"\n[[keys]]\nid = \"ha-1\"\nsecret_file = \"{}\"\n\
             [[accept]]\nlisten = \"{accept}\"\nupstream = \"{}\"\nbroker_name = \"broker-a\"\n",
            key.display(),
            tap.addr
        ),
    )
    .unwrap();
    let cfg = Config::load(&path).unwrap();
    let (reload_tx, requests) = tokio::sync::mpsc::channel(1);
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let (stop_tx, stop) = tokio::sync::oneshot::channel::<()>();
    let guard = tokio::spawn(run(
        cfg,
        async move {
            let _ = stop.await;
        },
        Some(ready_tx),
        Some(Reloader { requests, path: path.clone() }),
    ));
    let http = ready.await.unwrap();
    let reloads = |result: &'static str| async move {
        tokio::task::spawn_blocking(move || {
            let body = rmq_testkit::http::get(http, "/metrics", None).unwrap().body;
            rmq_testkit::expo::value(&body, "rmq_ha_guard_reloads_total", &[("result", result)]).unwrap_or(0.0)
        })
        .await
        .unwrap()
    };
    let wait_reloads = |result: &'static str, n: f64| async move {
        tokio::task::spawn_blocking(move || {
            rmq_testkit::wire::wait_for("reload counted", Duration::from_secs(30), || {
                let body = rmq_testkit::http::get(http, "/metrics", None)?.body;
                let v = rmq_testkit::expo::value(&body, "rmq_ha_guard_reloads_total", &[("result", result)]);
                Ok((v == Some(n)).then_some(()))
            })
        })
        .await
        .unwrap()
        .unwrap();
    };

    let probe = |secret: &'static str, nonce: u8| tokio::task::spawn_blocking(move || answered(accept, secret, nonce));
    assert!(probe("first-secret", 1).await.unwrap());
    assert!(!probe("second-secret", 2).await.unwrap());

    // Rotate the key and reload: the new secret works, the old one no longer does.
    std::fs::write(&key, "second-secret").unwrap();
    reload_tx.send(()).await.unwrap();
    wait_reloads("ok", 1.0).await;
    assert!(probe("second-secret", 3).await.unwrap());
    assert!(!probe("first-secret", 4).await.unwrap());

    // A key file readable by others is refused at reload: the running keys stay.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    reload_tx.send(()).await.unwrap();
    wait_reloads("failed", 1.0).await;
    assert_eq!(reloads("ok").await, 1.0);
    assert!(probe("second-secret", 5).await.unwrap());

    stop_tx.send(()).unwrap();
    guard.await.unwrap().unwrap();
}
