//! hardwire: transformer blocks as hardware.
