//! Property tests in place of fuzzing (cargo-fuzz needs a nightly toolchain):
//! the frame parser, the §6 text cleaning and AutoMod are fed generated input
//! and must never panic, and whatever they accept must keep the contract's
//! invariants. Runs are deterministic (a fixed seed, unless `PROPTEST_RNG_SEED`
//! says otherwise) and bounded to well under a minute in a debug build.
//!
//! `corpus.txt` holds the worst frames found or thought of; `corpus` runs each
//! one through the parser (and the text rules) as a regression test.

mod automod;
mod corpus;
mod frames;
mod support;
mod text;
