//! Golden tests of the wire: the exact bytes of every server frame, how every
//! client frame parses (and every refusal that has a code), the node-to-node
//! cluster envelope (nodes of two versions must understand each other during a
//! rolling restart) and the REST error body.
//!
//! These pin what crosses the wire, not how the code is laid out: a refactor
//! may change only the `use` lines below.

mod client_frames;
mod cluster_events;
mod rest_errors;
mod server_frames;
