//! The UART in the DSL, driven by real serial waveforms: the line levels on each clock cycle
//! come from the exact bit times at the baud rate (not from the hardware's rounded divisor),
//! and what the transmitter puts on the line is decoded by sampling at the exact bit centres.
//! Checked in native simulation and, for the receiver, under Verilator cycle for cycle.

use hardwire::fpga::uart::{cycles_per_bit, UartRx, UartTx};
use hardwire::hdl::prelude::*;
use hardwire::sim::cosim::{cosimulate, require_tool, Backend, Stimulus};
use hardwire::sim::Simulator;

const BAUD: u32 = 115_200;
const BYTES: &[u8] = b"hardwire\x00\xff\x55\xaa\x80\x01";

/// Line levels, one per clock cycle: `idle` cycles high, then 8N1 frames back to back with
/// each bit lasting exactly `1 / baud` seconds, then `idle` cycles high again.
fn serial_waveform(bytes: &[u8], clock_hz: u64, baud: u32, idle: usize) -> Vec<u64> {
    let bits: Vec<u64> = bytes
        .iter()
        .flat_map(|b| {
            std::iter::once(0)
                .chain((0..8).map(move |i| u64::from(b >> i & 1)))
                .chain(std::iter::once(1))
        })
        .collect();
    let frame_cycles = (bits.len() as f64 * clock_hz as f64 / f64::from(baud)).ceil() as usize;
    let mut line = vec![1; idle];
    for c in 0..frame_cycles {
        let bit = (c as f64 * f64::from(baud) / clock_hz as f64) as usize;
        line.push(bits.get(bit).copied().unwrap_or(1));
    }
    line.extend(std::iter::repeat_n(1, idle));
    line
}

/// Decodes 8N1 frames from line levels by sampling at the exact bit centres after each
/// falling edge; panics on a bad stop bit.
fn decode(line: &[u64], clock_hz: u64, baud: u32) -> Vec<u8> {
    let bit = clock_hz as f64 / f64::from(baud);
    let mut out = Vec::new();
    let mut c = 1;
    while c < line.len() {
        if line[c - 1] == 1 && line[c] == 0 {
            let at = |k: f64| line[(c as f64 + k * bit) as usize];
            assert_eq!(at(0.5), 0, "start bit at cycle {c}");
            let byte = (0..8).fold(0u8, |b, i| b | (at(1.5 + i as f64) as u8) << i);
            assert_eq!(at(9.5), 1, "stop bit of the frame at cycle {c}");
            out.push(byte);
            c += (9.5 * bit) as usize;
        } else {
            c += 1;
        }
    }
    out
}

fn transmit(clock_hz: u64, bytes: &[u8]) -> Vec<u64> {
    let design = Design::elaborate(&UartTx {
        clock_hz,
        baud: BAUD,
    })
    .expect("elaborates");
    let mut sim = Simulator::new(&design).unwrap();
    sim.reset(2).unwrap();
    let mut line = Vec::new();
    let mut next = 0;
    let limit = (bytes.len() + 2) * 10 * cycles_per_bit(clock_hz, BAUD) as usize;
    for _ in 0..limit {
        let ready = sim.peek("ready").unwrap() == 1;
        let send = ready && next < bytes.len();
        sim.poke("data", bytes.get(next).copied().unwrap_or(0).into())
            .unwrap();
        sim.poke("valid", u64::from(send)).unwrap();
        line.push(sim.peek("tx").unwrap());
        if send {
            next += 1;
        }
        sim.step();
    }
    assert_eq!(next, bytes.len(), "every byte was accepted");
    line
}

fn receive(clock_hz: u64, line: &[u64]) -> Vec<u8> {
    let design = Design::elaborate(&UartRx {
        clock_hz,
        baud: BAUD,
    })
    .expect("elaborates");
    let mut sim = Simulator::new(&design).unwrap();
    sim.reset(2).unwrap();
    let mut got = Vec::new();
    for &level in line {
        sim.poke("rx", level).unwrap();
        if sim.peek("valid").unwrap() == 1 {
            got.push(sim.peek("data").unwrap() as u8);
        }
        sim.step();
    }
    got
}

#[test]
fn the_transmitter_puts_8n1_frames_on_the_line_at_115200_baud() {
    for clock_hz in [25_000_000, 100_000_000] {
        let line = transmit(clock_hz, BYTES);
        assert_eq!(line[0], 1, "the line idles high");
        assert_eq!(decode(&line, clock_hz, BAUD), BYTES, "at {clock_hz} Hz");
    }
}

#[test]
fn the_receiver_reads_real_serial_waveforms_at_115200_baud() {
    for clock_hz in [25_000_000, 100_000_000] {
        let line = serial_waveform(BYTES, clock_hz, BAUD, 500);
        assert_eq!(receive(clock_hz, &line), BYTES, "at {clock_hz} Hz");
    }
}

#[test]
fn the_receiver_ignores_a_glitch_shorter_than_half_a_bit() {
    let clock_hz = 25_000_000;
    let mut line = vec![1u64; 300];
    line.extend(vec![0; 50]); // a quarter of a bit
    line.extend(vec![1; 3000]);
    line.extend(serial_waveform(b"ok", clock_hz, BAUD, 200));
    assert_eq!(receive(clock_hz, &line), b"ok");
}

#[test]
fn transmitter_to_receiver_loops_back() {
    let clock_hz = 25_000_000;
    let line = transmit(clock_hz, BYTES);
    assert_eq!(receive(clock_hz, &line), BYTES);
}

#[test]
fn the_receiver_matches_verilator_cycle_for_cycle_on_a_real_waveform() {
    if !require_tool("verilator") {
        return;
    }
    let clock_hz = 25_000_000;
    let design = Design::elaborate(&UartRx {
        clock_hz,
        baud: BAUD,
    })
    .expect("elaborates");
    let line = serial_waveform(b"hw\x00\xff", clock_hz, BAUD, 300);
    let mut cycles = vec![vec![Bits::from_u64(1, 1), Bits::from_u64(1, 1)]; 2];
    cycles.extend(
        line.iter()
            .map(|&l| vec![Bits::from_u64(0, 1), Bits::from_u64(l, 1)]),
    );
    let stimulus = Stimulus {
        cycles,
        compare_from: 2,
    };
    let report =
        cosimulate(&design, &stimulus, Backend::Verilator).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.cycles as usize, line.len() + 2);
}
