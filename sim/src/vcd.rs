//! Value Change Dump output, the waveform format GTKWave and every HDL simulator read.
//!
//! Signals that share a slot (a port and the wire that drives it, a child's input and the
//! parent's net) share one identifier code, so each value is compared and written once per
//! cycle. With one clock, time runs at 10 units (1 ns each) per cycle; the clock `clk` rises
//! at the start of each cycle, together with the register updates it causes, and falls at
//! mid-cycle. With several, time is the simulator's in picoseconds and each clock (named by
//! its input) rises at its own edges, with the updates they cause, and falls half a period
//! later.

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};

use crate::error::SimError;
use crate::instr::{words, Slot};

/// Time units per clock cycle.
pub const PERIOD: u64 = 10;

/// One signal to trace.
#[derive(Debug, Clone)]
pub(crate) struct VcdVar {
    /// Instance names from the top down.
    pub scope: Vec<String>,
    pub name: String,
    pub slot: Slot,
    pub width: u32,
    /// The names of its values (a state machine's states): traced as a string variable
    /// showing the name, as Amaranth and GHDL do for enumerations. Empty: traced as bits.
    pub labels: Vec<String>,
}

/// A distinct value: a slot and its width, with its identifier code.
struct Code {
    slot: usize,
    width: u32,
    id: String,
    labels: Vec<String>,
}

/// A VCD writer sampling the simulator state once per cycle.
pub(crate) struct VcdWriter<W: Write> {
    out: BufWriter<W>,
    codes: Vec<Code>,
    /// The last written value of every code's words, concatenated.
    last: Vec<u64>,
    clocks: Clocks,
    last_time: Option<u64>,
    error: Option<String>,
}

/// The clock variables of a waveform.
enum Clocks {
    /// None traced.
    None,
    /// One clock, `clk`, at [`PERIOD`] per cycle.
    One(String),
    /// Several, in picoseconds: each one's identifier, bit in the rising mask and half
    /// period, and the falling edges still to write.
    Several {
        clocks: Vec<(String, u32, u64)>,
        falls: Vec<(u64, String)>,
    },
}

/// A clock to show, for a waveform of several clocks.
pub(crate) struct VcdClock {
    /// Its name in the waveform (its input's name).
    pub name: String,
    /// Its bit in the masks of rising clocks.
    pub bit: u32,
    /// Its period.
    pub period_ps: u64,
}

/// The identifier for code number `i`: base-94 digits over the printable ASCII range.
fn ident(mut i: usize) -> String {
    let mut s = String::new();
    loop {
        s.push(char::from(b'!' + (i % 94) as u8));
        i /= 94;
        if i == 0 {
            return s;
        }
        i -= 1;
    }
}

#[derive(Default)]
struct Scope {
    /// Name, width (0 for a string variable) and identifier code.
    vars: Vec<(String, u32, String)>,
    children: Vec<(String, Scope)>,
}

impl Scope {
    fn child(&mut self, name: &str) -> &mut Scope {
        let i = match self.children.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.children.push((name.to_string(), Scope::default()));
                self.children.len() - 1
            }
        };
        &mut self.children[i].1
    }

    fn write(&self, out: &mut impl Write) -> io::Result<()> {
        for (name, width, id) in &self.vars {
            if *width == 0 {
                writeln!(out, "$var string 1 {id} {name} $end")?;
            } else {
                writeln!(out, "$var wire {width} {id} {name} $end")?;
            }
        }
        for (name, scope) in &self.children {
            writeln!(out, "$scope module {name} $end")?;
            scope.write(out)?;
            writeln!(out, "$upscope $end")?;
        }
        Ok(())
    }
}

impl<W: Write> VcdWriter<W> {
    /// Writes the header declaring `vars` under a top scope named `top`, plus a `clk` when
    /// `clocked`, or, for more than one clock, each of `several`.
    pub(crate) fn new(
        out: W,
        top: &str,
        vars: Vec<VcdVar>,
        clocked: bool,
        several: Vec<VcdClock>,
    ) -> Result<Self, SimError> {
        let mut out = BufWriter::new(out);
        let mut codes: Vec<Code> = Vec::new();
        let mut by_slot: HashMap<(Slot, u32, bool), usize> = HashMap::new();
        let mut root = Scope::default();
        let clocks = if several.len() > 1 {
            let clocks: Vec<(String, u32, u64)> = several
                .iter()
                .enumerate()
                .map(|(i, c)| (ident(i), c.bit, c.period_ps / 2))
                .collect();
            for (c, (id, ..)) in several.iter().zip(&clocks) {
                root.vars.push((c.name.clone(), 1, id.clone()));
            }
            Clocks::Several {
                clocks,
                falls: Vec::new(),
            }
        } else if clocked {
            root.vars.push(("clk".to_string(), 1, ident(0)));
            Clocks::One(ident(0))
        } else {
            Clocks::None
        };
        let first = root.vars.len();
        for v in vars {
            let labelled = !v.labels.is_empty();
            let code = *by_slot
                .entry((v.slot, v.width, labelled))
                .or_insert_with(|| {
                    codes.push(Code {
                        slot: v.slot as usize,
                        width: v.width,
                        id: ident(first + codes.len()),
                        labels: v.labels,
                    });
                    codes.len() - 1
                });
            let mut scope = &mut root;
            for s in &v.scope {
                scope = scope.child(s);
            }
            let width = if labelled { 0 } else { v.width };
            scope.vars.push((v.name, width, codes[code].id.clone()));
        }
        writeln!(
            out,
            "$version hardwire-sim {} $end",
            env!("CARGO_PKG_VERSION")
        )?;
        let scale = match clocks {
            Clocks::Several { .. } => "1ps",
            _ => "1ns",
        };
        writeln!(out, "$timescale {scale} $end")?;
        writeln!(out, "$scope module {top} $end")?;
        root.write(&mut out)?;
        writeln!(out, "$upscope $end")?;
        writeln!(out, "$enddefinitions $end")?;
        let total = codes.iter().map(|c| words(c.width)).sum();
        Ok(VcdWriter {
            out,
            codes,
            last: vec![0; total],
            clocks,
            last_time: None,
            error: None,
        })
    }

