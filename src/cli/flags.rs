//! One value parser per kind of flag value. Clap runs them while parsing, so a bad value is
//! reported with the flag's name (`invalid value '20.x' for '--act <BITS.FRAC>': ...`) and exit
//! code 2, before any work starts.

use hardwire_model::fixed::{Format, NumericConfig};

/// `--mixed BASE/HIGH`: every matrix at BASE bits, the most sensitive ones at HIGH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixedBits {
    /// Bits of most matrices.
    pub base: u32,
    /// Bits of the most sensitive matrices.
    pub high: u32,
}

/// Weight widths the quantiser and the hardware support.
pub const WEIGHT_BITS: std::ops::RangeInclusive<u32> = 2..=8;

fn weight_bits_in_range(bits: u32) -> Result<u32, String> {
    if WEIGHT_BITS.contains(&bits) {
        Ok(bits)
    } else {
        Err(format!(
            "{bits} bits is outside {}..={}",
            WEIGHT_BITS.start(),
            WEIGHT_BITS.end()
        ))
    }
}

/// `--weight-bits`: 2 to 8.
pub fn weight_bits(s: &str) -> Result<u32, String> {
    weight_bits_in_range(s.parse().map_err(|_| format!("`{s}` is not a bit width"))?)
}

/// `--mixed`: `BASE/HIGH` with both widths 2 to 8 and HIGH wider than BASE.
pub fn mixed(s: &str) -> Result<MixedBits, String> {
    let syntax = || format!("`{s}` is not BASE/HIGH (e.g. 3/6)");
    let (base, high) = s.split_once('/').ok_or_else(syntax)?;
    let base = weight_bits_in_range(base.parse().map_err(|_| syntax())?)?;
    let high = weight_bits_in_range(high.parse().map_err(|_| syntax())?)?;
    if high <= base {
        return Err(format!("HIGH ({high}) must be wider than BASE ({base})"));
    }
    Ok(MixedBits { base, high })
}

/// A fraction from 0 to 1 (`--mixed-fraction`); NaN and infinities are refused.
pub fn fraction(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&x) {
        Ok(x)
    } else {
        Err(format!("{s} is not between 0 and 1"))
    }
}

/// `--clock-mhz`: a clock between 1 kHz and 10 GHz.
pub fn clock_mhz(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.001..=10_000.0).contains(&x) {
        Ok(x)
    } else {
        Err(format!("{s} MHz is not between 0.001 and 10000"))
    }
}

/// `--avg-bits`: an average weight width within the widths the hardware builds.
pub fn average_bits(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (*WEIGHT_BITS.start() as f64..=*WEIGHT_BITS.end() as f64).contains(&x) {
        Ok(x)
    } else {
        Err(format!(
            "{s} is outside {}..={} bits",
            WEIGHT_BITS.start(),
            WEIGHT_BITS.end()
        ))
    }
}

/// `--act`: `BITS.FRAC` within the datapath's limits.
pub fn act_format(s: &str) -> Result<Format, String> {
    let f = s.parse()?;
    NumericConfig::check_format("act", f)?;
    Ok(f)
}

/// `--resid`: `BITS.FRAC` within the datapath's limits.
pub fn resid_format(s: &str) -> Result<Format, String> {
    let f = s.parse()?;
    NumericConfig::check_format("resid", f)?;
    Ok(f)
}

/// `--prod`: `BITS.FRAC` within the datapath's limits.
pub fn prod_format(s: &str) -> Result<Format, String> {
    let f = s.parse()?;
    NumericConfig::check_format("prod", f)?;
    Ok(f)
}

/// `--acc-bits`: within [`NumericConfig::ACC_BITS`].
pub fn acc_bits(s: &str) -> Result<u32, String> {
    let bits: u32 = s.parse().map_err(|_| format!("`{s}` is not a bit width"))?;
    let range = NumericConfig::ACC_BITS;
    if range.contains(&bits) {
        Ok(bits)
    } else {
        Err(format!(
            "{bits} is outside {}..={}",
            range.start(),
            range.end()
        ))
    }
}

/// A count of at least 1 (`--layers`, `--reuse`, `--max-seq`).
pub fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("`{s}`: {e}")),
    }
}

/// Inputs per weight scale (`--group-size`): 0 (one scale per row) up to 2^20.
pub fn group_size(s: &str) -> Result<usize, String> {
    const MAX: usize = 1 << 20;
    match s.parse::<usize>() {
        Ok(n) if n <= MAX => Ok(n),
        Ok(n) => Err(format!("{n} is more than {MAX} inputs per group")),
        Err(e) => Err(format!("`{s}`: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_parser_takes_good_values_and_explains_bad_ones() {
        assert_eq!(mixed("3/6"), Ok(MixedBits { base: 3, high: 6 }));
        for (bad, why) in [
            ("3/9", "outside"),
            ("6/3", "wider"),
            ("3", "BASE/HIGH"),
            ("a/6", "BASE/HIGH"),
        ] {
            let e = mixed(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert_eq!(fraction("0.25"), Ok(0.25));
        for bad in ["NaN", "-1", "1.5", "inf", "x"] {
            assert!(fraction(bad).is_err(), "{bad}");
        }
        assert_eq!(act_format("18.10"), Ok(Format { bits: 18, frac: 10 }));
        for bad in ["20.4294967294", "a.b", "30.10", "20.2"] {
            assert!(act_format(bad).is_err(), "{bad}");
        }
        assert!(resid_format("20.4294967294").is_err());
        assert_eq!(weight_bits("4"), Ok(4));
        assert!(weight_bits("9").is_err() && weight_bits("4294967300").is_err());
        assert!(acc_bits("15").is_err() && acc_bits("40").is_ok());
        assert!(positive("0").is_err() && positive("-3").is_err());
        assert_eq!(positive("9223372036854775808"), Ok(1 << 63));
        assert!(group_size("0").is_ok() && group_size("2000000").is_err());
        let mhz = hardwire_fpga::top::parse_mhz;
        assert!(mhz("1e9").is_err() && mhz("NaN").is_err() && mhz("0").is_err());
        assert_eq!(mhz("100"), Ok(100.0));
    }
}
