//! Value Change Dump output, the waveform format GTKWave and every HDL simulator read.
//!
//! Signals that share a slot (a port and the wire that drives it, a child's input and the
//! parent's net) share one identifier code, so each value is compared and written once per
//! cycle. Time runs at 10 units (1 ns each) per cycle; the clock rises at the start of each
//! cycle, together with the register updates it causes, and falls at mid-cycle.

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
    clk_id: Option<String>,
    last_time: Option<u64>,
    error: Option<String>,
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
    /// `clocked`.
    pub(crate) fn new(
        out: W,
        top: &str,
        vars: Vec<VcdVar>,
        clocked: bool,
    ) -> Result<Self, SimError> {
        let mut out = BufWriter::new(out);
        let mut codes: Vec<Code> = Vec::new();
        let mut by_slot: HashMap<(Slot, u32, bool), usize> = HashMap::new();
        let mut root = Scope::default();
        let clk_id = clocked.then(|| ident(0));
        if let Some(id) = &clk_id {
            root.vars.push(("clk".to_string(), 1, id.clone()));
        }
        let first = usize::from(clocked);
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
        writeln!(out, "$timescale 1ns $end")?;
        writeln!(out, "$scope module {top} $end")?;
        root.write(&mut out)?;
        writeln!(out, "$upscope $end")?;
        writeln!(out, "$enddefinitions $end")?;
        let total = codes.iter().map(|c| words(c.width)).sum();
        Ok(VcdWriter {
            out,
            codes,
            last: vec![0; total],
            clk_id,
            last_time: None,
            error: None,
        })
    }

    /// Records the values of `cycle` (the settled state before its edge): at the first
    /// sample every value, afterwards only changes.
    pub(crate) fn sample(&mut self, cycle: u64, state: &[u64]) -> Result<(), SimError> {
        if let Some(e) = &self.error {
            return Err(SimError::Io(e.clone()));
        }
        if let Err(e) = self.write_sample(cycle, state) {
            self.error = Some(e.to_string());
            return Err(e.into());
        }
        Ok(())
    }

    fn write_sample(&mut self, cycle: u64, state: &[u64]) -> io::Result<()> {
        let time = cycle * PERIOD;
        let first = self.last_time.is_none();
        if self.last_time != Some(time) {
            // The previous cycle's falling edge, written only now so that a second sample
            // of that cycle (a flush, then more pokes) still lands at its own time.
            if let (Some(id), Some(prev)) = (&self.clk_id, self.last_time) {
                if prev > 0 {
                    writeln!(self.out, "#{}\n0{id}", prev + PERIOD / 2)?;
                }
            }
            writeln!(self.out, "#{time}")?;
            if first {
                writeln!(self.out, "$dumpvars")?;
            }
            if let Some(id) = &self.clk_id {
                writeln!(self.out, "{}{id}", if cycle == 0 { '0' } else { '1' })?;
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
