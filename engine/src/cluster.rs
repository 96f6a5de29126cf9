//! Connecting the processes of a cluster. Timely's own set-up prints progress to stdout, where
//! sinks write, and retries once a second; this one is quiet and quick, then hands the
//! connected sockets to timely's networking.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::ProcessBuilder;
use timely::communication::{AllocatorBuilder, Hooks};

/// How long a process waits for the others to start.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Connects process `me` to every other process (timely's protocol: a process dials the ones
/// before it and announces its index, big-endian; it accepts the ones after it) and builds the
/// allocators of its `threads` workers.
pub fn allocators(
    addresses: &[String],
    me: usize,
    threads: usize,
) -> Result<(Vec<AllocatorBuilder>, Box<dyn std::any::Any + Send>), String> {
    let listener = TcpListener::bind(&addresses[me]).map_err(|e| format!("cannot listen on {}: {e}", addresses[me]))?;
    let later = addresses.len() - me - 1;
    let accepting = std::thread::spawn(move || -> Result<Vec<(usize, TcpStream)>, String> {
        let mut accepted = Vec::new();
        while accepted.len() < later {
            let (mut stream, _) = listener.accept().map_err(|e| format!("cannot accept a process: {e}"))?;
            let mut id = [0u8; 8];
            stream.read_exact(&mut id).map_err(|e| format!("a process did not say who it is: {e}"))?;
            accepted.push((u64::from_be_bytes(id) as usize, stream));
        }
        Ok(accepted)
    });
    let mut sockets: Vec<Option<TcpStream>> = (0..addresses.len()).map(|_| None).collect();
    let deadline = Instant::now() + TIMEOUT;
    for (j, address) in addresses.iter().enumerate().take(me) {
        let mut stream = loop {
            match TcpStream::connect(address) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("cannot reach process {j} at {address}: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        stream.write_all(&(me as u64).to_be_bytes()).map_err(|e| format!("cannot talk to process {j}: {e}"))?;
        sockets[j] = Some(stream);
    }
    let accepted = accepting.join().map_err(|_| "the connection thread failed".to_string())??;
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
    Ok((builders.into_iter().map(AllocatorBuilder::Tcp).collect(), Box::new(guard)))
}
