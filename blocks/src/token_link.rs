//! The token protocol over the serial link: [`TokenLink`] puts a token-stream core (the
//! whole model as [`LlamaCore`](crate::LlamaCore), or any block with its ports) behind a
//! [`UartRx`] and a [`UartTx`], so a host with a serial port sends a prompt and reads the
//! generated tokens back; [`TokenLinkPins`] names its ports as the board top wants them.

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::{clog2, stream_contract, End};

use crate::uart::{cycles_per_bit, UartRx, UartTx};
use crate::TokenIo;

/// Bytes on the line per token id: `ceil(token_bits / 8)`, least significant first.
pub fn token_bytes(token_bits: u32) -> u32 {
    token_bits.div_ceil(8).max(1)
}

/// Where [`TokenLink`]'s command parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parse {
    /// Waiting for `count`, the tokens to generate.
    Count,
    /// Waiting for `len`, the prompt's length.
    Length,
    /// Taking the prompt's token bytes.
    Tokens,
}

impl States for Parse {
    const ALL: &'static [Self] = &[Parse::Count, Parse::Length, Parse::Tokens];
}

/// A token-stream core behind a serial link.
///
/// # The core it wraps
/// Any block that provides [`TokenIo`], as [`LlamaCore`](crate::LlamaCore)
/// does, with a `max_new` of 8 bits or more; the link takes the types from the core.
///
/// # Protocol (8N1 at `baud`)
/// The host sends a *command*: `count` (one byte: tokens to generate, 0–255), `len` (one
/// byte: prompt length, 1–255), then `len` token ids of [`token_bytes`] bytes each, least
/// significant byte first (one byte for a byte-level vocabulary). The link answers with the
/// generated token ids in the same encoding, each as soon as the core offers it: `count`
/// of them, fewer only if the core's KV cache fills first. Every command starts a new
/// context (`start`). A command with `len` 0 is ignored; a command whose bytes stop for
/// `resync_bits` bit periods is abandoned, so the parser finds the next command's `count`
/// even after a host gave up halfway. Token ids at or above the core's vocabulary are not
/// checked, and a prompt longer than the core's KV cache stalls the link (the core stops
/// taking tokens) until the reset button.
///
/// Commands may follow each other without waiting for the answer: the prompt tokens queue
/// in a FIFO of `fifo_depth` tokens (block RAM), which also absorbs a prompt arriving faster
/// than the core runs it (a byte every 10 bit periods, a token every few thousand cycles). A
/// token that finds the FIFO full is dropped and latches `overflow`.
///
/// # Ports
/// `rx` (the serial line in) → `tx` (the serial line out); status for LEDs: `busy` (a
/// command is being received, queued, run or answered), `overflow` (sticky until reset: a
/// token was dropped), and the core's `pos` (tokens in its KV cache).
///
/// # Timing
/// A prompt token reaches the core about 9.5 bit periods after its last byte's start bit
/// plus 3 cycles (receiver, FIFO write, FIFO read); the first of a command waits one more
/// cycle for `start`. A generated token goes on the line the cycle after the core offers it,
/// while the transmitter is idle; the core waits (`out_ready` low) while the previous token's
/// bytes are still going out, so at most 10 bit periods per byte are added per token when
/// the core is faster than the line.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLink<C> {
    /// The core.
    pub core: C,
    /// Width of the core's token ids.
    pub token_bits: u32,
    /// The clock, for the UART's bit period.
    pub clock_hz: u64,
    /// Serial bits per second (115200 by default).
    pub baud: u32,
    /// Prompt tokens the FIFO holds (a power of two; 1024 by default, one ECP5 block RAM for
    /// an 8-bit token).
    pub fifo_depth: u32,
    /// Bit periods of silence after which a half-received command is abandoned (10,000 by
    /// default: 87 ms at 115200 baud).
    pub resync_bits: u32,
}

