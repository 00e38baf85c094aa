//! Rendering for the web pages. A model card is untrusted input: its Markdown becomes HTML that is
//! sanitized before it reaches a page, so no script, handler or foreign frame from a card ever runs.
//! Code is highlighted into classed spans (the stylesheet comes from [`highlight_css`]).

mod highlight;
mod markdown;

pub use highlight::{highlight, highlight_css, Highlighted};
pub use markdown::{markdown, split_front_matter, CardLinks};
