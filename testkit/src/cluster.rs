//! A name server and broker on loopback.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use rmq_protocol::body::{ClusterInfo, FromBody as _};
use rmq_protocol::{Header, RequestCode, ResponseCode, SerializeType};
use tempfile::TempDir;

use crate::bins::RocketmqBins;
use crate::ports::{free_port, free_port_run};
use crate::process::{Janitor, ManagedProcess};
use crate::wire;

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

static OPAQUE: AtomicI32 = AtomicI32::new(1_000_000);

fn probe(addr: SocketAddr, code: RequestCode) -> anyhow::Result<(Header, bytes::Bytes)> {
    let h = Header::request(code, OPAQUE.fetch_add(1, Ordering::Relaxed));
    wire::call(addr, &h, SerializeType::JSON, &[], PROBE_TIMEOUT)
}

fn ensure_running(p: &mut ManagedProcess) -> anyhow::Result<()> {
    if !p.is_running() {
        return Err(wire::GiveUp(format!(
            "{} exited during startup; log {}:\n{}",
            p.name(),
            p.log_path().display(),
            p.log_summary(15)
        ))
        .into());
    }
    Ok(())
}

/// Free space a store directory must leave: a store takes ~66 MB, and several brokers run at
/// once.
const STORE_ROOM: u64 = 2 << 30;

/// Where broker stores go. A broker will not start, and stops taking messages, once its store's
/// file system is over 90% full (`diskSpaceWarningLevelRatio`, which RocketMQ-Rust caps at 90),
/// and a build machine's disk is often that full. So stores live on `$RMQ_SIDECAR_TEST_STORE_DIR`
/// when set, else on the first of `/dev/shm` (a tmpfs, sized apart from the disk) and the temp
/// dir that has [`STORE_ROOM`] free and would stay under 80% used, else in the temp dir (and a
/// broker that then refuses to start says why in its log).
fn store_parent() -> PathBuf {
    if let Some(d) = std::env::var_os("RMQ_SIDECAR_TEST_STORE_DIR") {
        return PathBuf::from(d);
    }
    let roomy = |dir: &Path| {
        rustix::fs::access(dir, rustix::fs::Access::WRITE_OK).is_ok()
            && rustix::fs::statvfs(dir).is_ok_and(|v| {
                leaves_room(v.f_blocks.saturating_mul(v.f_frsize), v.f_bavail.saturating_mul(v.f_frsize))
            })
    };
    let candidates = [PathBuf::from("/dev/shm"), std::env::temp_dir()];
    candidates.into_iter().find(|d| roomy(d)).unwrap_or_else(std::env::temp_dir)
}

/// Whether a file system of `total` bytes with `free` available can take [`STORE_ROOM`] more
/// and stay under 80% used (the broker's own ratio: used over total).
fn leaves_room(total: u64, free: u64) -> bool {
    let used_after = total.saturating_sub(free).saturating_add(STORE_ROOM);
    free >= STORE_ROOM && used_after.saturating_mul(5) < total.saturating_mul(4)
}

/// A running name server.
#[derive(Debug)]
pub struct Namesrv {
    process: ManagedProcess,
    addr: SocketAddr,
    dir: TempDir,
}

impl Namesrv {
    /// Starts a name server on a free loopback port and waits until it answers.
    pub fn start(bins: &RocketmqBins) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("rmq-namesrv-").tempdir()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        let process = Self::boot(bins, dir.path(), addr)?;
        Ok(Self { process, addr, dir })
    }

    fn boot(bins: &RocketmqBins, home: &Path, addr: SocketAddr) -> anyhow::Result<ManagedProcess> {
        let args = vec!["--listenPort".into(), addr.port().to_string(), "--bindAddress".into(), "127.0.0.1".into()];
        let mut process = ManagedProcess::spawn(
            "rocketmq-namesrv",
            &bins.namesrv,
            &args,
            home,
            &[("ROCKETMQ_HOME", home), ("HOME", home)],
            home.join("namesrv.log"),
        )?;
        wire::wait_for("name server", READY_TIMEOUT, || {
            ensure_running(&mut process)?;
            probe(addr, RequestCode::GET_BROKER_CLUSTER_INFO)?;
            Ok(Some(()))
        })?;
        Ok(process)
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its cluster view.
    pub fn cluster_info(&self) -> anyhow::Result<ClusterInfo> {
        let (h, body) = probe(self.addr, RequestCode::GET_BROKER_CLUSTER_INFO)?;
        if h.response_code() != ResponseCode::SUCCESS {
            bail!("GET_BROKER_CLUSTER_INFO answered {}: {:?}", h.response_code(), h.remark);
        }
        Ok(ClusterInfo::decode(&body)?)
    }

    /// Stops it.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Stops it and starts a fresh one (no routes) on the same port, and waits until it answers.
    pub fn restart(&mut self, bins: &RocketmqBins) -> anyhow::Result<()> {
        self.stop();
        self.process = Self::boot(bins, self.dir.path(), self.addr)?;
        Ok(())
    }
}