impl<C: Block + PartialEq + Clone + 'static> TokenLink<C> {
    /// `core` (with `token_bits`-bit token ids) behind a 115200-baud link on a `clock_hz`
    /// clock, with the default FIFO and resynchronisation time.
    pub fn new(core: C, token_bits: u32, clock_hz: u64) -> TokenLink<C> {
        TokenLink {
            core,
            token_bits,
            clock_hz,
            baud: 115_200,
            fifo_depth: 1024,
            resync_bits: 10_000,
        }
    }

    /// The bytes of a command: `count`, the prompt's length, the prompt's token ids.
    ///
    /// ```
    /// # use hardwire_blocks::token_link::TokenLink;
    /// # #[derive(Clone, PartialEq)] struct Core;
    /// # impl hardwire_hdl::prelude::Block for Core {
    /// #     fn name(&self) -> String { "c".into() }
    /// #     fn build(&self, _: &hardwire_hdl::prelude::ModuleBuilder<'_>) {}
    /// # }
    /// let link = TokenLink::new(Core, 9, 25_000_000);
    /// assert_eq!(link.command(4, &[0x41, 0x1ff]), [4, 2, 0x41, 0x00, 0xff, 0x01]);
    /// ```
    pub fn command(&self, count: u8, prompt: &[u32]) -> Vec<u8> {
        let mut bytes = vec![count, prompt.len() as u8];
        for &t in prompt {
            bytes.extend(self.encode(t));
        }
        bytes
    }

    /// A token id as it goes on the line.
    pub fn encode(&self, token: u32) -> Vec<u8> {
        (0..token_bytes(self.token_bits))
            .map(|i| (token >> (8 * i)) as u8)
            .collect()
    }

    /// Token ids from the bytes the link sent (a trailing partial id is dropped).
    pub fn decode(&self, bytes: &[u8]) -> Vec<u32> {
        bytes
            .chunks_exact(token_bytes(self.token_bits) as usize)
            .map(|c| c.iter().rev().fold(0u32, |t, &b| (t << 8) | u32::from(b)))
            .collect()
    }
}

