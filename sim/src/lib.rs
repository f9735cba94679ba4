//! Compiled cycle simulation of hardwire designs.
