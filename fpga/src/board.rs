//! Boards as data: the part, the clock, and the pins the board top uses.

use serde::Serialize;

use crate::part::Part;

/// Which board pin does what, by the port names of the generated board top (which are the
/// names used in the board's constraint file in `constraints/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoardPins {
    /// The oscillator input.
    pub clock: &'static str,
    /// The reset button.
    pub reset: &'static str,
    /// Whether the reset button reads 0 when pressed.
    pub reset_active_low: bool,
    /// The serial line the FPGA receives on.
    pub uart_rx: &'static str,
    /// The serial line the FPGA transmits on.
    pub uart_tx: &'static str,
    /// The LED bus name and how many LEDs it has.
    pub leds: (&'static str, u32),
}

/// One development board.
///
/// ```
/// use hardwire_fpga::Board;
/// let b = Board::default();
/// assert_eq!(b.id, "ulx3s");
/// assert_eq!(b.clock_hz, 25_000_000);
/// assert!(b.constraints.contains("SITE \"G2\""));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Board {
    /// Short name for command lines and directories (`ulx3s`).
    pub id: &'static str,
    /// Human name.
    pub name: &'static str,
    /// Its FPGA.
    pub part: Part,
    /// Frequency of the board's oscillator.
    pub clock_hz: u64,
    /// The PLL a design runs from unless told otherwise, in MHz (`None`: the oscillator).
    pub default_pll_mhz: Option<f64>,
    /// Pin roles.
    pub pins: BoardPins,
    /// File name of the constraints in `constraints/`.
    pub constraints_file: &'static str,
    /// The constraint file's text (built into the crate so a flow needs no source tree).
    #[serde(skip)]
    pub constraints: &'static str,
}

impl Board {
    /// Radiona ULX3S with the LFE5U-85F: the default ECP5 board.
    pub fn ulx3s() -> Board {
        Board {
            id: "ulx3s",
            name: "ULX3S (ECP5 LFE5U-85F)",
            part: Part::lfe5u_85f(),
            clock_hz: 25_000_000,
            // The core meets timing at 100 MHz; the 25 MHz oscillator would waste three
            // quarters of it.
            default_pll_mhz: Some(100.0),
            pins: BoardPins {
                clock: "clk_25mhz",
                reset: "btn_pwr_n",
                reset_active_low: true,
                uart_rx: "ftdi_txd",
                uart_tx: "ftdi_rxd",
                leds: ("led", 8),
            },
            constraints_file: "ulx3s.lpf",
            constraints: include_str!("../../constraints/ulx3s.lpf"),
        }
    }

    /// Digilent Arty A7-100T: the Xilinx 7-series board.
    pub fn arty_a7_100t() -> Board {
        Board {
            id: "arty_a7_100t",
            name: "Arty A7-100T (Artix-7 XC7A100T)",
            part: Part::xc7a100t(),
            clock_hz: 100_000_000,
            default_pll_mhz: None,
            pins: BoardPins {
                clock: "clk100mhz",
                reset: "ck_rst",
                reset_active_low: true,
                uart_rx: "uart_txd_in",
                uart_tx: "uart_rxd_out",
                leds: ("led", 4),
            },
            constraints_file: "arty_a7_100t.xdc",
            constraints: include_str!("../../constraints/arty_a7_100t.xdc"),
        }
    }

    /// Every known board.
    pub fn all() -> Vec<Board> {
        vec![Board::ulx3s(), Board::arty_a7_100t()]
    }

    /// The board with this id (`ulx3s`, `arty_a7_100t`; `arty` also finds the Arty).
    pub fn by_id(id: &str) -> Option<Board> {
        let id = id.to_ascii_lowercase().replace('-', "_");
        Board::all()
            .into_iter()
            .find(|b| b.id == id || (id == "arty" && b.id.starts_with("arty")))
    }

    /// Every known board's id, for error messages.
    pub fn ids() -> Vec<&'static str> {
        Board::all().iter().map(|b| b.id).collect()
    }

    /// The board clock in MHz.
    pub fn clock_mhz(&self) -> f64 {
        self.clock_hz as f64 / 1e6
    }
}

impl Default for Board {
    fn default() -> Board {
        Board::ulx3s()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pin_the_board_top_uses_is_in_the_constraint_file() {
        for b in Board::all() {
            let p = &b.pins;
            for name in [p.clock, p.reset, p.uart_rx, p.uart_tx] {
                assert!(
                    b.constraints.contains(&format!("\"{name}\""))
                        || b.constraints.contains(&format!("{{ {name} }}")),
                    "{}: {name} is not constrained",
                    b.id
                );
            }
            for i in 0..p.leds.1 {
                let led = format!("{}[{i}]", p.leds.0);
                assert!(b.constraints.contains(&led), "{}: {led}", b.id);
            }
        }
        assert_eq!(Board::by_id("arty").unwrap().part.name, "xc7a100tcsg324-1");
        assert!(Board::by_id("nope").is_none());
    }
}
