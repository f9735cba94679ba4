//! Serial (8N1) line levels for the FPGA tests: encoding bytes into real-time waveforms,
//! decoding what a transmitter puts on the line, and a co-simulation stimulus that drives a
//! design's only input, `uart_rx`, with a line.

use hardwire::hdl::Bits;
use hardwire::sim::cosim::Stimulus;

/// Bit levels of 8N1 frames (start bit, eight data bits LSB first, stop bit), each followed
/// by `gap` idle (high) bits.
pub fn frame_bits(bytes: &[u8], gap: usize) -> Vec<u64> {
    let mut bits = Vec::new();
    for b in bytes {
        bits.push(0);
        bits.extend((0..8).map(|i| u64::from(b >> i & 1)));
        bits.push(1);
        bits.extend(std::iter::repeat_n(1, gap));
    }
    bits
}

/// Line levels, one per clock cycle, with each bit lasting exactly `1 / baud` seconds (not
/// the hardware's rounded divisor); the line is high after the last bit.
pub fn line(bits: &[u64], clock_hz: u64, baud: u32) -> Vec<u64> {
    let cycles = (bits.len() as f64 * clock_hz as f64 / f64::from(baud)).ceil() as usize;
    (0..cycles)
        .map(|c| {
            let bit = (c as f64 * f64::from(baud) / clock_hz as f64) as usize;
            bits.get(bit).copied().unwrap_or(1)
        })
        .collect()
}

/// Decodes the 8N1 frames on a line by sampling at the exact bit centres after each falling
/// edge; panics on a bad start or stop bit.
pub fn decode(line: &[u64], clock_hz: u64, baud: u32) -> Vec<u8> {
    let bit = clock_hz as f64 / f64::from(baud);
    let mut out = Vec::new();
    let mut c = 1;
    while c + (10.0 * bit) as usize <= line.len() {
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

/// Two reset cycles with the line idle, then `line` on `uart_rx` (a design whose inputs are
/// `rst` and `uart_rx`); compared from the end of reset.
pub fn stimulus(line: &[u64]) -> Stimulus {
    let mut cycles = vec![vec![Bits::from_u64(1, 1), Bits::from_u64(1, 1)]; 2];
    cycles.extend(
        line.iter()
            .map(|&l| vec![Bits::from_u64(0, 1), Bits::from_u64(l, 1)]),
    );
    Stimulus {
        cycles,
        compare_from: 2,
        periods: Vec::new(),
    }
}
