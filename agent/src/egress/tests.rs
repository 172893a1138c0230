//! The `[namesrv_egress]` section: what it accepts and every problem it reports.

use std::os::unix::fs::PermissionsExt as _;

use std::path::PathBuf;

use rmq_runtime::config::Problems;

use super::*;

/// Every problem of the section as (path, message).
fn problems(c: &EgressConfig) -> Vec<(String, String)> {
    let mut p = Problems::default();
    c.check("namesrv_egress", &mut p);
    p.list().iter().map(|x| (x.path.clone(), x.message.clone())).collect()
}

fn key(dir: &std::path::Path) -> PathBuf {
    let p = dir.join("host-a");
    std::fs::write(&p, "secret").expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    p
}

fn route(listen: &str, upstream: &str) -> EgressRoute {
    EgressRoute { listen: listen.parse().expect("listen"), upstream: upstream.parse().expect("upstream"), target: None }
}

#[test]
fn off_by_default_and_valid_when_complete() {
    let c = EgressConfig::default();
    assert!(!c.enabled() && problems(&c).is_empty());
    let dir = tempfile::tempdir().expect("dir");
    let conf = dir.path().join("broker.conf");
    std::fs::write(&conf, "namesrvAddr=127.0.0.1:19876;[::1]:19877\n").expect("write");
    let c = EgressConfig {
        key_id: "host-a".into(),
        key_file: Some(key(dir.path())),
        routes: vec![route("127.0.0.1:19876", "ns1.example:9876"), route("[::1]:19877", "10.0.0.2:9876")],
        broker_config: Some(conf),
        allowed_uids: Some(vec![1001]),
        ..EgressConfig::default()
    };
    assert_eq!(problems(&c), vec![]);
    // A port the broker does not list is no error (the start warns about it).
    std::fs::write(c.broker_config.as_ref().expect("set"), "namesrvAddr=127.0.0.1:19876\n").expect("write");
    assert_eq!(problems(&c), vec![]);
    assert_eq!(
        broker_conf::check(c.broker_config.as_ref().expect("set"), &c.listens()),
        Ok(vec!["[::1]:19877".parse().expect("addr")])
    );
}

#[test]
fn every_problem_with_its_path() {
    let dir = tempfile::tempdir().expect("dir");
    let conf = dir.path().join("broker.conf");
    std::fs::write(&conf, "namesrvAddr=10.0.0.1:9876\n").expect("write");
    let c = EgressConfig {
        key_id: "host a".into(),
        key_file: None,
        routes: vec![
            route("0.0.0.0:19876", "ns1:9876"),
            EgressRoute { target: Some("a b".into()), ..route("127.0.0.1:19877", "ns2:9876") },
            route("127.0.0.1:19877", "ns3:9876"),
        ],
        broker_config: Some(conf.clone()),
        max_connections: 0,
        max_frame_bytes: 100,
        ..EgressConfig::default()
    };
    let problems = problems(&c);
    let found = |path: &str, text: &str| problems.iter().any(|(p, m)| p == path && m.contains(text));
    assert!(found("namesrv_egress.key_id", "host a"), "{problems:?}");
    assert!(found("namesrv_egress.key_file", "required"), "{problems:?}");
    assert!(found("namesrv_egress.routes[0].listen", "not a loopback address"), "{problems:?}");
    assert!(found("namesrv_egress.routes[1].target", "a b"), "{problems:?}");
    assert!(found("namesrv_egress.routes[2].listen", "appears twice"), "{problems:?}");
    assert!(found("namesrv_egress.max_connections", "at least 1"), "{problems:?}");
    assert!(found("namesrv_egress.max_frame_bytes", "outside"), "{problems:?}");
    assert!(found("namesrv_egress.allowed_uids", "required: list the broker's user id"), "{problems:?}");
    // The broker file is judged once the routes are valid.
    let ok_routes = EgressConfig {
        key_id: "host-a".into(),
        key_file: Some(key(dir.path())),
        routes: vec![route("127.0.0.1:19876", "ns1:9876")],
        broker_config: Some(conf),
        allow_any_local_user: true,
        ..EgressConfig::default()
    };
    let problems = self::problems(&ok_routes);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, "namesrv_egress.broker_config");
    assert!(problems[0].1.contains("10.0.0.1:9876, not an egress port"), "{problems:?}");
}

#[test]
fn whose_processes_are_relayed_is_chosen_explicitly() {
    let dir = tempfile::tempdir().expect("dir");
    let base = EgressConfig {
        key_id: "host-a".into(),
        key_file: Some(key(dir.path())),
        routes: vec![route("127.0.0.1:19876", "ns1:9876")],
        ..EgressConfig::default()
    };
    let uid_problems = |c: &EgressConfig| -> Vec<String> {
        problems(c).into_iter().filter(|(p, _)| p == "namesrv_egress.allowed_uids").map(|(_, m)| m).collect()
    };
    assert!(uid_problems(&base)[0].contains("allow_any_local_user = true"));
    let any = EgressConfig { allow_any_local_user: true, ..base.clone() };
    assert_eq!(problems(&any), vec![]);
    let uids = EgressConfig { allowed_uids: Some(vec![1001]), ..base.clone() };
    assert_eq!(problems(&uids), vec![]);
    let empty = EgressConfig { allowed_uids: Some(vec![]), ..base.clone() };
    assert!(uid_problems(&empty)[0].contains("empty"));
    let both = EgressConfig { allowed_uids: Some(vec![1001]), allow_any_local_user: true, ..base };
    assert!(uid_problems(&both)[0].contains("choose one"));
}
