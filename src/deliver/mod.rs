//! What leaves the store for an orchestrator: the key material read from
//! the store ([`material`]), Marathon env blocks, app definitions and
//! merges ([`marathon`], [`asp`]), the Marathon REST client
//! ([`marathon_api`]), the deploy flow that uses it ([`deploy`]), and
//! Kubernetes objects ([`k8s`]), and the `riak-admin security` script
//! for the store's users ([`riak_admin`]).

pub mod asp;
pub mod by_reference;
pub mod deploy;
pub mod k8s;
pub mod marathon;
pub mod marathon_api;
pub mod material;
pub mod riak_admin;

pub use material::{
    all_users, asp_material, ca_pem, env_for, pick_user, pick_users, require_rsa, trust_bundle,
    user_pem, Pair,
};
