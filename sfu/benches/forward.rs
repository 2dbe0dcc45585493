//! The forwarding hot path, measured through the real core: one SRTP packet from a publisher
//! in, rewritten and re-encrypted packets for N subscribers out (SRTP decrypt, routing, header
//! rewrite, SRTP encrypt, interceptors). Sockets are not included: the UDP loop adds a
//! syscall per datagram, amortised by batching.
//!
//!   cargo bench -p parley-sfu --bench forward

#[path = "harness/mod.rs"]
mod harness;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use harness::{vp8_packet, Net};
use std::time::{Duration, Instant};

fn room_with_subscribers(n: usize) -> (Net, usize, rtc::rtp_transceiver::RTCRtpSenderId, u32) {
    let mut net = Net::new();
    let publisher = net.join("bench", "pub", true);
    for i in 0..n {
        net.join("bench", &format!("sub-{i}"), false);
    }
    let (sender, ssrc) = net.publish_video(publisher);
    net.connect_all(Duration::from_secs(20));
    // First packets open the track, negotiate the subscribers and start them on a keyframe.
    let mut seq = 0u16;
    for round in 0..60u32 {
        for (from, datagram) in net.publisher_datagrams(
            publisher,
            sender,
            vp8_packet(ssrc, 96, seq, round * 3000, true),
        ) {
            net.deliver(from, datagram);
        }
        seq = seq.wrapping_add(1);
        net.advance(Duration::from_millis(33));
    }
    net.connect_all(Duration::from_secs(20));
    for client in &mut net.clients {
        client.keep_received = false;
        client.received.clear();
    }
    (net, publisher, sender, ssrc)
}

fn forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward_one_packet");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    for n in [1usize, 10, 100] {
        let (mut net, publisher, sender, ssrc) = room_with_subscribers(n);
        let mut seq = 100u16;
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_custom(|iters| {
                // Encrypt fresh packets first (SRTP replay protection refuses repeats), untimed.
                let mut datagrams = Vec::with_capacity(iters as usize);
                for _ in 0..iters {
                    seq = seq.wrapping_add(1);
                    let packet = vp8_packet(ssrc, 96, seq, u32::from(seq) * 3000, false);
                    datagrams.extend(net.publisher_datagrams(publisher, sender, packet));
                }
                let start = Instant::now();
                for (from, datagram) in datagrams {
                    net.deliver(from, datagram);
                    while let Some(t) = net.core.poll_transmit() {
                        std::hint::black_box(t);
                    }
                }
                start.elapsed()
            });
        });
        let forwarded = sfu::SfuStats::get(&net.core.stats().forwarded_packets);
        assert!(forwarded > 0, "nothing was forwarded with {n} subscribers");
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
