//! Step-time figures for `Board::step` on the host: `cargo bench -p kiosk-firmware`.
//! Prints the median, 99.9th percentile and maximum of several workloads, and the size of
//! the board state. Wall-clock numbers only; nothing here asserts them.

use std::hint::black_box;
use std::time::Instant;

use kiosk_firmware::{Board, Config, RX_CHUNK};
use kiosk_ioproto::host::{HostEncoder, unlock_command};
use kiosk_ioproto::{Frame, FrameDecoder, InputSet, Key, Lock, Message};

const ITERATIONS: usize = 20_000;

fn board() -> Board {
    Board::new(Config::default(), Key::new([3; 32]), 42, [1; 16], 1)
}

fn report(name: &str, mut ns: Vec<u128>) {
    ns.sort_unstable();
    let p = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize];
    println!(
        "{name:<40} median {:>7} ns   p99.9 {:>7} ns   max {:>7} ns",
        p(0.5),
        p(0.999),
        ns[ns.len() - 1]
    );
}

fn main() {
    println!(
        "size_of::<Board>() = {} bytes",
        core::mem::size_of::<Board>()
    );
    let mut enc = HostEncoder::new(0);

    // Idle: nothing received, inputs steady.
    let mut b = board();
    let mut now = 0;
    let mut ns = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        now += 1;
        let t = Instant::now();
        black_box(b.step(now, InputSet::EMPTY, &[]));
        ns.push(t.elapsed().as_nanos());
    }
    report("idle", ns);

    // A full receive chunk of GetNonce frames: one HMAC per frame.
    let mut chunk = Vec::new();
    while chunk.len() + 7 <= RX_CHUNK {
        chunk.extend_from_slice(enc.frame(Message::GetNonce).1.as_bytes());
    }
    let mut b = board();
    let mut ns = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        now += 1;
        let t = Instant::now();
        black_box(b.step(now, InputSet::EMPTY, &chunk));
        ns.push(t.elapsed().as_nanos());
    }
    report(&format!("{} GetNonce frames per step", chunk.len() / 7), ns);

    // Authenticated unlock and relock, alternating with GetNonce.
    let key = Key::new([3; 32]);
    let mut b = board();
    let mut dec = FrameDecoder::new();
    let mut nonce = [0u8; 16];
    let mut ns = Vec::with_capacity(ITERATIONS);
    for i in 0..ITERATIONS {
        now += 1;
        let msg = match i % 3 {
            0 => Message::GetNonce,
            1 => unlock_command(&key, 42, Lock::FrontDoor, 1, &nonce),
            _ => Message::Relock {
                lock: Lock::FrontDoor,
            },
        };
        let rx = enc.frame(msg).1;
        let t = Instant::now();
        let step = b.step(now, InputSet::EMPTY, rx.as_bytes());
        ns.push(t.elapsed().as_nanos());
        for &byte in step.tx.as_bytes() {
            if let Some(Ok(Frame {
                msg: Message::Nonce { nonce: n, .. },
                ..
            })) = dec.push(byte)
            {
                nonce = n;
            }
        }
        // Unlock again only after the cooldown.
        now += 2_000;
    }
    report("unlock / relock / nonce", ns);

    // Worst case: a full queue drained at once (link comes up after many input changes).
    let mut ns = Vec::with_capacity(ITERATIONS / 10);
    for _ in 0..ITERATIONS / 10 {
        let mut b = board();
        let mut now = 0;
        for k in 0..40 {
            now += 40;
            let bits = if k % 2 == 0 { 0x7F } else { 0 };
            b.step(now, InputSet::from_bits_truncate(bits), &[]);
        }
        now += 40;
        let rx = enc.frame(Message::Heartbeat).1;
        let t = Instant::now();
        black_box(b.step(now, InputSet::EMPTY, rx.as_bytes()));
        ns.push(t.elapsed().as_nanos());
    }
    report("drain a full event queue", ns);
}
