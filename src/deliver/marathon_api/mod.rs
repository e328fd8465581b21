//! Marathon's REST API, as far as `pki deploy marathon` and `pki deploy asp`
//! need it, in its three jobs: where Marathon is and how to log in
//! ([`config`]), the requests planned as values and the answers read
//! ([`request`]), and sending them ([`transport`], the one module that
//! touches the network).

pub mod config;
pub mod request;
pub mod transport;

pub use config::{base_url, config, read_ca_certs, Auth, Config, Settings, TOKEN_ENV};
pub use request::{
    absolute_id, create_request, update_request, update_request_with, Method, Reply, Request,
    REDACTED,
};
pub use transport::{Client, Transport};
