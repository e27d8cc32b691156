//! lameduck: a Kubernetes mutating admission webhook that gives every pod a safe,
//! ordered graceful shutdown. See DESIGN.md for the model.
#![forbid(unsafe_code)]

pub mod admission;
pub mod certs;
pub mod cluster;
pub mod inject;
pub mod manifests;
pub mod plan;
pub mod server;
pub mod settings;
pub mod webhook;
pub mod workload;
