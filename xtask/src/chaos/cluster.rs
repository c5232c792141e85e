//! The cluster: `horae run` processes sharing one config, each with its own node id
//! (`HORAE_NODE_ID=chaos-N`), HTTP port (`HORAE_HTTP_BIND`) and log file.
//!
//! A kill is what a machine crash or systemd's control-group kill does: the node and every
//! job process it started die with `SIGKILL` at once. (The jobs run in process groups of
//! their own, so killing the node alone would leave them running as orphans.) A freeze
//! stops the node alone with `SIGSTOP`; its job processes keep running, and the node must
//! find its leases lost when it resumes.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustix::process::{Pid, Signal, kill_process, kill_process_group};

/// One `horae run` process (or its absence between a kill and the restart).
#[derive(Debug)]
pub(crate) struct Node {
    /// Its node id, `chaos-N`.
    pub(crate) id: String,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
    frozen: bool,
    /// How often it was started.
    pub(crate) starts: u32,
}

/// How a node's process ended.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Exit {
    /// The node.
    pub(crate) node: String,
    /// Its exit status, as shown.
    pub(crate) status: String,
    /// Whether that was exit code 0.
    pub(crate) clean: bool,
}

/// The nodes and how to start them.
#[derive(Debug)]
pub(crate) struct Cluster {
    /// The nodes, in order (`chaos-1` first).
    pub(crate) nodes: Vec<Node>,
    horae: PathBuf,
    config: PathBuf,
    /// Nodes that exited on their own, which no fault explains.
    pub(crate) unexpected_exits: Vec<Exit>,
}

