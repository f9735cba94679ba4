//! The UART in the DSL, driven by real serial waveforms: the line levels on each clock cycle
//! come from the exact bit times at the baud rate (not from the hardware's rounded divisor),
//! and what the transmitter puts on the line is decoded by sampling at the exact bit centres.
//! Checked in native simulation and, for the receiver, under Verilator cycle for cycle.

use hardwire::blocks::uart::{cycles_per_bit, UartRx, UartTx};
use hardwire::hdl::prelude::*;
use hardwire::sim::cosim::{cosimulate, require_tool, Backend};
use hardwire::sim::Simulator;

mod serial;
use serial::{decode, frame_bits, line};

const BAUD: u32 = 115_200;
const BYTES: &[u8] = b"hardwire\x00\xff\x55\xaa\x80\x01";

/// `idle` cycles high, the frames of `bytes` back to back, then `idle` cycles high again.
fn waveform(bytes: &[u8], clock_hz: u64, baud: u32, idle: usize) -> Vec<u64> {
    let mut out = vec![1; idle];
    out.extend(line(&frame_bits(bytes, 0), clock_hz, baud));
    out.extend(std::iter::repeat_n(1, idle));
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
        let line = waveform(BYTES, clock_hz, BAUD, 500);
        assert_eq!(receive(clock_hz, &line), BYTES, "at {clock_hz} Hz");
    }
}

#[test]
fn the_receiver_ignores_a_glitch_shorter_than_half_a_bit() {
    let clock_hz = 25_000_000;
    let mut line = vec![1u64; 300];
    line.extend(vec![0; 50]); // a quarter of a bit
    line.extend(vec![1; 3000]);
    line.extend(waveform(b"ok", clock_hz, BAUD, 200));
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
    let line = waveform(b"hw\x00\xff", clock_hz, BAUD, 300);
    let stimulus = serial::stimulus(&line);
    let report =
        cosimulate(&design, &stimulus, Backend::Verilator).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.cycles as usize, line.len() + 2);
}
