//! Thin handlers: parse into the domain's types, call one domain function, render the Hub's shape.

pub mod account;
pub mod collections;
pub mod commit;
pub mod content;
pub mod gating;
pub mod git;
pub mod lfs;
pub mod ops;
pub mod repos;
pub mod resolve;
pub mod xet;