    /// Records the values of `cycle` (the settled state before its edge): at the first
    /// sample every value, afterwards only changes. With several clocks, `edge` is the time
    /// of the edge these values follow and the clocks that rose at it.
    pub(crate) fn sample(
        &mut self,
        cycle: u64,
        edge: (u64, u64),
        state: &[u64],
    ) -> Result<(), SimError> {
        if let Some(e) = &self.error {
            return Err(SimError::Io(e.clone()));
        }
        if let Err(e) = self.write_sample(cycle, edge, state) {
            self.error = Some(e.to_string());
            return Err(e.into());
        }
        Ok(())
    }

    fn write_sample(&mut self, cycle: u64, edge: (u64, u64), state: &[u64]) -> io::Result<()> {
        let time = match self.clocks {
            Clocks::Several { .. } => edge.0,
            _ => cycle * PERIOD,
        };
        let first = self.last_time.is_none();
        if self.last_time != Some(time) {
            // Falling edges before now, written only now so that a second sample at one time
            // (a flush, then more pokes) still lands at its own time.
            match &mut self.clocks {
                Clocks::One(id) => {
                    if let Some(prev) = self.last_time.filter(|&p| p > 0) {
                        writeln!(self.out, "#{}\n0{id}", prev + PERIOD / 2)?;
                    }
                }
                Clocks::Several { falls, .. } => {
                    falls.sort();
                    let due = falls.iter().take_while(|f| f.0 < time).count();
                    let mut written = None;
                    for (at, id) in falls.drain(..due) {
                        if written != Some(at) {
                            writeln!(self.out, "#{at}")?;
                            written = Some(at);
                        }
                        writeln!(self.out, "0{id}")?;
                    }
                }
                Clocks::None => {}
            }
            writeln!(self.out, "#{time}")?;
            if let Clocks::Several { falls, .. } = &mut self.clocks {
                // Falls at this very time.
                let now = falls.iter().take_while(|f| f.0 == time).count();
                for (_, id) in falls.drain(..now) {
                    writeln!(self.out, "0{id}")?;
                }
            }
            if first {
                writeln!(self.out, "$dumpvars")?;
            }
            match &mut self.clocks {
                Clocks::One(id) => {
                    writeln!(self.out, "{}{id}", if cycle == 0 { '0' } else { '1' })?
                }
                Clocks::Several { clocks, falls } => {
                    for (id, bit, half) in clocks.iter() {
                        let rose = time > 0 && edge.1 >> bit & 1 == 1;
                        if rose {
                            falls.push((time + half, id.clone()));
                        }
                        if rose || first {
                            writeln!(self.out, "{}{id}", u8::from(rose))?;
                        }
                    }
                }
                Clocks::None => {}
            }
        }
        let mut off = 0;
        for code in &self.codes {
            let n = words(code.width);
            let now = &state[code.slot..code.slot + n];
            let prev = &mut self.last[off..off + n];
            off += n;
            if !first && now == prev {
                continue;
            }
            prev.copy_from_slice(now);
            if !code.labels.is_empty() {
                match code.labels.get(now[0] as usize) {
                    Some(label) => writeln!(self.out, "s{label} {}", code.id)?,
                    None => writeln!(self.out, "s{} {}", now[0], code.id)?,
                }
            } else if code.width == 1 {
                writeln!(self.out, "{}{}", now[0] & 1, code.id)?;
            } else {
                write!(self.out, "b")?;
                let top = (0..code.width)
                    .rev()
                    .find(|&i| (now[(i / 64) as usize] >> (i % 64)) & 1 == 1)
                    .unwrap_or(0);
                for i in (0..=top).rev() {
                    let bit = (now[(i / 64) as usize] >> (i % 64)) & 1;
                    self.out.write_all(if bit == 1 { b"1" } else { b"0" })?;
                }
                writeln!(self.out, " {}", code.id)?;
            }
        }
        if first {
            writeln!(self.out, "$end")?;
        }
        self.last_time = Some(time);
        Ok(())
    }

    /// Flushes buffered output, reporting any earlier write error.
    pub(crate) fn flush(&mut self) -> Result<(), SimError> {
        if let Some(e) = &self.error {
            return Err(SimError::Io(e.clone()));
        }
        self.out.flush()?;
        Ok(())
    }
}
