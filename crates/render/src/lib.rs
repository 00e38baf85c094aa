//! Rendering for the web pages.
//!
//! A model card is untrusted input: its Markdown becomes HTML that is sanitized (ammonia) before it
//! reaches a page, so no script, handler, style or foreign frame from a card ever runs, and relative
//! links point into the repository. Code is highlighted into classed spans (the stylesheet comes from
//! [`highlight_css`]). Both stay cheap on hostile input: card HTML is re-nested to a bounded depth before
//! it is parsed, and highlighting gives up (to escaped plain text) on very long lines or after a time
//! budget.

mod highlight;
mod markdown;

pub use highlight::{highlight, highlight_css, Highlighted};
pub use markdown::{markdown, CardLinks};