impl<C: Block + PartialEq + Clone + 'static> Block for TokenLink<C> {
    fn name(&self) -> String {
        format!(
            "token_link_{}_{}_{}_{}",
            cycles_per_bit(self.clock_hz, self.baud),
            self.fifo_depth,
            self.resync_bits,
            self.core.name()
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let tb = self.token_bits;
        if !(1..=24).contains(&tb) {
            m.bad_parameter(format!("token ids of {tb} bits: 1 to 24 are supported"));
            return;
        }
        if !self.fifo_depth.is_power_of_two() || self.fifo_depth < 2 {
            m.bad_parameter(format!(
                "a FIFO depth of {} tokens: it must be a power of two, at least 2",
                self.fifo_depth
            ));
            return;
        }
        let nb = token_bytes(tb);
        let uart = (self.clock_hz, self.baud);

        let rx_pin = m.input("rx", Type::BOOL);
        let rx = m.instance(
            "u_rx",
            &UartRx {
                clock_hz: uart.0,
                baud: uart.1,
            },
        );
        rx.input("rx", rx_pin);
        let byte = rx.output("data");
        let got = rx.output("valid");

        let parse = m.fsm("phase", Parse::Count);
        let count = m.reg("count", Type::unsigned(8)).reset(0);
        let left = m.reg("left", Type::unsigned(8)).reset(0);
        let first = m.reg("first", Type::BOOL).reset(0);
        let ib = clog2(nb as usize).max(1);
        let byte_idx = m.reg("byte_index", Type::unsigned(ib)).reset(0);
        let token_byte = got & parse.is(Parse::Tokens);
        let token_done = token_byte & byte_idx.q().eq(i64::from(nb - 1));
        let token = if nb == 1 {
            byte.bits(tb - 1, 0)
        } else {
            let acc = m.reg("token_acc", Type::unsigned(8 * (nb - 1))).reset(0);
            // Little-endian: each byte enters at the top and moves down.
            let shifted = if nb == 2 {
                byte
            } else {
                byte.concat(acc.q().bits(8 * (nb - 1) - 1, 8))
            };
            acc.next_when(token_byte, shifted);
            byte.concat(acc.q()).bits(tb - 1, 0)
        };
        let last = left.q().eq(1i64);

        // Silence in the middle of a command abandons it, unless a byte arrives just then.
        let limit = u64::from(self.resync_bits).max(1) * cycles_per_bit(uart.0, uart.1);
        let sw = clog2(limit as usize + 1).max(1);
        let silence = m.reg("silence", Type::unsigned(sw)).reset(0);
        let expired = silence.q().eq(limit as i64);
        m.when(!expired, || silence.next(silence.q().wrapping_add(1)));
        m.when(got | parse.is(Parse::Count), || {
            silence.next(m.lit(0, Type::unsigned(sw)))
        });
        m.when(expired, || parse.goto(Parse::Count));

        let (one, zero) = (m.lit(1, Type::BOOL), m.lit(0, Type::BOOL));
        let idx0 = m.lit(0, Type::unsigned(ib));
        m.when(got, || {
            m.when(parse.is(Parse::Count), || {
                count.next(byte);
                parse.goto(Parse::Length);
            })
            .elsewhen(parse.is(Parse::Length), || {
                left.next(byte);
                first.next(one);
                byte_idx.next(idx0);
                // A command without tokens is ignored.
                m.when(byte.eq(0i64), || parse.goto(Parse::Count))
                    .otherwise(|| parse.goto(Parse::Tokens));
            })
            .otherwise(|| {
                byte_idx.next(byte_idx.q().wrapping_add(1));
                m.when(token_done, || {
                    byte_idx.next(idx0);
                    left.next(left.q().wrapping_sub(1));
                    first.next(zero);
                    m.when(last, || parse.goto(Parse::Count));
                });
            });
        });

        // The FIFO of prompt tokens: {first, last, count, token}. A written entry counts as
        // present one cycle after its write pointer moves (a read sees the contents before a
        // same-edge write). The head is fetched into a register when the register is empty,
        // so nothing after the block RAM's slow output decides its next address: the core
        // takes a token per decode step, thousands of cycles, so the fetch's two cycles cost
        // nothing.
        let aw = self.fifo_depth.trailing_zeros();
        let ew = tb + 10;
        let fifo = m
            .memory("fifo", Type::unsigned(ew), self.fifo_depth)
            .style(MemStyle::Block);
        let wr = m.reg("wr_ptr", Type::unsigned(aw + 1)).reset(0);
        let rd = m.reg("rd_ptr", Type::unsigned(aw + 1)).reset(0);
        let wr_seen = m.reg("wr_seen", Type::unsigned(aw + 1)).reset(0);
        let full =
            wr.q().bit(aw).ne(rd.q().bit(aw)) & wr.q().bits(aw - 1, 0).eq(rd.q().bits(aw - 1, 0));
        let push = token_done & !full;
        let entry = m.concat(&[first.q(), last, count.q(), token]);
        fifo.write(wr.q().bits(aw - 1, 0), entry, push);
        wr.next_when(push, wr.q().wrapping_add(1));
        wr_seen.next(wr.q());
        let overflow = m.reg("overflowed", Type::BOOL).reset(0);
        overflow.next_when(token_done & full, m.lit(1, Type::BOOL));

        let u_core = m.instance("u_core", &self.core);
        let core = TokenIo::of(&u_core);
        let in_ready = core.in_ready;
        let head_valid = m.reg("head_valid", Type::BOOL).reset(0);
        let fetching = m.reg("fetching", Type::BOOL).reset(0);
        let fetch = rd.q().ne(wr_seen.q()) & !head_valid.q() & !fetching.q();
        let fetched = fifo.read(rd.q().bits(aw - 1, 0));
        rd.next_when(fetch, rd.q().wrapping_add(1));
        fetching.next(fetch);
        let head = m.reg("head", Type::unsigned(ew));
        head.next_when(fetching.q(), fetched);
        let head = head.q();
        let started = m.reg("started", Type::BOOL).reset(0);
        // `start` is held until it lands on a cycle where the core is idle (`in_ready`); the
        // command's first token follows on the next cycle.
        let (h_first, h_last) = (head.bit(ew - 1), head.bit(ew - 2));
        let want_start = head_valid.q() & h_first & !started.q();
        let in_valid = head_valid.q() & (!h_first | started.q());
        let accept = in_valid & in_ready;
        head_valid.next_when(fetching.q(), m.lit(1, Type::BOOL));
        head_valid.next_when(accept, m.lit(0, Type::BOOL));
        started.next_when(want_start & in_ready, m.lit(1, Type::BOOL));
        started.next_when(accept, m.lit(0, Type::BOOL));
        m.assign(core.start, want_start);
        m.assign(core.in_valid, in_valid);
        m.assign(core.in_token, head.bits(tb - 1, 0));
        m.assign(core.in_last, h_last);
        // `max_new` as wide as the core has it; a command asks for at most 255.
        let max_new_bits = core.max_new.width();
        if max_new_bits < 8 {
            m.bad_parameter(format!(
                "the core's `max_new` has {max_new_bits} bits; a command's count needs 8"
            ));
        }
        m.assign(core.max_new, head.bits(tb + 7, tb).resize(max_new_bits));
        stream_contract(
            m,
            "to_core",
            End::Producer,
            in_valid,
            in_ready,
            head.bits(tb + 8, 0),
        );

        // The answer: a generated token is held while its bytes go out.
        let tx = m.instance(
            "u_tx",
            &UartTx {
                clock_hz: uart.0,
                baud: uart.1,
            },
        );
        let cw = clog2(nb as usize + 1).max(1);
        let to_send = m.reg("to_send", Type::unsigned(cw)).reset(0);
        let hold = m.reg("hold", Type::unsigned(8 * nb)).reset(0);
        let out_ready = to_send.q().eq(0i64);
        let take = core.out_valid & out_ready;
        let send = to_send.q().ne(0i64) & tx.output("ready");
        if nb > 1 {
            hold.next_when(
                send,
                m.lit(0, Type::unsigned(8))
                    .concat(hold.q().bits(8 * nb - 1, 8)),
            );
        }
        hold.next_when(take, core.out_token.resize(8 * nb));
        to_send.next_when(send, to_send.q().wrapping_sub(1));
        to_send.next_when(take, m.lit(i64::from(nb), Type::unsigned(cw)));
        m.assign(core.out_ready, out_ready);
        tx.input("data", hold.q().bits(7, 0));
        tx.input("valid", to_send.q().ne(0i64));
        let from_core = core.out_last.concat(core.out_token);
        let out_valid = core.out_valid;
        stream_contract(
            m,
            "from_core",
            End::Consumer,
            out_valid,
            out_ready,
            from_core,
        );
        let to_tx = to_send.q().ne(0i64);
        stream_contract(
            m,
            "to_tx",
            End::Producer,
            to_tx,
            tx.output("ready"),
            hold.q().bits(7, 0),
        );

        // Waiting for generated tokens: from the last prompt token of a command asking for
        // some to the last one taken.
        let awaiting = m.reg("awaiting", Type::BOOL).reset(0);
        awaiting.next_when(
            accept & h_last & head.bits(tb + 7, tb).ne(0i64),
            m.lit(1, Type::BOOL),
        );
        awaiting.next_when(take & core.out_last, m.lit(0, Type::BOOL));
        let busy = !parse.is(Parse::Count)
            | wr.q().ne(rd.q())
            | fetching.q()
            | head_valid.q()
            | awaiting.q()
            | to_send.q().ne(0i64)
            | !tx.output("ready");
        m.output("tx", tx.output("tx"));
        m.output("busy", busy);
        m.output("overflow", overflow.q());
        m.output("pos", u_core.output("pos"));
    }
}

