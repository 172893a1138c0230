//! Metrics as snapshots: each collector builds a complete, immutable set of families per
//! cycle and swaps it in; `/metrics` renders whatever is current. So a scrape never waits
//! on the broker, and a topic deleted on the broker is gone from the next cycle's snapshot
//! (no TTL ghosts).

mod family;
mod render;
pub mod segmented;
mod text_format;

pub use family::{Family, Kind, Labels, Sample, SnapshotSlot};
pub use render::{Exposition, Registry};
pub use text_format::openmetrics_to_text;
