//! Connecting the processes of a cluster. Timely's own set-up prints progress to stdout, where
//! sinks write, retries once a second and waits for ever; this one is quick, says on stderr
//! whom it waits for, gives up after a timeout and stops when asked to, then hands the
//! connected sockets to timely's networking.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::ProcessBuilder;
use timely::communication::{AllocatorBuilder, Hooks};

/// How often the waiting loops look at the stop flag and the clock.
const POLL: Duration = Duration::from_millis(20);

/// How long a process waits quietly before it says whom it waits for: peers started together
/// (`--local-cluster`) connect well within it, so only a real wait is reported.
const QUIET: Duration = Duration::from_secs(1);

/// The workers' allocators, and the guard that keeps their networking alive.
pub type Allocators = (Vec<AllocatorBuilder>, Box<dyn std::any::Any + Send>);

/// How this process waits for the others: for `timeout` from `started`, or until `stop` is set.
#[derive(Clone)]
struct Wait {
    me: usize,
    started: Instant,
    timeout: Duration,
    stop: Arc<AtomicBool>,
}

impl Wait {
    /// Whether to give up: `Err` past the deadline, `Ok(true)` when asked to stop.
    fn over(&self, what: &dyn Fn() -> String) -> Result<bool, String> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(true);
        }
        if self.started.elapsed() > self.timeout {
            return Err(format!("process {} gave up {} after {:?}", self.me, what(), self.timeout));
        }
        Ok(false)
    }

    /// Says once, after `QUIET`, what this process is waiting for.
    fn tell(&self, told: &mut bool, what: &dyn Fn() -> String) {
        if !*told && self.started.elapsed() > QUIET {
            *told = true;
            // A closed stderr must not stop the job.
            let _ =
                writeln!(std::io::stderr(), "eddy: process {} is {} (for up to {:?})", self.me, what(), self.timeout);
        }
    }
}

/// Connects process `me` to every other process (timely's protocol: a process dials the ones
/// before it and announces its index, big-endian; it accepts the ones after it) and builds the
/// allocators of its `threads` workers. `Ok(None)` when `stop` was set while waiting.
pub fn allocators(
    addresses: &[String],
    me: usize,
    threads: usize,
    timeout: Duration,
    stop: &Arc<AtomicBool>,
) -> Result<Option<Allocators>, String> {
    let here = &addresses[me];
    let listener = TcpListener::bind(here).map_err(|e| format!("cannot listen on {here}: {e}"))?;
    // Not blocking, so that the accepting loop can watch the clock and the stop flag.
    listener.set_nonblocking(true).map_err(|e| format!("cannot listen on {here}: {e}"))?;
    let wait = Wait { me, started: Instant::now(), timeout, stop: Arc::clone(stop) };
    let (later, here) = (addresses.len() - me - 1, here.clone());
    let accept_wait = wait.clone();
    let accepting = std::thread::spawn(move || accept(&listener, &here, me, later, &accept_wait));
    let mut sockets: Vec<Option<TcpStream>> = (0..addresses.len()).map(|_| None).collect();
    for (j, address) in addresses.iter().enumerate().take(me) {
        let Some(mut stream) = dial(j, address, &wait)? else { return Ok(None) };
        stream.write_all(&(me as u64).to_be_bytes()).map_err(|e| format!("cannot talk to process {j}: {e}"))?;
        sockets[j] = Some(stream);
    }
    let Some(accepted) = accepting.join().map_err(|_| "the connection thread failed".to_string())?? else {
        return Ok(None);
    };
    for (j, stream) in accepted {
        if j <= me || j >= addresses.len() {
            return Err(format!("a process announced a wrong index {j}"));
        }
        sockets[j] = Some(stream);
    }
    for s in sockets.iter().flatten() {
        s.set_nodelay(true).map_err(|e| e.to_string())?;
    }
    let hooks = Hooks::default();
    let process = ProcessBuilder::new_typed_vector(threads, hooks.refill.clone(), hooks.spill.clone());
    let (builders, guard) = initialize_networking_from_sockets(process, sockets, me, threads, hooks)
        .map_err(|e| format!("cannot start networking: {e}"))?;
    Ok(Some((builders.into_iter().map(AllocatorBuilder::Tcp).collect(), Box::new(guard))))
}

/// Dials process `j` until it answers; `None` when asked to stop.
fn dial(j: usize, address: &str, wait: &Wait) -> Result<Option<TcpStream>, String> {
    let what = || format!("waiting for process {j} at {address}");
    let mut told = false;
    loop {
        // Resolved on every attempt: the peer's name may not resolve until its machine is up.
        let addrs: Vec<SocketAddr> = address.to_socket_addrs().map(Iterator::collect).unwrap_or_default();
        for addr in &addrs {
            // Bounded, so that an address that drops packets does not hold up the stop flag.
            if let Ok(stream) = TcpStream::connect_timeout(addr, Duration::from_millis(500)) {
                return Ok(Some(stream));
            }
        }
        if wait.over(&what)? {
            return Ok(None);
        }
        wait.tell(&mut told, &what);
        std::thread::sleep(POLL);
    }
}

/// Accepts the `later` processes after `me`, each announcing its index; `None` when asked
/// to stop.
fn accept(
    listener: &TcpListener,
    here: &str,
    me: usize,
    later: usize,
    wait: &Wait,
) -> Result<Option<Vec<(usize, TcpStream)>>, String> {
    let mut accepted: Vec<(usize, TcpStream)> = Vec::new();
    let mut told = false;
    while accepted.len() < later {
        let what = || {
            let missing: Vec<String> = (me + 1..me + 1 + later)
                .filter(|j| accepted.iter().all(|(a, _)| a != j))
                .map(|j| j.to_string())
                .collect();
            format!("waiting for process {} to connect to {here}", missing.join(", "))
        };
        match listener.accept() {
            Ok((mut stream, _)) => {
                let io = |e: std::io::Error| format!("a process did not say who it is: {e}");
                // The accepted socket must block, and a peer that connects but says nothing
                // must not hold this process for ever.
                stream.set_nonblocking(false).map_err(io)?;
                stream.set_read_timeout(Some(wait.timeout)).map_err(io)?;
                let mut id = [0u8; 8];
                stream.read_exact(&mut id).map_err(io)?;
                stream.set_read_timeout(None).map_err(io)?;
                accepted.push((u64::from_be_bytes(id) as usize, stream));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if wait.over(&what)? {
                    return Ok(None);
                }
                wait.tell(&mut told, &what);
                std::thread::sleep(POLL);
            }
            Err(e) => return Err(format!("cannot accept a process: {e}")),
        }
    }
    Ok(Some(accepted))
}