/// Broker settings a test may choose.
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    /// Cluster name.
    pub cluster: String,
    /// Broker name.
    pub broker_name: String,
    /// Extra `[broker]` TOML lines.
    pub extra_broker_toml: String,
    /// Extra `[store]` TOML lines.
    pub extra_store_toml: String,
    /// The IP the broker registers (`brokerIp1`) while it binds 127.0.0.1: set it to another
    /// loopback address (127.0.0.2) where a proxy listens on the same ports, and the name
    /// server hands clients the proxy.
    pub advertised_ip: Option<String>,
    /// Broker id: 0 is the master; anything else starts a slave (`brokerRole = SLAVE`).
    pub broker_id: i64,
    /// A slave's `haMasterAddress` (where it dials the master's HA port).
    pub ha_master_address: Option<String>,
    /// Where the broker's remoting and HA listeners bind (default 127.0.0.1); `0.0.0.0`
    /// behaves like a 4.x broker, which binds every interface.
    pub bind_address: Option<String>,
    /// The broker's `namesrvAddr` (default: the name server it is started with), e.g. the
    /// ports of a name-server egress. Readiness is still judged at that name server.
    pub namesrv_addr: Option<String>,
    /// `listenPort` (default: a free run of ports); `port − 2` and `port + 1` must be free too.
    pub listen_port: Option<u16>,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        Self {
            cluster: "TestCluster".into(),
            broker_name: "broker-a".into(),
            extra_broker_toml: String::new(),
            extra_store_toml: String::new(),
            advertised_ip: None,
            broker_id: 0,
            ha_master_address: None,
            bind_address: None,
            namesrv_addr: None,
            listen_port: None,
        }
    }
}

/// A running broker (port, VIP port = port − 2, HA port = port + 1).
#[derive(Debug)]
pub struct Broker {
    process: Option<ManagedProcess>,
    port: u16,
    dir: TempDir,
    store: TempDir,
    options: BrokerOptions,
    namesrv: SocketAddr,
    bins: RocketmqBins,
}

