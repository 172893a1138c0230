//! Metrics as snapshots: each collector builds a complete set of families per cycle and
//! publishes it as one immutable, typed [`Snapshot`]; `/metrics` (OpenMetrics or the classic
//! text format) and remote-write are encoders of whatever is current. So a scrape never waits
//! on the broker, a topic deleted on the broker is gone from the next cycle's snapshot (no TTL
//! ghosts), and no output is made by reading another one back.

mod family;
mod openmetrics;
mod render;
pub mod segmented;
mod snapshot;
mod text;

pub use family::{Family, Kind, Labels, Sample};
pub use render::{Exposition, Registry};
pub use snapshot::{Snapshot, SnapshotSlot};