/// A [`TokenLink`] with the port names of the board top (`hardwire_fpga::top::board_top_with`):
/// `uart_rx` → `uart_tx`, and `led` (`leds` bits): `busy` on LED 0, `overflow` on LED 1 and
/// the low bits of the core's `pos` on the rest, all registered.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLinkPins<C> {
    /// The link.
    pub link: TokenLink<C>,
    /// LEDs on the board (at least 2).
    pub leds: u32,
}

impl<C: Block + PartialEq + Clone + 'static> Block for TokenLinkPins<C> {
    fn name(&self) -> String {
        format!("{}_pins_{}", self.link.name(), self.leds)
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        if self.leds < 2 {
            m.bad_parameter("the token link shows its status on at least 2 LEDs");
            return;
        }
        let uart_rx = m.input("uart_rx", Type::BOOL);
        let link = m.instance("u_link", &self.link);
        link.input("rx", uart_rx);
        let pos = link.output("pos");
        let pos_leds = self.leds - 2;
        let mut parts = Vec::new();
        if pos_leds > 0 {
            parts.push(pos.resize(pos.width().max(pos_leds)).bits(pos_leds - 1, 0));
        }
        parts.push(link.output("overflow"));
        parts.push(link.output("busy"));
        let led = m.reg("led_q", Type::unsigned(self.leds)).reset(0);
        led.next(m.concat(&parts));
        m.output("led", led.q());
        m.output("uart_tx", link.output("tx"));
    }
}