impl Broker {
    /// Starts a broker registered with `namesrv` and waits until it answers and is listed.
    pub fn start(bins: &RocketmqBins, namesrv: &Namesrv, options: BrokerOptions) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("rmq-broker-").tempdir()?;
        let store = tempfile::Builder::new()
            .prefix("rmq-broker-store-")
            .tempdir_in(store_parent())
            .context("creating the broker's store directory")?;
        let port = match options.listen_port {
            Some(p) => p,
            None => free_port_run(2, 1)?,
        };
        let mut b = Self { process: None, port, dir, store, options, namesrv: namesrv.addr(), bins: bins.clone() };
        b.boot(namesrv)?;
        Ok(b)
    }

    /// The broker's configuration file (RocketMQ-Rust's TOML), written at each start.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("broker.toml")
    }

    fn write_config(&self) -> anyhow::Result<()> {
        let store = self.store_dir();
        let o = &self.options;
        let role = if o.broker_id == 0 { "ASYNC_MASTER" } else { "SLAVE" };
        let toml = format!(
            r#"[broker]
listenPort = {port}
brokerRole = "{role}"
brokerIp1 = "{advertised}"
brokerIp2 = "127.0.0.1"
storePathRootDir = "{store}"
namesrvAddr = "{ns}"
{extra_broker}

[broker.brokerServerConfig]
bindAddress = "{bind}"

[broker.brokerIdentity]
brokerName = "{name}"
brokerClusterName = "{cluster}"
brokerId = {id}

[store]
haListenAddress = "{bind}"
haListenPort = {ha}
storePathRootDir = "{store}"
mappedFileSizeCommitLog = 67108864
# Small index and consume-queue files: the broker allocates them whole, and the store is on
# a tmpfs (see store_parent). Defaults are 410 MiB and 5.7 MiB; tests store little.
mappedFileSizeConsumeQueue = 60000
maxHashSlotNum = 10000
maxIndexNum = 40000
brokerRole = "{role}"
{ha_master}
{extra_store}
"#,
            port = self.port,
            advertised = o.advertised_ip.as_deref().unwrap_or("127.0.0.1"),
            ha = self.port + 1,
            store = store.display(),
            ns = o.namesrv_addr.clone().unwrap_or_else(|| self.namesrv.to_string()),
            name = o.broker_name,
            cluster = o.cluster,
            extra_broker = o.extra_broker_toml,
            extra_store = o.extra_store_toml,
            id = o.broker_id,
            bind = o.bind_address.as_deref().unwrap_or("127.0.0.1"),
            role = role,
            ha_master = o.ha_master_address.as_ref().map(|a| format!("haMasterAddress = \"{a}\"")).unwrap_or_default(),
        );
        std::fs::write(self.config_path(), toml).context("writing broker.toml")
    }

    fn boot(&mut self, namesrv: &Namesrv) -> anyhow::Result<()> {
        self.write_config()?;
        let home = self.dir.path();
        let args = vec!["-c".into(), self.config_path().display().to_string()];
        let mut process = ManagedProcess::spawn(
            "rocketmq-broker",
            &self.bins.broker,
            &args,
            home,
            &[("ROCKETMQ_HOME", home), ("HOME", home)],
            home.join("broker.log"),
        )?;
        let addr = self.addr();
        let advertised = self.advertised_addr();
        let (name, id) = (&self.options.broker_name, self.options.broker_id);
        // Every attempt that is not yet ready says why, so a timeout reports the last reason.
        let ready = wire::wait_for("broker", READY_TIMEOUT, || {
            ensure_running(&mut process)?;
            let (h, _) = probe(addr, RequestCode::GET_BROKER_RUNTIME_INFO)?;
            if h.response_code() != ResponseCode::SUCCESS {
                bail!("GET_BROKER_RUNTIME_INFO answered {}: {:?}", h.response_code(), h.remark);
            }
            let info = namesrv.cluster_info()?;
            let addrs = info.broker_addr_table.get(name).map(|b| &b.broker_addrs);
            if addrs.and_then(|a| a.get(&id)) != Some(&advertised) {
                bail!("the name server lists {name} as {addrs:?}, not id {id} at {advertised}");
            }
            Ok(Some(()))
        });
        if let Err(e) = ready {
            if e.is::<wire::GiveUp>() {
                return Err(e);
            }
            bail!("{e:#}\nbroker log {}:\n{}", process.log_path().display(), process.log_summary(15));
        }
        self.process = Some(process);
        Ok(())
    }

    /// The main remoting address (`listenPort`).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// What the broker registers with the name server (`brokerIp1:listenPort`).
    pub fn advertised_addr(&self) -> String {
        format!("{}:{}", self.options.advertised_ip.as_deref().unwrap_or("127.0.0.1"), self.port)
    }

    /// The port number (`listenPort`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The VIP ("fast") remoting address (`listenPort − 2`).
    pub fn vip_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port - 2))
    }

    /// The HA listen address (`listenPort + 1`).
    pub fn ha_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port + 1))
    }

    /// The broker name.
    pub fn name(&self) -> &str {
        &self.options.broker_name
    }

    /// The cluster name.
    pub fn cluster(&self) -> &str {
        &self.options.cluster
    }

    /// The store directory.
    pub fn store_dir(&self) -> PathBuf {
        self.store.path().to_path_buf()
    }

    /// Stops the broker; its store is kept for [`Broker::restart`].
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }

    /// Starts a stopped broker again on the same ports and store.
    pub fn restart(&mut self, namesrv: &Namesrv) -> anyhow::Result<()> {
        self.stop();
        self.boot(namesrv)
    }

    /// The broker log so far (for failure messages).
    pub fn log_tail(&self, n: usize) -> String {
        self.process.as_ref().map(|p| p.log_tail(n)).unwrap_or_default()
    }
}

/// A name server with one broker.
#[derive(Debug)]
pub struct Cluster {
    /// The broker (declared first so it stops before the name server).
    pub broker: Broker,
    /// The name server.
    pub namesrv: Namesrv,
}

impl Cluster {
    /// Starts a fresh name server and broker.
    pub fn start(options: BrokerOptions) -> anyhow::Result<Self> {
        let bins = RocketmqBins::locate()?;
        let namesrv = Namesrv::start(&bins)?;
        let broker = Broker::start(&bins, &namesrv, options)?;
        Ok(Self { broker, namesrv })
    }

    /// One cluster shared by every test in this test binary, started on first use. Its
    /// processes end with the test process (see [`ManagedProcess`]). Tests that stop or
    /// reconfigure a broker must start their own with [`Cluster::start`].
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<(Cluster, Janitor)> = OnceLock::new();
        let (cluster, _) = SHARED.get_or_init(|| {
            let started = Cluster::start(BrokerOptions::default()).and_then(|c| {
                let janitor = Janitor::spawn(&[c.broker.dir.path(), c.broker.store.path(), c.namesrv.dir.path()])?;
                Ok((c, janitor))
            });
            match started {
                Ok(pair) => pair,
                Err(e) => panic!("cannot start the shared test cluster: {e:#}"),
            }
        });
        cluster
    }
}

#[cfg(test)]
mod tests {
    use super::leaves_room;

    const GIB: u64 = 1 << 30;

    #[test]
    fn stores_avoid_file_systems_the_broker_would_find_full_or_that_are_small() {
        assert!(leaves_room(24 * GIB, 24 * GIB), "an empty 24 GiB tmpfs");
        assert!(!leaves_room(252 * GIB, 29 * GIB), "a disk 88% used (the broker refuses above 90%)");
        assert!(!leaves_room(64 << 20, 64 << 20), "a container's 64 MiB /dev/shm");
        assert!(leaves_room(252 * GIB, 80 * GIB), "a disk 68% used");
        assert!(!leaves_room(0, 0));
    }
}
