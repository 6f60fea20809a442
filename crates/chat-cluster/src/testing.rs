//! A real redis-server for tests: on 127.0.0.1, a free port, no persistence,
//! stopped when dropped. (`redis-server --port 0` would disable TCP, so the
//! port is found by binding to port 0 first; a lost race is retried.)

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts one (the `redis-server` on PATH, or `REDIS_SERVER`).
    pub fn start() -> std::io::Result<Self> {
        let mut last = None;
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            match Self::start_on(port) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("redis-server did not start")))
    }

    fn start_on(port: u16) -> std::io::Result<Self> {
        let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&bin)
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| std::io::Error::other(format!("cannot start {bin}: {e}")))?;
        let mut server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(std::io::Error::other(format!(
                    "redis-server exited at start ({status}); port {port} taken?"
                )));
            }
            if server.ping() {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(std::io::Error::other(
            "redis-server did not answer within 10 s",
        ))
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// `CLIENT PAUSE ms ALL`: Redis holds every client's commands (this
    /// one's answer excepted) for `ms`, as a stalled server would.
    pub fn pause(&self, ms: u64) -> std::io::Result<()> {
        self.command(&["CLIENT", "PAUSE", &ms.to_string(), "ALL"])
    }

    /// `FLUSHALL`: forgets everything, as a Redis restarted empty would,
    /// without the restart (clients stay connected).
    pub fn flush_all(&self) -> std::io::Result<()> {
        self.command(&["FLUSHALL"])
    }

    /// Sends one command (a RESP array of bulk strings) that answers `+OK`.
    fn command(&self, args: &[&str]) -> std::io::Result<()> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut cmd = format!("*{}\r\n", args.len());
        for a in args {
            cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(cmd.as_bytes())?;
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf)?;
        if &buf == b"+OK\r\n" {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("{} refused", args.join(" "))))
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL: everything in it is lost) and starts an empty one
    /// on the same port.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Self::start_on(self.port) {
                Ok(fresh) => {
                    // The old one is dead and reaped already: dropping it
                    // (another kill and wait) does nothing more.
                    drop(std::mem::replace(self, fresh));
                    return Ok(());
                }
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Kills it and runs `while_down` before starting an empty one on the
    /// same port (an outage of Redis, then its restart).
    pub async fn outage<F: std::future::Future<Output = ()>>(
        &mut self,
        while_down: F,
    ) -> std::io::Result<()> {
        self.kill();
        while_down.await;
        self.restart()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