impl Cluster {
    /// `count` nodes running `horae` with `config`, logging into `dir` (not started yet).
    ///
    /// # Errors
    ///
    /// When no free port can be found for a node's HTTP server.
    pub(crate) fn new(count: usize, horae: &Path, config: &Path, dir: &Path) -> Result<Cluster> {
        let nodes = (1..=count)
            .map(|n| {
                Ok(Node {
                    id: format!("chaos-{n}"),
                    port: free_port()?,
                    log: dir.join(format!("chaos-{n}.log")),
                    child: None,
                    frozen: false,
                    starts: 0,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Cluster {
            nodes,
            horae: horae.to_owned(),
            config: config.to_owned(),
            unexpected_exits: Vec::new(),
        })
    }

    /// Starts node `index`.
    ///
    /// # Errors
    ///
    /// When the process cannot be started or its log file opened.
    pub(crate) fn start(&mut self, index: usize) -> Result<()> {
        let (horae, config) = (self.horae.clone(), self.config.clone());
        let node = self.node_mut(index)?;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .with_context(|| format!("opening {}", node.log.display()))?;
        writeln!(
            log,
            "===== xtask chaos: starting {} ({}) =====",
            node.id,
            jiff::Timestamp::now()
        )?;
        let stderr = log.try_clone()?;
        let child = Command::new(&horae)
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env("HORAE_NODE_ID", &node.id)
            .env("HORAE_HTTP_BIND", format!("127.0.0.1:{}", node.port))
            .env("HORAE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {} for {}", horae.display(), node.id))?;
        node.child = Some(child);
        node.frozen = false;
        node.starts += 1;
        Ok(())
    }

    /// Waits until node `index` answers `GET /readyz` with 200.
    ///
    /// # Errors
    ///
    /// When it does not within `timeout`, or exits meanwhile.
    pub(crate) fn wait_ready(&mut self, index: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_exits();
            let node = self.node_mut(index)?;
            if node.child.is_none() {
                bail!(
                    "{} exited while starting; see {}",
                    node.id,
                    node.log.display()
                );
            }
            if node.is_ready() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} was not ready after {timeout:?}; see {}",
                    node.id,
                    node.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills node `index` and the job processes it started with `SIGKILL`; returns how many
    /// job processes were killed.
    ///
    /// # Errors
    ///
    /// When the node is not running.
    pub(crate) fn kill(&mut self, index: usize) -> Result<usize> {
        let node = self.node_mut(index)?;
        let Some(mut child) = node.child.take() else {
            bail!("{} is not running", node.id);
        };
        let pid = pid_of(&child)?;
        // Stopped first, so it starts no job between the listing and the kill.
        let _ = kill_process(pid, Signal::STOP);
        let jobs = children_of(pid);
        let _ = kill_process(pid, Signal::KILL);
        for &job in &jobs {
            // Each job leads a process group of its own: its children die with it.
            if let Some(group) = Pid::from_raw(job) {
                let _ = kill_process_group(group, Signal::KILL);
            }
        }
        let _ = child.wait();
        node.frozen = false;
        Ok(jobs.len())
    }

    /// Freezes node `index` with `SIGSTOP`.
    ///
    /// # Errors
    ///
    /// When the node is not running.
    pub(crate) fn freeze(&mut self, index: usize) -> Result<()> {
        let node = self.node_mut(index)?;
        let pid = node.pid()?;
        kill_process(pid, Signal::STOP).with_context(|| format!("SIGSTOP {}", node.id))?;
        node.frozen = true;
        Ok(())
    }

    /// Resumes node `index` with `SIGCONT`.
    ///
    /// # Errors
    ///
    /// When the node is not running.
    pub(crate) fn thaw(&mut self, index: usize) -> Result<()> {
        let node = self.node_mut(index)?;
        let pid = node.pid()?;
        kill_process(pid, Signal::CONT).with_context(|| format!("SIGCONT {}", node.id))?;
        node.frozen = false;
        Ok(())
    }

    /// Notes nodes that exited although nothing killed them.
    pub(crate) fn check_exits(&mut self) {
        for node in &mut self.nodes {
            let Some(child) = node.child.as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = child.try_wait() {
                node.child = None;
                self.unexpected_exits.push(Exit {
                    node: node.id.clone(),
                    status: status.to_string(),
                    clean: status.success(),
                });
            }
        }
    }

    /// How many nodes are running (frozen ones included).
    pub(crate) fn running(&self) -> usize {
        self.nodes
            .iter()
            .filter(|node| node.child.is_some())
            .count()
    }

    /// Stops every node with `SIGTERM` (resuming frozen ones first) and waits for each to
    /// exit, killing those still running after `timeout`.
    pub(crate) fn stop_all(&mut self, timeout: Duration) -> Vec<Exit> {
        for node in &mut self.nodes {
            if let Ok(pid) = node.pid() {
                if node.frozen {
                    let _ = kill_process(pid, Signal::CONT);
                }
                let _ = kill_process(pid, Signal::TERM);
            }
        }
        let deadline = Instant::now() + timeout;
        let mut exits = Vec::new();
        for node in &mut self.nodes {
            let Some(mut child) = node.child.take() else {
                continue;
            };
            let status = wait_until(&mut child, deadline);
            exits.push(match status {
                Some(status) => Exit {
                    node: node.id.clone(),
                    status: status.to_string(),
                    clean: status.success(),
                },
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    Exit {
                        node: node.id.clone(),
                        status: format!("still running {timeout:?} after SIGTERM; killed"),
                        clean: false,
                    }
                }
            });
        }
        exits
    }

    /// Each node's id and HTTP port, in node order.
    pub(crate) fn addresses(&self) -> Vec<(String, u16)> {
        self.nodes
            .iter()
            .map(|node| (node.id.clone(), node.port))
            .collect()
    }

    /// The log files, in node order.
    pub(crate) fn logs(&self) -> Vec<(String, PathBuf)> {
        self.nodes
            .iter()
            .map(|node| (node.id.clone(), node.log.clone()))
            .collect()
    }

    fn node_mut(&mut self, index: usize) -> Result<&mut Node> {
        let count = self.nodes.len();
        self.nodes
            .get_mut(index)
            .with_context(|| format!("no node {index} in a cluster of {count}"))
    }
}

impl Drop for Cluster {
    /// Leaves no node behind when the experiment stops early.
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            if self.nodes[index].child.is_some() {
                let _ = self.kill(index);
            }
        }
    }
}

impl Node {
    fn pid(&self) -> Result<Pid> {
        match &self.child {
            Some(child) => pid_of(child),
            None => bail!("{} is not running", self.id),
        }
    }

    /// Whether `GET /readyz` answers 200.
    fn is_ready(&self) -> bool {
        http_status(SocketAddr::from(([127, 0, 0, 1], self.port)), "/readyz") == Some(200)
    }
}

fn pid_of(child: &Child) -> Result<Pid> {
    i32::try_from(child.id())
        .ok()
        .and_then(Pid::from_raw)
        .context("a child process id out of range")
}

/// Waits for `child` until `deadline`; `None` when it is still running.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            _ => return None,
        }
    }
}

/// The ids of the processes whose parent is `parent` (from `/proc/*/stat`).
fn children_of(parent: Pid) -> Vec<i32> {
    let parent = parent.as_raw_nonzero().get();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let after_comm = &stat[stat.rfind(')')? + 1..];
            let ppid: i32 = after_comm.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect()
}

/// A port that was free a moment ago.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The status code of `GET path` on `addr`, or `None` when it does not answer in time.
pub(crate) fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 16];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    let text = std::str::from_utf8(&head[..read]).ok()?;
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// The text of the log at `path`, invalid UTF-8 replaced (empty when it cannot be read).
pub(crate) fn read_log(path: &Path) -> String {
    let mut bytes = Vec::new();
    if File::open(path)
        .and_then(|mut file| file.read_to_end(&mut bytes))
        .is_err()
    {
        return String::new();
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
