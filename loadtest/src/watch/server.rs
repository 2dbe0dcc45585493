//! Watching the server process during a run: finding it (`--server-pid`, or the process that
//! listens on the URL's port when the URL names this machine) and sampling its CPU time and RSS
//! once per second in the background.

use super::procfs::{find_listener, is_loopback, Probe, ServerSample};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Finds the server process to watch: `pid` if given, else the local listener on the URL's
/// port. `Err` says why there will be no server figures.
pub fn locate(pid: Option<u32>, url: &str) -> Result<Probe, String> {
    let pid = match pid {
        Some(pid) => pid,
        None => local_listener(url)?,
    };
    Probe::new(pid).map_err(|e| format!("cannot read /proc/{pid}: {e}"))
}

fn local_listener(url: &str) -> Result<u32, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("cannot parse --url {url}: {e}"))?;
    let host = parsed.host_str().unwrap_or_default();
    if !is_loopback(host) {
        return Err(format!(
            "the server ({host}) is not on this machine; pass --server-pid if it is"
        ));
    }
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| format!("no port in --url {url}"))?;
    find_listener(port)
        .ok_or_else(|| format!("found no process listening on TCP port {port}; pass --server-pid"))
}

/// Starts watching the server; says once (on stderr) when it cannot. An explicit `--server-pid`
/// that cannot be read is an error.
pub fn watch_server(
    pid: Option<u32>,
    url: &str,
    started: Instant,
) -> anyhow::Result<Option<ServerMonitor>> {
    match locate(pid, url) {
        Ok(probe) => {
            eprintln!("server: watching pid {} for CPU and RSS", probe.pid);
            Ok(Some(ServerMonitor::start(probe, started)))
        }
        Err(why) if pid.is_some() => anyhow::bail!("--server-pid: {why}"),
        Err(why) => {
            eprintln!("server: no CPU/RSS figures: {why}");
            Ok(None)
        }
    }
}

/// CPU % of one core between two readings.
pub fn cpu_percent(earlier: &ServerSample, later: &ServerSample) -> Option<f64> {
    let wall = later.t_s - earlier.t_s;
    (wall > 0.0).then(|| (later.cpu_s - earlier.cpu_s) / wall * 100.0)
}

/// Samples the server once per second until stopped.
pub struct ServerMonitor {
    probe: Probe,
    started: Instant,
    samples: Arc<Mutex<Vec<ServerSample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ServerMonitor {
    /// Starts sampling now; sample times count from `started`.
    pub fn start(probe: Probe, started: Instant) -> Self {
        let samples: Arc<Mutex<Vec<ServerSample>>> = Arc::default();
        let (series, sampler) = (samples.clone(), probe.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let (Some(sample), Ok(mut series)) = (read(&sampler, started), series.lock()) {
                    series.push(sample);
                }
            }
        });
        Self {
            probe,
            started,
            samples,
            task,
        }
    }

    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    pub fn pid(&self) -> u32 {
        self.probe.pid
    }

    /// A reading now, outside the once-per-second series (`None` if the process is gone).
    pub fn snapshot(&self) -> Option<ServerSample> {
        read(&self.probe, self.started)
    }

    /// CPU % of one core between the last two samples of the series.
    pub fn recent_cpu_percent(&self) -> Option<f64> {
        let samples = self.samples.lock().ok()?;
        match samples.as_slice() {
            [.., earlier, later] => cpu_percent(earlier, later),
            _ => None,
        }
    }

    /// Stops sampling; the series so far.
    pub fn stop(self) -> Vec<ServerSample> {
        self.task.abort();
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

fn read(probe: &Probe, started: Instant) -> Option<ServerSample> {
    let (cpu_s, rss_bytes) = probe.read().ok()?;
    Some(ServerSample {
        t_s: started.elapsed().as_secs_f64(),
        cpu_s,
        rss_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t_s: f64, cpu_s: f64) -> ServerSample {
        ServerSample {
            t_s,
            cpu_s,
            rss_bytes: 0,
        }
    }

    #[rustfmt::skip]
    #[test]
    fn cpu_percent_of_one_core() {
        let cases: &[(ServerSample, ServerSample, Option<f64>)] = &[
            (at(0.0, 1.0), at(1.0, 1.5),  Some(50.0)),
            (at(2.0, 0.0), at(4.0, 3.0),  Some(150.0)), // more than one core
            (at(1.0, 1.0), at(1.0, 2.0),  None),        // no time passed
        ];
        for (earlier, later, expected) in cases {
            assert_eq!(cpu_percent(earlier, later), *expected);
        }
    }

    #[rustfmt::skip]
    #[test]
    fn remote_or_unparseable_urls_give_reasons() {
        let cases: &[(&str, &str)] = &[
            ("http://192.0.2.7:8080", "not on this machine"),
            ("not a url",             "cannot parse"),
        ];
        for &(url, reason) in cases {
            let err = locate(None, url).unwrap_err();
            assert!(err.contains(reason), "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn samples_this_process() {
        let probe = locate(Some(std::process::id()), "http://192.0.2.7").unwrap();
        let monitor = ServerMonitor::start(probe, Instant::now());
        assert!(monitor.snapshot().unwrap().rss_bytes > 0);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(monitor.stop().len(), 1, "the first tick is immediate");
    }
}
