//! One-shot commands of the `rmq-agent` binary that talk to a broker and exit: signed
//! administrative requests (`admin`) and a quick look at a broker (`probe`).

pub mod admin;
pub mod probe;
