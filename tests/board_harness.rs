//! The board harness end to end in simulation: bytes sent as real 115200-baud serial
//! waveforms reach the hardwired array's inputs, and the digest bytes that come back over
//! the serial line equal those computed from the integer matrix-vector product; on the
//! board's pins (PLL, reset synchroniser and all) from power-up, and under Verilator with
//! the same outputs on every cycle.

use hardwire::blocks::uart::cycles_per_bit;
use hardwire::blocks::BoardHarness;
use hardwire::blocks::MultiplierArray;
use hardwire::fpga::top::{BoardTop, ClockPlan};
use hardwire::fpga::Board;
use hardwire::hdl::prelude::*;
use hardwire::hdl::Bits;
use hardwire::sim::cosim::{cosimulate, driven_inputs, require_tool, Backend, Stimulus};
use hardwire::sim::Simulator;

// The line-level helpers; the stimulus is the board pins' own here.
#[allow(dead_code)]
mod serial;

const CLOCK_HZ: u64 = 25_000_000;
const BAUD: u32 = 115_200;

fn array() -> MultiplierArray {
    MultiplierArray {
        weights: vec![vec![3, -7], vec![0, 5], vec![-1, 1], vec![6, 2]],
        weight_bits: 4,
        ty: Type::signed(8),
        label: "bt".into(),
    }
}

/// The line for `bytes`: 20 idle bits, 8N1 frames each followed by `gap` idle bits, and
/// room for the answer to the last byte (the answer delay and a whole frame).
fn waveform(bytes: &[u8], gap: usize) -> Vec<u64> {
    let mut bits = vec![1u64; 20];
    bits.extend(serial::frame_bits(bytes, gap));
    bits.extend(std::iter::repeat_n(1, 14));
    serial::line(&bits, CLOCK_HZ, BAUD)
}

/// The digest the harness should send after each byte: the stimulus register is
/// `{.., previous byte, byte}` over the inputs `x` (2 x 8 bits) and `in_valid` (1 bit).
fn expected_digests(block: &MultiplierArray, bytes: &[u8]) -> Vec<u8> {
    let ow = block.output_type().width;
    let mut stimulus: u64 = 0;
    bytes
        .iter()
        .map(|&b| {
            stimulus = ((stimulus << 8) | u64::from(b)) & ((1 << 17) - 1);
            let x = [
                stimulus as u8 as i8 as i64,
                (stimulus >> 8) as u8 as i8 as i64,
            ];
            let in_valid = stimulus >> 16 & 1;
            let mut observed: Vec<u64> = Vec::new();
            for row in &block.weights {
                let y: i64 = row.iter().zip(&x).map(|(w, x)| w * x).sum();
                observed.extend((0..ow).map(|i| (y >> i) as u64 & 1));
            }
            observed.push(in_valid); // out_valid follows in_valid
            (0..8).fold(0u8, |d, i| {
                let p = observed.iter().skip(i).step_by(8).fold(0, |a, b| a ^ b);
                d | (p as u8) << i
            })
        })
        .collect()
}

#[test]
fn bytes_sent_over_serial_come_back_as_digests_of_the_arrays_outputs() {
    let block = array();
    let harness = BoardHarness::new(block.clone(), 8, CLOCK_HZ).expect("elaborates");
    let design = Design::elaborate(&harness).expect("elaborates");
    let bytes = [0x01, 0x7f, 0x80, 0xff, 0x05, 0x9c, 0x00, 0x33];
    let line = waveform(&bytes, 3);
    let mut sim = Simulator::new(&design).unwrap();
    sim.reset(2).unwrap();
    let mut tx = Vec::with_capacity(line.len());
    for &level in &line {
        sim.poke("uart_rx", level).unwrap();
        tx.push(sim.peek("uart_tx").unwrap());
        sim.step();
    }
    assert!(
        line.len() > bytes.len() * 10 * cycles_per_bit(CLOCK_HZ, BAUD) as usize,
        "the waveform is real-time"
    );
    assert_eq!(
        serial::decode(&tx, CLOCK_HZ, BAUD),
        expected_digests(&block, &bytes)
    );
}

/// The harness on the ULX3S's pins, as the flow builds it: the board clock through the PLL
/// (whose model passes it on), the reset synchroniser, the pins by their names.
fn on_the_ulx3s(plan: ClockPlan) -> Design {
    let harness = BoardHarness::new(array(), 8, CLOCK_HZ).expect("elaborates");
    Design::elaborate(&BoardTop {
        board: Board::ulx3s(),
        plan,
        block: harness,
    })
    .expect("elaborates")
}

/// The board top in simulation: from power-up (the synchroniser holds reset, no reset
/// input), bytes on `ftdi_txd` come back as digests on `ftdi_rxd`; a press of the button
/// resets the harness mid-stream, and bytes sent after it are answered again.
#[test]
fn the_board_top_answers_over_its_pins_from_power_up_and_after_a_reset() {
    let block = array();
    for plan in [ClockPlan::Board, ClockPlan::Pll { mhz: 25.0 }] {
        let design = on_the_ulx3s(plan);
        let mut sim = Simulator::new(&design).unwrap();
        let mut run = |line: &[u64], button_low_for: usize| {
            let mut tx = Vec::with_capacity(line.len());
            for (i, &level) in line.iter().enumerate() {
                sim.poke("btn_pwr_n", u64::from(i >= button_low_for))
                    .unwrap();
                sim.poke("ftdi_txd", level).unwrap();
                tx.push(sim.peek("ftdi_rxd").unwrap());
                sim.step();
            }
            serial::decode(&tx, CLOCK_HZ, BAUD)
        };
        let first = [0x01, 0x7f, 0x80];
        assert_eq!(
            run(&waveform(&first, 3), 0),
            expected_digests(&block, &first)
        );
        // The press clears the stimulus register, so digests start over.
        let second = [0x05, 0x9c];
        assert_eq!(
            run(&waveform(&second, 3), 4),
            expected_digests(&block, &second),
            "{plan:?}"
        );
    }
}

#[test]
fn the_board_top_matches_verilator_on_a_serial_waveform() {
    if !require_tool("verilator") {
        return;
    }
    let design = on_the_ulx3s(ClockPlan::Pll { mhz: 25.0 });
    let line = waveform(&[0x42, 0xa5, 0x0f], 2);
    // Inputs in port order: the button (released after two cycles), then the line.
    assert_eq!(driven_inputs(&design), ["btn_pwr_n", "ftdi_txd"]);
    let cycles = line
        .iter()
        .enumerate()
        .map(|(i, &l)| vec![Bits::from_u64(u64::from(i >= 2), 1), Bits::from_u64(l, 1)])
        .collect();
    let stimulus = Stimulus {
        cycles,
        compare_from: 0,
        periods: Vec::new(),
    };
    let report =
        cosimulate(&design, &stimulus, Backend::Verilator).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.cycles as usize, line.len());
}
